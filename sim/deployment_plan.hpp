#pragma once
// deployment_plan: a deployment's `placement: {policy: ...}` turned into the groups it serves (issue 11 §1).
// The planner's inputs come from the config: the workload (placement.workload: a trace file, the records of a
// previous run, or a synthetic trace over the config's models), a profile database (given, or measured on the
// deployment's devices by the caller: apps/live_plan.hpp), the cluster shape (devices, devices per node, the
// runtime's per-device weight budget), the SLOs (slo_ms, else placement.slo_scale x single-device latency)
// and, for swap-aware, the deployment's eviction policy. The chosen plan is checked against the config like a
// plan file (policies/placement/plan_check.hpp), every model must have a replica, and the result is the
// config with placement.mode = explicit_groups (group i named "g<i>").
//
// Errors (category "config") are located: "<file>:<line>:<column>: placement.<key>: ..." where the key was
// written, else "<file>: placement: ...". Pure functions of their inputs (no device, no clock except the
// planning time reported); any thread.
#include <string>
#include <vector>

#include "config/cluster_config.hpp"
#include "messages/result.hpp"
#include "policies/placement/plan_file.hpp"
#include "policies/placement/profile_table.hpp"
#include "policies/profile.hpp"
#include "sim/workload.hpp"

namespace sy::sim {

/// The fraction of a device's memory the runtime gives weights (actors::weight_budget; the rest is for
/// activations and workspace). The planner plans for this budget.
inline constexpr double runtime_weight_fraction = 0.85;
/// KV room the placement memory rule keeps per generating decoder: one full sequence of max_positions
/// tokens in whole KV blocks of kv_block_tokens (the runtime's default block size, 16).
inline constexpr int kv_block_tokens = 16;
inline constexpr long long kv_room_tokens(int max_positions) {
  return (static_cast<long long>(max_positions) + kv_block_tokens - 1) / kv_block_tokens * kv_block_tokens;
}

/// The deployment's device kind ("cpu", "cuda", "sim"); several kinds in one deployment: an error.
result<std::string> deployment_device_kind(const config::cluster_config& cfg);

/// The workload of cfg.placement.workload (trace, records or synthetic over cfg's models). Every trace model
/// must be a config model.
result<trace> load_workload(const config::cluster_config& cfg);

/// A records CSV (`replay --records`, `simulate --records`: a header naming at least `model` and `arrival`)
/// as a trace: one request per row at its arrival (rows sorted), `tokens` input tokens each.
result<trace> parse_records_csv(const std::string& text, const std::string& source, int tokens);

/// The profile database cfg.placement.profile names, checked for the deployment's device kind.
result<policies::profile_db> load_placement_profile(const config::cluster_config& cfg);

/// The profile table over the config's models (registration order = config order; entries named after a
/// model's preset serve it too) and each model's slo_ms in seconds (0: none), as sim::prepare takes them.
struct config_profile {
  policies::profile_table table;
  std::vector<double> slo_s;
};
result<config_profile> profile_for_config(const config::cluster_config& cfg, const policies::profile_db& db);

/// Refuses a profile made for `device` (a profile db's `device` field, or an analytic GPU's name) when the
/// deployment's devices are of another kind (`where`: the message's prefix). An unknown device (empty: older
/// files) passes, and so does any profile for sim devices (they take whatever time their profile says).
[[nodiscard]] status check_profile_kind(const std::string& device, const std::string& deployment_kind,
                                        const std::string& where);

struct deployment_plan {
  policies::plan_file plan;        // the chosen plan (one window), devices as global indices
  config::cluster_config resolved; // cfg with placement.mode = explicit_groups, groups "g<i>" from the plan
  double planning_s = 0;           // wall time of the policy call
  long requests = 0;               // of the planning workload
};

/// Plans cfg (placement.mode == policy) with `db` on `workload`. Errors: an unknown or re-placing policy
/// (sr-replace-*: the runtime serves one placement), a workload model the config lacks, a profile without
/// an entry for a model, a plan that leaves a model without a replica or does not fit the config.
result<deployment_plan> plan_deployment(const config::cluster_config& cfg, const policies::profile_db& db,
                                        const trace& workload);

/// GET /v2/placement's body: {"source": "policy"|"groups"|"plan", "policy", "plan_file", "expected_attainment",
/// "slo_scale", "planning_s", "requests", "devices", "groups": [{"name", "tensor", "pipeline",
/// "devices": ["node:ordinal", ...], "models": [...]}]}. `plan` may be null (explicit groups, plan file).
std::string placement_json(const config::cluster_config& resolved, const config::placement_config& original,
                           const deployment_plan* plan);

} // namespace sy::sim
