// switchyard policy-host --plugin PATH [--list]: the process an isolated policy plug-in runs in (issue 9 §4,
// policies/isolation/policy_host.hpp is the other side). It loads the plug-in, then
//   --list: prints "kind name" for each policy the plug-in registers, and exits 0 (2: the plug-in is refused);
//   else:   publishes one actor on 127.0.0.1 (a port the OS picks) over CAF's middleman, prints
//           "ready port=N", and answers decision requests (policies/isolation/policy_wire.hpp) until its stdin
//           reaches end-of-file, i.e. until the switchyard process that started it closes the pipe or dies.
// The plug-in's code runs only here: a crash, abort or hang in it ends or stalls this process, never the
// server (which falls back to its built-in policies and restarts the host). Not meant to be run by hand.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>

#include "apps/commands.hpp"
#include "messages/logging.hpp"
#include "policies/isolation/policy_wire.hpp"
#include "policies/policy_registry.hpp"

namespace sy::apps {

namespace {

struct policy_host_options {
  std::string plugin;
  bool list = false;
};

/// Policies built so far, by "kind/name/params" (the host's actor is the only user); re-placement policies
/// are not runtime policies (policies/policy_fn.hpp) and have their own.
struct policy_cache {
  std::map<std::string, policies::runtime_policy> runtime;
  std::map<std::string, policies::replacement_fn> replacement;
};

/// Finds or builds the policy of `key` in `cache` with `make`; an error text when the registry refuses.
template <class Fn, class Make>
result<const Fn*> cached(std::map<std::string, Fn>& cache, const std::string& key, Make make) {
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto made = make();
    if (!made)
      return made.err();
    it = cache.emplace(key, std::move(*made)).first;
  }
  return &it->second;
}

std::string decide(const policies::policy_registry& reg, policy_cache& cache, const std::string& text) {
  auto req = policies::isolation::decode_request(text);
  if (!req)
    return "error: " + req.err().message;
  std::string key = req->kind + "/" + req->name;
  for (const auto& [k, v] : req->params)
    key += "/" + k + "=" + std::to_string(v);
  auto reply = [&]() -> result<std::string> {
    if (req->kind == "replacement") {
      auto p = cached(cache.replacement, key, [&] { return reg.make_replacement(req->name, req->params); });
      if (!p)
        return p.err();
      return policies::isolation::run_encoded(**p, req->view);
    }
    auto p = cached(cache.runtime, key, [&] { return reg.make(req->kind, req->name, req->params); });
    if (!p)
      return p.err();
    return policies::isolation::run_encoded(**p, req->view);
  }();
  if (!reply)
    return "error: " + reply.err().message;
  return *reply;
}

int run_policy_host(const policy_host_options& o) {
  auto reg = std::make_shared<policies::policy_registry>();
  if (auto st = reg->load_plugin(o.plugin); !st) {
    std::fprintf(stderr, "policy-host: %s\n", st.err().message.c_str());
    return 2;
  }
  if (o.list) {
    auto kinds = policies::runtime_policy_kinds();
    kinds.push_back("replacement");
    for (const auto& kind : kinds)
      for (const auto& name : reg->names(kind))
        if (reg->origin(kind, name) != "built-in")
          std::printf("%s %s\n", kind.c_str(), name.c_str());
    return 0;
  }
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", std::size_t{1});
  cfg.set("middleman.app-identifiers", std::vector<std::string>{"switchyard-policy-host-1"});
  caf::actor_system sys{cfg};
  auto host = sys.spawn([reg](caf::event_based_actor*) -> caf::behavior {
    auto cache = std::make_shared<policy_cache>();
    return {[reg, cache](const std::string& request) -> std::string { return decide(*reg, *cache, request); }};
  });
  auto port = sys.middleman().publish(host, 0, "127.0.0.1", true);
  if (!port) {
    std::fprintf(stderr, "policy-host: cannot publish on 127.0.0.1: %s\n", sys.render(port.error()).c_str());
    return 1;
  }
  std::printf("ready port=%u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  char buf[256];
  while (::read(0, buf, sizeof buf) > 0) {
  }
  // The parent is gone or done with us. The actor may be stuck inside the plug-in: do not wait for it.
  std::fflush(stderr);
  std::_Exit(0);
}

} // namespace

void add_policy_host_command(CLI::App& app, int& rc) {
  static policy_host_options o; // CLI11 binds to it; lives as long as the App
  auto* cmd = app.add_subcommand("policy-host", "(internal) run an isolated policy plug-in for a switchyard "
                                                "process; started by it, not by hand");
  cmd->add_option("--plugin", o.plugin, "the plug-in (shared library)")->required();
  cmd->add_flag("--list", o.list, "print the plug-in's policies as \"kind name\" lines and exit");
  cmd->callback([&rc] { rc = run_policy_host(o); });
}

} // namespace sy::apps
