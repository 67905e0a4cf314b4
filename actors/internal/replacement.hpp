#pragma once
// Re-placement after a node loss (issue 9 §3): new groups, on the devices that survived and serve nothing,
// for the replicas that a lost node (or an unhealthy device) took with it. Pure functions; any thread.
//
// The fill: replicas of models with no live replica come first, then the larger shards. Each goes into a
// group this plan already made when its shard fits there beside the others (the group's shape shards it and
// the group does not hold it yet), else into a new group of the smallest shape that fits it: the fewest
// devices (tensor x pipeline, the tensor ranks of a stage on one node, the larger tensor degree first),
// taken from `free` in its order, whose per-device weight budget holds the model's largest shard.
// A replica that finds no room is reported, not placed.
//
// The placement policies of policies/placement/ (mp-search, sr-greedy, ...) are not run here: they plan from
// a profile database and a planning workload, which the runtime does not hold when a node is lost.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "actors/internal/group_plan.hpp"
#include "config/cluster_config.hpp"

namespace sy::actors::internal {

struct replacement_need {
  int model = 0;    // config model index
  int replicas = 1; // how many replicas to place
  int live = 0;     // replicas that still serve (models with none are placed first)
};

struct replacement_plan {
  std::vector<planned_group> groups; // new groups, each on devices of `free`, models preloaded
  std::vector<std::string> unplaced; // "<model>: <why>", one per replica that found no room
};

/// The per-device bytes of the largest shard of `model` cut for (op, pp). Errors (category "cluster"): the
/// model cannot be sharded so (heads, layers).
result<std::int64_t> largest_shard(const config::model_config& model, int op, int pp);

/// The fill described above. `next_name()` names each new group.
replacement_plan plan_replacement(const config::cluster_config& cfg, const std::vector<config::device_ref>& free,
                                  std::vector<replacement_need> needs, const std::function<std::string()>& next_name);

} // namespace sy::actors::internal
