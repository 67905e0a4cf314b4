#pragma once
// Intra-operator parallelization (ALGORITHMS.md §4, Alpa's sharding ILP), solved with CBC.
//
// Each operator i picks one sharding strategy (one-hot binaries s_i); each edge (i, j) pays the cost of
// resharding i's output layout into the input layout j's strategy needs, through product variables e_ij
// linearized as: sum e_ij = 1, row sums <= s_i, column sums <= s_j (with binary s the only feasible e is the
// product, so e is continuous). Objective: sum_i s_i . (compute_i + comm_i) + sum_ij e_ij . reshard_ij.
// Optional per-device memory limit at each program point t (nodes in topological order, edges go from a
// lower to a higher index): sum_i s_i . memory_i (weights, resident throughout, as a serving stage holds
// them) + sum_{i live at t} s_i . activation_i <= limit, where i's output is live from i to its last consumer.
// Pure functions; any thread (each call builds its own solver).
#include <string>
#include <vector>

#include "gpu/model_spec.hpp"
#include "messages/result.hpp"

namespace sy::policies {
struct hardware_spec;
}

namespace sy::policies::parallel {

struct sharding_strategy {
  std::string name;
  double compute_s = 0;
  double comm_s = 0;
  double memory_bytes = 0;     // per device: weights, resident for the whole program
  double activation_bytes = 0; // per device: the output, live until its last consumer ran
};

struct op_node {
  std::string name;
  std::vector<sharding_strategy> strategies;
};

struct op_edge {
  int from = 0;
  int to = 0;
  std::vector<std::vector<double>> reshard_s; // [strategy of from][strategy of to], seconds
};

struct op_graph {
  std::vector<op_node> nodes;
  std::vector<op_edge> edges;
  /// Sizes consistent, indices in range, costs finite and non-negative; the message names node/edge.
  [[nodiscard]] status validate() const;
};

struct ilp_options {
  double time_limit_s = 10;
  double memory_limit = 0; // bytes per device; <= 0: none
};

struct sharding_plan {
  std::vector<int> choice;           // [node] index of the chosen strategy
  std::vector<std::string> names;    // [node] "node:strategy"
  double objective = 0;              // seconds
  double compute_s = 0, comm_s = 0, reshard_s = 0;
  double memory_bytes = 0;           // peak over program points (weights + live activations)
  bool optimal = false;              // false: stopped by the time limit with a feasible solution
};

/// Solves the ILP. Errors: invalid graph ("parallel"), infeasible under the memory limit ("memory"),
/// no solution within the time limit or a solver failure ("solver").
result<sharding_plan> solve_intra_op(const op_graph& g, const ilp_options& o = {});

/// Evaluates the objective of a given choice (for tests and reports); memory in plan.memory_bytes.
sharding_plan evaluate_choice(const op_graph& g, const std::vector<int>& choice);

// -------------------------------------------------------------------------------------------------------
// The operator graph of one transformer layer (gpu/model_spec.hpp architecture, pre-LayerNorm), sharded
// over `degree` devices of one node. Activations are [tokens, width] in one of the layouts R (replicated),
// C (split by columns), P (partial sums, pending an all-reduce inside the producing op). Strategies:
//   matmuls (qkv, attn_out, ffn_in, ffn_out): replicated (R->R), column (R->C, weight split by columns),
//     row (C->R, weight split by rows, one all-reduce of the output);
//   attention: replicated (R->R), heads (C->C);  gelu: replicated, column (C->C);
//   layer norms and residual adds: replicated (R->R).
// Resharding C->R is an all-gather, R->C a local slice (free). Compute: matmul and attention FLOPs at
// peak*flops_eff, elementwise ops at hbm*mem_eff; collectives: all-reduce alpha + beta*2(n-1)/n*bytes,
// all-gather alpha + beta*(n-1)/n*bytes, with alpha = link latency, beta = 1/(link_bw*link_eff).
// Memory of a strategy: its weight shard (+ bias) in the model's dtype; activation: its output (1/n when split).
op_graph transformer_layer_graph(const gpu::model_spec& m, int tokens, int degree, const hardware_spec& hw);

} // namespace sy::policies::parallel
