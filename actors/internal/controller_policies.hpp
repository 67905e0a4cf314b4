#pragma once
// The controller's side of run-time policy swaps (DESIGN.md §4): it spawns one policy actor per kind at
// start, routes clients' queries and swaps to them, and applies what they push (its own admission and
// dispatch copies; batching and eviction go on to every group and to groups spawned later).
// Called from the controller's handlers only.
#include <caf/typed_event_based_actor.hpp>

#include "actors/internal/controller_state.hpp"

namespace sy::actors::internal {

using controller_self = messages::controller_full_actor::stateful_pointer<controller_state>;

/// Spawns the policy actors (current: the config's policies) and arranges for them to exit with the controller.
void start_policy_actors(controller_self self);

caf::result<messages::policy_info> on_policy_query(controller_self self, const std::string& kind);
caf::result<messages::policy_info> on_policy_swap(controller_self self, messages::policy_spec& spec);
messages::ack on_policy_update(controller_self self, messages::policy_update& u);

} // namespace sy::actors::internal
