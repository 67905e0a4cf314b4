#pragma once
// The planner call of a re-placement (issue 11 §2), off the actor threads: a synthetic trace at the observed
// per-model rates, the deployment's placement policy (sim::plan_deployment, as at start) on it, and the
// simulator's predicted attainment of the placement served on the same trace, so that the re-placement
// policy compares like with like. Blocking (100s of ms for mp-search); pure function of its inputs; any
// thread (the controller runs it in a detached actor, controller_replan.cpp).
//
// The candidate uses only the devices present: devices of lost nodes and devices that failed are `excluded`,
// and the planner plans on the cluster without them (without_devices), so that the controller never starts a
// migration that needs a device it cannot build on (README "Beside a node loss").
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actors/internal/group_plan.hpp"
#include "config/cluster_config.hpp"
#include "policies/profile.hpp"

namespace sy::actors::internal {

struct replan_inputs {
  std::shared_ptr<const config::cluster_config> cfg; // the served config (placement.policy names the planner)
  std::shared_ptr<const policies::profile_db> db;
  std::map<std::string, double> rates; // requests/s per model
  double duration_s = 60;              // of the synthetic trace
  std::vector<planned_group> served;   // the placement served now
  std::set<config::device_ref> excluded; // devices the candidate may not use (lost nodes, failed devices)
  std::uint64_t seed = 1;
};

struct replan_output {
  std::string error;          // non-empty: the planner failed (why)
  std::string plan_json;      // the candidate, in GET /v2/placement's form (parse_placement reads it)
  double served_score = -1;   // predicted attainment of `served` on the trace
  double candidate_score = -1;
  double planning_s = 0;      // wall time of the planner call
  long requests = 0;          // of the synthetic trace
};

replan_output run_replan(const replan_inputs& in);

/// `cfg` without the `excluded` devices: a node keeps its other devices (each keeps its ordinal, so plans name
/// them as in `cfg`: "node:ordinal"), a node left without any is dropped; explicit groups are cleared (their
/// device indices would not hold). The planner's cluster for a re-plan beside a node loss.
[[nodiscard]] config::cluster_config without_devices(const config::cluster_config& cfg,
                                                     const std::set<config::device_ref>& excluded);

/// Per-model request rates of a trace (requests / its span), by model name; empty for < 2 requests.
std::map<std::string, double> rates_of_workload(const config::cluster_config& cfg);

} // namespace sy::actors::internal
