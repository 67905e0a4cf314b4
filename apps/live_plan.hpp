#pragma once
// live_plan: what `switchyard up` (and `replay -c`, `replay --simulate`, the benchmarks) serve when the config
// says `placement: {policy: ...}` (or has no placement: the default policy, config::default_placement_policy):
// the planner runs in this process before anything starts (sim/deployment_plan.hpp), on
//   - the profile: placement.profile (a database file), else measured on the deployment's own devices
//     (apps/profile_measure.hpp) and cached on disk per (model spec, parallel config, device kind, tokens,
//     threads per device), so that the next start measures nothing;
//   - the workload: placement.workload (a trace, the records of a previous run, or a synthetic trace).
// The chosen plan is logged, written to placement.write when given, and returned as the config to serve
// (explicit groups) with the JSON that GET /v2/placement answers.
//
// Main thread only (measuring opens devices and blocks). Errors are config errors (exit code 2).
#include <memory>
#include <string>

#include "config/cluster_config.hpp"
#include "messages/result.hpp"
#include "policies/profile.hpp"

namespace sy::apps {

struct served_placement {
  config::cluster_config cfg; // what to serve: explicit groups for a policy placement, else the config as is
  std::string json;           // GET /v2/placement
  /// The profile the plan was made with (policy placements; else null): the controller's re-planner
  /// (placement.replan) plans with it, so a measured profile need not be given as a file.
  std::shared_ptr<const policies::profile_db> profile{};
};

/// Plans a policy placement (measuring or loading its profile, loading its workload); other placements pass
/// through with their JSON.
result<served_placement> plan_for_serving(const config::cluster_config& cfg);

/// The profile a policy placement plans with: placement.profile, else measured on the deployment's devices
/// through the cache. `tokens`: the input length to measure at (the workload's median input length).
result<policies::profile_db> placement_profile(const config::cluster_config& cfg, int tokens);

/// The cache folder of measured profiles: placement.profile_cache, else $SWITCHYARD_CACHE_DIR/profiles, else
/// $XDG_CACHE_HOME/switchyard/profiles, else $HOME/.cache/switchyard/profiles.
std::string profile_cache_dir(const config::cluster_config& cfg);

} // namespace sy::apps
