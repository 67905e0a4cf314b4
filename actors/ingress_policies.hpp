#pragma once
// The HTTP routes of run-time policy swaps (added to the HTTP ingress, actors/ingress_http.hpp):
//   GET  /v2/policies                 every kind's current policy
//   GET  /v2/policies/{kind}          the current policy of a kind, its origin and the names available
//   POST /v2/policies/{kind}          {"name": "...", <param>: number|bool, ...} swaps it; answers the new
//                                     policy (200), or why not (400: unknown name, bad parameters; 404: kind)
// Each handler asks the controller (messages::controller_actor, policy_atom) from the httplib worker thread.
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/ingress.hpp"
#include "messages/policy.hpp"
#include "messages/result.hpp"

namespace httplib {
class Server;
}

namespace sy::actors {

void install_policy_routes(httplib::Server& server, caf::actor_system& sys, std::shared_ptr<ingress_context> ctx);

/// Parses a swap body for `kind`. Errors name the key and what was found.
result<messages::policy_spec> parse_policy_json(const std::string& body, const std::string& kind);

/// {"ok": ..., "reason": ..., "kind": ..., "name": ..., "params": {...}, "origin": ..., "available": [...]}
std::string policy_info_json(const messages::policy_info& p);

} // namespace sy::actors
