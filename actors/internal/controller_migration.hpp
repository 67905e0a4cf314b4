#pragma once
// The controller's live migration (issue 11 §2): from the placement served to another one, while serving.
// Called from the controller's handlers only (actors/controller.cpp, controller_nodes.cpp).
//
//   accepted -> (targets build through load entries, leaving groups retire in the order of migration.hpp)
//            -> done (every target ready, every leaving group's devices free)   | failed (a target's build)
//
// - A target group is an ordinary group slot (wire_group): its models preload through load entries and it
//   takes requests once it answered ready, i.e. once its replicas are resident.
// - A leaving group retires: it takes no new requests, answers what it accepted (queued and in the pipeline),
//   then its stages stop and free its devices; it is never restored.
// - Only one migration runs at a time; another one is refused (busy) with the running one's id.
// - Beside a node loss (controller_nodes.hpp): a migration asked for while groups are down or replaced
//   migrates from the groups serving now (replacement groups become ordinary groups of the placement) and
//   drops the groups that are down (never restored, also not when their node rejoins); it is refused
//   (conflict, 409, with the reason) when the plan needs a device of a node that is not present or of a
//   failed device, or while a group is still loading or stopping (a replacement being built, a group
//   retiring). A node lost during a migration that builds a group there ends it `failed` at once (the reason
//   names the node and the group); the groups it left that have not stopped serve on, the groups it built
//   elsewhere stay, and the node-loss path re-places the lost replicas. A node lost that holds only groups
//   the migration leaves or keeps: it goes on (a kept group there is re-placed like any lost group). When
//   such a migration fails later, the groups it left that were lost meanwhile are the placement's again
//   (their replicas re-placed at once, the groups restored when their node rejoins); a group it dropped or
//   that left when it completed is never restored.
#include <string>
#include <vector>

#include "actors/internal/controller_nodes.hpp"
#include "messages/placement.hpp"

namespace sy::actors::internal {

/// POST /v2/placement: parse and check `body`, then start_migration. Nothing changes unless accepted.
messages::placement_answer on_placement_post(controller_self self, const std::string& body);

/// GET /v2/placement: the groups served now, the migration in progress and the last one.
messages::placement_status on_placement_query(controller_self self);

/// Starts the migration to `target` (checked groups, any names: new groups get unique ones) and takes its
/// first steps. `source` says who asked (logs, GET).
messages::placement_answer start_migration(controller_self self, std::vector<planned_group> target,
                                           const std::string& source);

/// Node `node` (config index) was lost (`why`, e.g. "node b lost (...)"), its groups are down already: ends the
/// migration `failed` when it builds a group there. Called before the node-loss path re-places.
void on_migration_node_lost(controller_self self, int node, const std::string& why);

/// The migration's next steps after an event (a group ready, devices freed, a request answered); no-op
/// without a migration. Called at the end of every reconcile.
void migration_step(controller_self self);

/// The groups served now (not leaving, not retired, not down), as planned groups (the re-placement policies
/// plan from them).
std::vector<planned_group> served_groups(const controller_state& st);

/// Why device `d` may not take a group now (its node is not present, or it failed: the text after "needs
/// device "), or empty. start_migration refuses a plan on such a device; the re-planner plans without them.
std::string device_unavailable(const controller_state& st, config::device_ref d);

/// Why no migration may start now although the cluster serves (a replacement group still loading, a group
/// retiring or stopping: start_migration's 409 conflict), or empty. A group down for good (its stages stopped,
/// not a replacement) is no obstacle: a migration drops it.
std::string migration_blocker(const controller_state& st);

} // namespace sy::actors::internal
