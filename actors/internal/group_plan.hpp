#pragma once
// group_plan: the groups a controller builds from a cluster config: explicit groups or a plan file. A
// placement policy is planned before the cluster starts (apps/live_plan.hpp turns it into explicit groups);
// an unplanned one is an error here. Pure functions; any thread.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/cluster_config.hpp"
#include "messages/result.hpp"
#include "policies/placement/plan_file.hpp"

namespace sy::actors::internal {

struct planned_group {
  std::string name;
  int op = 1, pp = 1;
  std::vector<config::device_ref> devices; // [s * op + r]
  std::vector<int> models;                 // config model indices
  std::map<std::string, std::int64_t> bytes; // model -> largest per-device shard
  std::int64_t budget = 0;                 // per device, for weights
};

/// Fraction of a device's memory the weights may take; the rest is for activations and workspace.
inline constexpr double weight_budget_fraction = 0.85;

/// The groups of `cfg`, with shard sizes. Errors (category "cluster"): a stage whose ranks span nodes, a
/// model that cannot be sharded for a group's (op, pp), a plan file that cannot be read or does not fit cfg,
/// a placement policy that was not planned.
result<std::vector<planned_group>> plan_groups(const config::cluster_config& cfg);

/// plan_groups for the given groups (a placement applied while serving, issue 11 §2): the same shard sizes,
/// budgets and errors.
result<std::vector<planned_group>> plan_group_configs(const config::cluster_config& cfg,
                                                      const std::vector<config::group_config>& groups);

/// The config groups of a plan written by `switchyard plan` (placement: {plan: file}): group i is "g<i>" on
/// the config's devices with the plan's global device indices (node order, then device order), its (op, pp)
/// and models. Errors (category "cluster", naming `source`): several windows (re-placement over time), a
/// model or device the config lacks, a group whose op x pp differs from its device count, a device in two
/// groups.
result<std::vector<config::group_config>> groups_from_plan(const config::cluster_config& cfg,
                                                           const policies::plan_file& plan,
                                                           const std::string& source);

} // namespace sy::actors::internal
