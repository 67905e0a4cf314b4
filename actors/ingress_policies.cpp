#include "actors/ingress_policies.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include "messages/json.hpp"
#include "policies/policy_registry.hpp"

namespace sy::actors {

namespace {

bool known_kind(const std::string& kind) {
  const auto& kinds = policies::runtime_policy_kinds();
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

void reply(httplib::Response& res, int code, const std::string& body) {
  res.status = code;
  res.set_content(body, "application/json");
}

std::string failure_json(const std::string& reason) {
  return fmt::format("{{\"ok\": false, \"reason\": {}}}\n", json::quote(reason));
}

/// Asks the controller; `on_info` gets the answer, or a failure when the controller does not answer.
template <class... Ts>
void ask(caf::actor_system& sys, const ingress_context& ctx, httplib::Response& res, Ts&&... xs) {
  caf::scoped_actor self{sys};
  self->request(ctx.controller, std::chrono::seconds(30), messages::policy_atom_v, std::forward<Ts>(xs)...)
    .receive([&](messages::policy_info& p) { reply(res, p.ok ? 200 : 400, policy_info_json(p)); },
             [&](caf::error& e) { reply(res, 500, failure_json("controller: " + sys.render(e))); });
}

} // namespace

result<messages::policy_spec> parse_policy_json(const std::string& body, const std::string& kind) {
  auto doc = json::parse(body, 32);
  if (!doc)
    return make_error("invalid", "malformed JSON: " + doc.err().message);
  if (!doc->is_object())
    return make_error("invalid", fmt::format("body: expected an object {{\"name\": ..., parameters}}, found {}",
                                             json::kind_name(doc->type())));
  messages::policy_spec spec;
  spec.kind = kind;
  for (const auto& [key, v] : doc->as_object()) {
    if (key == "name") {
      if (!v.is_string() || v.as_string().empty())
        return make_error("invalid", fmt::format("'name': expected a policy name (string), found {}",
                                                 v.is_string() ? "an empty string" : json::kind_name(v.type())));
      spec.name = v.as_string();
    } else if (v.is_number()) {
      spec.params[key] = v.as_number();
    } else if (v.is_bool()) {
      spec.params[key] = v.as_bool() ? 1 : 0;
    } else {
      return make_error("invalid", fmt::format("'{}': expected a number or a boolean parameter, found {}", key,
                                               json::kind_name(v.type())));
    }
  }
  if (spec.name.empty())
    return make_error("invalid", "body: missing key 'name' (the policy's name)");
  return spec;
}

std::string policy_info_json(const messages::policy_info& p) {
  std::string params;
  for (const auto& [k, v] : p.current.params)
    params += (params.empty() ? "" : ", ") + json::quote(k) + ": " + json::number(v);
  std::string available;
  for (const auto& n : p.available)
    available += (available.empty() ? "" : ", ") + json::quote(n);
  return fmt::format("{{\"ok\": {}, \"reason\": {}, \"kind\": {}, \"name\": {}, \"params\": {{{}}}, \"origin\": {}, "
                     "\"available\": [{}]}}\n",
                     p.ok, json::quote(p.reason), json::quote(p.current.kind), json::quote(p.current.name), params,
                     json::quote(p.origin), available);
}

void install_policy_routes(httplib::Server& server, caf::actor_system& sys, std::shared_ptr<ingress_context> ctx) {
  auto* s = &sys;
  server.Get("/v2/policies", [s, ctx](const httplib::Request&, httplib::Response& res) {
    std::string out = "{\"policies\": [";
    bool first = true;
    for (const auto& kind : policies::runtime_policy_kinds()) {
      caf::scoped_actor self{*s};
      self->request(ctx->controller, std::chrono::seconds(30), messages::policy_atom_v, kind)
        .receive(
          [&](messages::policy_info& p) {
            auto j = policy_info_json(p);
            out += (first ? "" : ", ") + j.substr(0, j.size() - 1);
            first = false;
          },
          [&](caf::error&) {});
    }
    reply(res, 200, out + "]}\n");
  });
  server.Get(R"(/v2/policies/([^/]+))", [s, ctx](const httplib::Request& req, httplib::Response& res) {
    std::string kind = req.matches[1];
    if (!known_kind(kind))
      return reply(res, 404, failure_json("expected a policy kind (admission, dispatch, batching, eviction), found \""
                                          + kind + "\""));
    ask(*s, *ctx, res, kind);
  });
  server.Post(R"(/v2/policies/([^/]+))", [s, ctx](const httplib::Request& req, httplib::Response& res) {
    std::string kind = req.matches[1];
    if (!known_kind(kind))
      return reply(res, 404, failure_json("expected a policy kind (admission, dispatch, batching, eviction), found \""
                                          + kind + "\""));
    auto spec = parse_policy_json(req.body, kind);
    if (!spec)
      return reply(res, 400, failure_json(spec.err().message));
    ask(*s, *ctx, res, std::move(*spec));
  });
}

} // namespace sy::actors
