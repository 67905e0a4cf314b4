#include "sim/evaluator.hpp"

#include "messages/logging.hpp"

namespace sy::sim {

policies::evaluation fast_evaluator::evaluate(const policies::placement& p) {
  auto e = sim_.run(p, *trace_, begin_, end_);
  if (!e) {
    logger("sim")->error("evaluation failed: {}", e.err().to_string());
    return policies::evaluation{};
  }
  return std::move(*e);
}

policies::evaluator_factory make_evaluator_factory(const policies::profile_table& table,
                                                   std::shared_ptr<const prepared_trace> trace, sim_options base) {
  return [&table, trace = std::move(trace), base](std::size_t begin, std::size_t end, const std::vector<char>& keep,
                                                  policies::evaluator_kind kind)
             -> std::unique_ptr<policies::placement_evaluator> {
    auto opt = base;
    opt.mode = kind == policies::evaluator_kind::swapping ? sim_mode::swapping : sim_mode::compat;
    std::shared_ptr<const prepared_trace> t = trace;
    if (!keep.empty())
      t = std::make_shared<const prepared_trace>(restrict_models(*trace, keep));
    return std::make_unique<fast_evaluator>(table, std::move(t), opt, begin, end);
  };
}

} // namespace sy::sim
