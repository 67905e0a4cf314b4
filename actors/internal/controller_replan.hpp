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
// placement served), failed (the planner), busy. Called from the controller's handlers only.
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

} // namespace sy::actors::internal
