#pragma once
// The simulator as the placement search's evaluator (policies::placement_evaluator) and the factory that
// placement_problem carries. An evaluator owns its scratch buffers: one per thread. The prepared trace is
// shared read-only (restricted copies are owned by the evaluator that needs them).
#include <memory>

#include "policies/placement/problem.hpp"
#include "sim/simulator.hpp"

namespace sy::sim {

class fast_evaluator final : public policies::placement_evaluator {
public:
  fast_evaluator(const policies::profile_table& table, std::shared_ptr<const prepared_trace> trace, sim_options opt,
                 std::size_t begin, std::size_t end)
      : sim_(table, opt), trace_(std::move(trace)), begin_(begin), end_(end) {}
  /// Untrimmed counts of `p` on the evaluator's requests. A placement the simulator rejects (bad model index)
  /// scores as an empty evaluation (attainment 0) and is logged.
  policies::evaluation evaluate(const policies::placement& p) override;

private:
  simulator sim_;
  std::shared_ptr<const prepared_trace> trace_;
  std::size_t begin_, end_;
};

/// `base` gives overhead and the swapping budget; the kind picks compat or swapping mode.
policies::evaluator_factory make_evaluator_factory(const policies::profile_table& table,
                                                   std::shared_ptr<const prepared_trace> trace, sim_options base);

} // namespace sy::sim
