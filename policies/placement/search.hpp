#pragma once
// The placement policies (ALGORITHMS.md §3). Each is a value type with a pure call operator over a
// placement_problem (STYLE.md); registry.hpp maps names to them. Results carry placements without devices;
// the registry assigns devices (assign_devices) at the end.
//
//   mp-search        AlpaServe's model-parallel search: candidates of power-of-two group size G (G > devices
//                    per node only in whole nodes), N/G regular groups of config (op, pp) for every G = op*pp
//                    with pp <= 8, op <= 4, the remainder split into power-of-two pure-pipeline groups (1, s);
//                    each filled by the greedy; best score (first on ties).
//   mp-search-sep    + buckets of models by single-GPU latency (within 38% of the bucket's first model),
//                    device partitions among buckets (AlpaServe's get_partitions), pruned by tau in
//                    1.0, 0.5, 0.3, 0.2, 0.1 until fewer than 100 remain (distance = max over buckets of
//                    |rate share - throughput share|, throughput = devices / latency), each bucket solved by
//                    mp-search on its devices; kept when it beats the unbucketed score.
//   sr-greedy        every GPU a (1,1) group, the greedy.
//   sr-replace-X     sr-greedy on each X-second window of the trace (AlpaServe's split_time_interval: a window
//                    starts at its first arrival and holds arrivals <= start + X); a schedule.
//   mp-round-robin   groups (1,4) plus the remainder as (1, s) groups, round-robin filling until memory is full.
//   mp-greedy-K      N/K groups (1, K) (N must be a multiple of K), the greedy.
//   swap-aware       ours: the mp-search candidates filled by the greedy with group weights up to
//                    swap_overcommit x the budget, scored by the swapping simulator, keeping the best prefix of
//                    every greedy run; compared with plain mp-search scored the same way.
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "policies/placement/greedy.hpp"
#include "policies/placement/problem.hpp"

namespace sy::policies {

/// The initial (empty) placements mp-search fills, in AlpaServe's order (G ascending, pp ascending).
std::vector<placement> mp_search_candidates(int num_devices, int devices_per_node, int max_pp = 8, int max_op = 4);
/// AlpaServe's get_partitions(n, k): ordered splits of n devices into k parts (part i valid when
/// i <= n % 8, or (n - i) % 8 == 0, or n % 8 == 0), in its recursion order.
std::vector<std::vector<int>> device_partitions(int n, int k);
/// Buckets of model indices (mp-search-sep): a model joins the first bucket whose first model's single-GPU
/// latency L satisfies |l - L| / L < 0.38.
std::vector<std::vector<int>> latency_buckets(const profile_table& t);

struct mp_search_policy {
  bool separation = false;
  result<placement_schedule> operator()(const placement_problem& pb) const;
};
struct sr_greedy_policy {
  result<placement_schedule> operator()(const placement_problem& pb) const;
};
struct sr_replace_policy {
  double interval_s = 60;
  result<placement_schedule> operator()(const placement_problem& pb) const;
};
struct mp_round_robin_policy {
  result<placement_schedule> operator()(const placement_problem& pb) const;
};
struct mp_greedy_policy {
  int group_size = 2;
  result<placement_schedule> operator()(const placement_problem& pb) const;
};
struct swap_aware_policy {
  result<placement_schedule> operator()(const placement_problem& pb) const;
};

/// Fills every candidate with the greedy (in parallel, pb.threads) on the trace restricted to `keep`
/// (empty: all) and returns the best (first on ties). Exposed for tests and the planner bench.
/// Compat without keep_best: branch and bound; candidates run in descending order of greedy_score_bound and
/// one whose bound is below a score already reached is not filled (it can neither win nor tie), so the
/// result is the same as filling all of them.
result<filled_placement> best_of(const placement_problem& pb, const std::vector<placement>& candidates,
                                 const std::vector<int>& models, const std::vector<char>& keep, evaluator_kind kind,
                                 double mem_budget, bool keep_best);

} // namespace sy::policies
