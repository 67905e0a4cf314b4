#pragma once
// The input of a placement policy (its "view", STYLE.md): profiles, cluster shape, the planning workload's
// arrival times and rates, and a factory of evaluators (the simulator lives in sim/, above policies/ in the
// layer order, so it is injected here). Read-only during a policy call; the factory must be callable from
// several threads at once (each call returns an evaluator owned by the caller).
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "policies/placement/placement.hpp"
#include "policies/placement/profile_table.hpp"

namespace sy::policies {

enum class evaluator_kind { compat, swapping };

/// An evaluator for the planning trace restricted to requests [begin, end) and to the models with
/// keep[m] != 0 (empty: all models; requests of other models count in the total, never as good).
using evaluator_factory = std::function<std::unique_ptr<placement_evaluator>(
    std::size_t begin, std::size_t end, const std::vector<char>& keep, evaluator_kind kind)>;

inline constexpr double gib = 1024.0 * 1024.0 * 1024.0;

struct placement_problem {
  const profile_table* profiles = nullptr;
  int num_devices = 0;
  int devices_per_node = 8;
  double mem_budget = 13 * gib;       // per-GPU weight budget (compat memory rule)
  std::vector<double> arrivals;        // planning trace arrival times, sorted (sr-replace windows)
  std::vector<double> model_rates;     // requests/s per model (mp-search-sep rate shares)
  evaluator_factory make_evaluator;
  int threads = 2;                     // candidates evaluated in parallel
  double swap_overcommit = 4;          // swap-aware: group weights may reach this multiple of the budget
  /// Optional progress report (done, total); called under a lock from worker threads.
  std::function<void(int, int)> progress;
};

} // namespace sy::policies
