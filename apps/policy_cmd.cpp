// switchyard policy: query or swap the runtime policies of a running cluster over its HTTP ingress
// (GET/POST /v2/policies/{kind}, actors/ingress_policies.hpp).
#include <cstdio>
#include <cstdlib>

#include <httplib.h>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"

namespace sy::apps {

int run_policy(const policy_options& o) {
  auto colon = o.http.rfind(':');
  int port = colon == std::string::npos ? 0 : std::atoi(o.http.c_str() + colon + 1);
  if (colon == std::string::npos || port <= 0 || port > 65535) {
    std::fprintf(stderr, "--http: expected host:port, found \"%s\"\n", o.http.c_str());
    return 2;
  }
  std::string body = "{";
  if (o.args.size() >= 2) {
    body += "\"name\": \"" + o.args[1] + "\"";
    for (std::size_t i = 2; i < o.args.size(); ++i) {
      const auto& kv = o.args[i];
      auto eq = kv.find('=');
      char* end = nullptr;
      if (eq == std::string::npos || eq == 0 || (std::strtod(kv.c_str() + eq + 1, &end), end == kv.c_str() + eq + 1)
          || *end != '\0') {
        std::fprintf(stderr, "parameter %zu: expected key=number, found \"%s\"\n", i - 1, kv.c_str());
        return 2;
      }
      body += ", \"" + kv.substr(0, eq) + "\": " + kv.substr(eq + 1);
    }
  }
  body += "}";
  httplib::Client client(o.http.substr(0, colon), port);
  client.set_read_timeout(60, 0);
  auto path = o.args.empty() ? std::string{"/v2/policies"} : "/v2/policies/" + o.args[0];
  auto res = o.args.size() >= 2 ? client.Post(path, body, "application/json") : client.Get(path);
  if (!res) {
    std::fprintf(stderr, "%s: no answer from http://%s (%s)\n", path.c_str(), o.http.c_str(),
                 httplib::to_string(res.error()).c_str());
    return 1;
  }
  std::fputs(res->body.c_str(), res->status == 200 ? stdout : stderr);
  return res->status == 200 ? 0 : 1;
}

void add_policy_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<policy_options>();
  auto* policy = app.add_subcommand("policy", "list, show or swap the runtime policies of a running cluster");
  policy->add_option("--http", o->http, "the cluster's HTTP ingress host:port")->capture_default_str();
  policy->add_option("args", o->args, "[KIND [NAME [KEY=NUMBER ...]]]: none lists every kind, KIND shows it, "
                                       "KIND NAME swaps it (built-in or plug-in name)");
  policy->callback([o, &rc] { rc = run_policy(*o); });
}

} // namespace sy::apps
