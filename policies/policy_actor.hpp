#pragma once
// The policy actor (DESIGN.md §4): one per runtime policy kind (admission, dispatch, batching, eviction), a
// thin owner of the kind's current policy. It answers what the current policy is, and swaps it at run time:
// it builds the new policy through the registry (built-in or plug-in name, with parameters), pushes the
// function object to its sink (the controller, which keeps a local copy for its hot path and passes
// batching and eviction on to its groups), and answers once the sink uses it. Deciding stays on the hot path
// of the controller and the groups: no message hop per request.
//
// Lifecycle: spawned by the controller at start; the controller sends it an exit when it terminates.
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"
#include "policies/policy_registry.hpp"

namespace sy::policies {

/// `current`: the policy the sink uses now (built from the config by the caller).
messages::policy_actor spawn_policy_actor(caf::actor_system& sys, std::string kind,
                                          std::shared_ptr<const policy_registry> registry,
                                          messages::policy_spec current, messages::policy_sink_actor sink);

} // namespace sy::policies
