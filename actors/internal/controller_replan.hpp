#pragma once
// The controller's re-placement policy (issue 11 §2), placement.replan in the config:
//
//   tick (every min(1 s, window / 4)) --policy: re-plan now?--> planner (a detached actor: run_replan, off the
//   actor threads) --replan_report--> policy: apply the candidate? --> start_migration (controller_migration.hpp)
//
// One re-plan at a time, and none while a migration runs (the tick waits). The policy sees the arrival rates
// of the last window (arrival_stats), the rates the served placement assumed (the planning workload's at
// start, then the rates of the last re-plan) and, for the second question, the planner's predicted
// attainment of the candidate and of the placement served on those rates. Outcomes are counted in
// sy_replans_total{policy, outcome}: applied, kept (the candidate is not better), unchanged (it is the
// placement served), failed (the planner, or the migration could not start), busy, deferred (see below);
// every re-plan started ends in exactly one of them, also shown as GET /v2/placement's "replan".last.
//
// Beside a node loss or a failed device (controller_nodes.hpp): the planner plans on the devices present
// only (lost nodes' and failed devices' are left out, named in "replan".last.planned_without), so the
// candidate's migration can start and drops the groups that are down, like a POSTed plan; once the node
// rejoins its devices are planned on again. While the node-loss path still moves (a replacement group
// loading, a group retiring or stopping: start_migration would refuse) the policy's re-plan is `deferred`
// with that reason, without planning, counted once per reason, and starts at the first check after it
// settled. A candidate whose migration is refused with a conflict (a node lost or a group changed while it
// was planned) also ends `deferred`: nothing changed, the policy asks again.
//
// An isolated plug-in policy (plugins: [{isolate: true}]) decides in its policy host: each question blocks
// the controller at most the plug-in's deadline_ms; a fault (timeout, crash, no host, a bad reply) is
// counted in sy_policy_faults_total{kind="replacement"} and the built-in `none` decides that question (no
// re-plan, or the placement is kept), which the log and the outcome's reason say. Called from the
// controller's handlers only.
#include "actors/internal/controller_nodes.hpp"
#include "config/cluster_config.hpp"
#include "messages/placement.hpp"

namespace sy::actors::internal {

/// Sets up the policy from cfg.placement.replan (the registry builds it; the profile from placement.profile).
/// Errors (category "config"): no profile to re-plan with, the policy refused its parameters.
[[nodiscard]] status init_replan(controller_state& st, const config::cluster_config& cfg,
                                 std::shared_ptr<const policies::profile_db> profile = nullptr);

/// The cluster became ready: starts the policy's timer.
void start_replan(controller_self self);

/// The timer: asks the policy whether to re-plan, and starts the planner.
void on_replan_tick(controller_self self);

/// The planner's answer: asks the policy whether to apply it, and starts the migration.
void on_replan_report(controller_self self, const messages::replan_report& r);

/// GET /v2/placement's "replan": the policy, its re-plan in flight ("planning", seq) or "idle", its last word
/// and the last re-plan's outcome; empty without a policy.
std::string replan_json(controller_self self);

} // namespace sy::actors::internal
