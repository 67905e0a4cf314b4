#pragma once
// Replica filling of fixed groups (ALGORITHMS.md §3), the building block of every compat policy.
// Pure functions of their arguments (the evaluator is the only state they touch); call from any thread with
// an evaluator owned by that thread.
#include <vector>

#include "policies/placement/placement.hpp"
#include "policies/placement/problem.hpp"
#include "policies/placement/profile_table.hpp"

namespace sy::policies {

struct filled_placement {
  placement p;
  evaluation eval; // of p, untrimmed
  double score = 0;
  int rounds = 0;  // evaluations done
};

/// Per-GPU weight memory of a group: sum over its models of max_k weight_bytes (compat; 1e20 without entry).
double group_memory(const group_placement& g, const profile_table& t);

/// AlpaServe's ModelPlacement.normalize(): models of each group sorted, groups stably sorted by their model
/// lists (lexicographic), configs moving with them. The greedy normalizes after every addition, which
/// renumbers groups (and so decides ties between groups in the simulator).
placement normalize(placement p);

/// The compat greedy: repeat { simulate; unserved[m] = requests[m] * (1 - good[m] / (requests[m] + 1e-6));
/// models by unserved descending (numpy.argsort(unserved)[::-1] over `models`), groups by dispatched requests
/// ascending (numpy.argsort; both numpy 1.24's unstable introsort, numpy_argsort.hpp); add the
/// first (group, model) pair, groups outer and models inner, where m is not in g and
/// group_memory(g) + weight(m) <= mem_budget; normalize } until no pair fits.
/// `models` lists the candidate models (ascending). With keep_best, the best-scoring placement seen along the
/// way is returned instead of the last one (swap-aware search).
filled_placement greedy_fill(placement init, const std::vector<int>& models, const profile_table& t,
                             double mem_budget, placement_evaluator& ev, bool keep_best = false);

/// An upper bound on the score of greedy_fill(init, models, t, mem_budget, ev) (keep_best false, compat
/// evaluator, any trace): score = (1/N) sum over good requests of (1 - latency/1e4) + replicas/1e6, where a
/// good request's latency is at least the smallest sum of stage latencies of a model in a config of the
/// placement (the simulator's fixed overhead, >= 0, only adds to it), and the replicas are at most, per group, its models plus the most of the others that fit
/// (lightest first). Includes a margin far above rounding (1e-9): a candidate whose bound is below a score
/// already reached cannot be the best, nor tie with it.
double greedy_score_bound(const placement& init, const std::vector<int>& models, const profile_table& t,
                          double mem_budget);

/// mp-round-robin's filling (no simulation): cycle over the models; a model that fits the current group is
/// added and the group advances; until a full pass adds nothing.
placement round_robin_fill(placement init, const std::vector<int>& models, const profile_table& t, double mem_budget);

/// Assigns global device indices: groups by size descending (stable), consecutive devices, so that every
/// power-of-two group lies inside aligned blocks (a group of 8 inside a node).
void assign_devices(placement& p);

} // namespace sy::policies
