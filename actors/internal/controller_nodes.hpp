#pragma once
// The controller's node-loss path (issue 9 §3): nodes joining and rejoining, heartbeats, a lost node's groups
// going down, re-placement of the replicas they held, and the restore of the configured placement once the
// lost nodes are back. Called from the controller's handlers only (actors/controller.cpp).
//
// Re-placement and restore, as decided here:
// - When a node is lost (or a group's device turns unhealthy), every model whose live replicas fall below
//   its configured count gets new replicas on the surviving devices that serve nothing (devices outside
//   every configured group first, then those a down group left), by the fill of replacement.hpp, as new
//   groups `r<N>` whose models are preloaded through load entries like any group's. Requests for a model
//   without a ready replica meanwhile are rejected (not_resident) with the reason, which names the
//   replacement group that is loading it; requests in flight on the lost groups were answered `failed`.
// - When the lost node joins again, the configured placement is restored: its groups are rebuilt (as before
//   re-placement existed). A replacement group that holds a device of a group being rebuilt retires first
//   (no new requests; its stages stop once its last request is answered; the group waits for that); any
//   other replacement group retires once every model it holds has all its configured replicas ready again.
//   Nothing in flight is lost: a retiring group answers what it accepted.
#include <chrono>
#include <string>

#include <caf/typed_event_based_actor.hpp>

#include "actors/internal/controller_state.hpp"

namespace sy::actors::internal {

using controller_self = messages::controller_full_actor::stateful_pointer<controller_state>;

/// Builds every configured group (once all nodes registered). Defined in controller.cpp.
void wire(controller_self self);
/// (Re)builds group g: a new model_group actor, its stages spawned by the nodes that hold its devices.
/// Defined in controller.cpp.
void wire_group(controller_self self, std::size_t g);

/// A node's registration: the first one of each node until the cluster is wired, later a rejoin. A second
/// registration of a registered remote node is refused while the old one answers a heartbeat, else the old
/// one is lost and the new one takes its place.
caf::result<messages::ack> on_register(controller_self self, messages::node_registration& reg);
/// A down message from a node's actor.
void on_node_down(controller_self self, const caf::down_msg& dm);
/// The heartbeat timer: a node in another process that has not answered a probe within runtime.node_timeout
/// is lost, whatever the middleman's own timers say (a hung process keeps its TCP connection open); the
/// node is told so (an exit `unreachable` to its actor: if it was only slow or cut off, it joins again).
/// Nodes in this process share its fate and are not probed.
void beat(controller_self self);
/// Group g serves nothing any more (`why`): its requests in flight are answered `failed` with `code`.
void group_down(controller_self self, std::size_t g, const std::string& why, messages::error_code code);
/// A group's device failed (its report says unhealthy): like a lost node for that group.
void group_unhealthy(controller_self self, std::size_t g, const std::string& why);
/// A stage of group g could not be built (its `down` says why): a replacement group retires at once and its
/// devices are not used for re-placement again until their node rejoins.
void on_build_failed(controller_self self, std::size_t g);
/// Group g answered ready (ok): logs restores and re-placements, retires replacements no longer needed.
void on_group_ready(controller_self self, std::size_t g);
/// A request on group g was answered: a retiring group stops after its last one.
void on_request_done(controller_self self, std::size_t g);
/// Retires group g (a replacement no longer needed, a group a migration leaves): it must have nothing in
/// flight; its actor stops and its stages stop (their answers free its devices and reconcile again).
void retire_group(controller_self self, std::size_t g, const std::string& why);
/// Re-places the replicas below their configured count now, as after a loss (`cause`: the loss, for the log
/// and the replacement groups' origin). A failed migration calls it when it hands lost groups back.
void replace_lost_now(controller_self self, const std::string& cause);
/// Requests accepted on group g and not answered yet.
std::size_t requests_on(const controller_state& st, std::size_t g);
/// Why `model` has no ready group, for the refusal (e.g. "group across lost: node b lost ...; re-placed on
/// group r1, loading").
std::string unavailable_reason(const controller_state& st, const std::string& model);

} // namespace sy::actors::internal
