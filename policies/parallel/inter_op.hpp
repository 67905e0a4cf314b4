#pragma once
// Inter-operator parallelization (ALGORITHMS.md §4, Alpa's stage DP): cut L layers into pp contiguous,
// non-empty stages. Pure functions, no state; any thread.
//
//   split_min_max      minimizes the maximum stage cost (serving latency objective):
//                      f[s][i] = min_k max(f[s-1][k], cost(s-1, k, i)); ties go to the smaller sum.
//   split_pipeline     minimizes sum_k t_k + (B-1) * max_k t_k (training-style, B micro-batches):
//                      enumerates t_max over the sorted distinct stage costs, minimizes the sum with every
//                      stage <= t_max, and stops once B * t_max exceeds the best objective found.
// A stage is infeasible when its memory (bytes) exceeds the limit; no feasible split -> sy::error "memory".
#include <cstdint>
#include <functional>
#include <vector>

#include "messages/result.hpp"

namespace sy::policies::parallel {

/// Cost of stage `stage` holding layers [begin, end): seconds (stage-dependent so that stage 0 can carry
/// the embedding, the last one the head, later ones the incoming activation transfer).
using stage_cost_fn = std::function<double(int stage, int begin, int end)>;
/// Per-GPU memory of stage `stage` holding layers [begin, end), in bytes.
using stage_memory_fn = std::function<double(int stage, int begin, int end)>;

struct stage_split {
  std::vector<int> boundaries;     // size pp+1: 0 = b[0] < b[1] < ... < b[pp] = L; stage k = [b[k], b[k+1])
  std::vector<double> stage_costs; // [k]
  double max_cost = 0;
  double sum_cost = 0;
  double objective = 0;            // max_cost (min-max) or sum + (B-1)*max (pipeline)
  int pp() const { return static_cast<int>(stage_costs.size()); }
};

struct inter_op_problem {
  int layers = 0;
  int pp = 1;
  stage_cost_fn cost;
  stage_memory_fn memory;  // optional
  double memory_limit = 0; // bytes per GPU; <= 0: no limit
};

/// Latency objective (min over splits of max stage cost).
result<stage_split> split_min_max(const inter_op_problem& p);
/// Training-style objective with `microbatches` = B >= 1.
result<stage_split> split_pipeline(const inter_op_problem& p, int microbatches);

/// Convenience: additive per-layer costs (and optional per-layer bytes).
inter_op_problem additive_problem(std::vector<double> layer_cost, int pp, std::vector<double> layer_bytes = {},
                                  double memory_limit = 0);

} // namespace sy::policies::parallel
