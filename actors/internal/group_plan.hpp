#pragma once
// group_plan: the groups a controller builds from a cluster config: explicit groups, or (placement policy
// mode, until the planner drives it) a round-robin fill with one single-device group per device. Pure
// functions; any thread.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/cluster_config.hpp"
#include "messages/result.hpp"

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
/// model that cannot be sharded for a group's (op, pp), plan files (not supported yet).
result<std::vector<planned_group>> plan_groups(const config::cluster_config& cfg);

} // namespace sy::actors::internal
