#include "policies/parallel/plan.hpp"

#include <algorithm>

namespace sy::policies::parallel {

result<model_plan> plan_model(const gpu::model_spec& m, parallel_config c, const cost_model& cm,
                              const ilp_options& o) {
  if (auto st = m.validate(); !st)
    return st.err();
  auto entry = cm.profile(m, c); // checks the config and that a split fits
  if (!entry)
    return entry.err();
  auto split = cm.split(m, c);
  if (!split)
    return split.err();
  int tokens = std::max(1, std::min(cm.options().seq_len, m.max_seq));
  auto g = transformer_layer_graph(m, tokens, c.op, cm.hardware());
  auto sharding = solve_intra_op(g, o);
  if (!sharding)
    return make_error(sharding.err().category, "model '" + m.name + "' (op " + std::to_string(c.op) + ", pp " +
                                                   std::to_string(c.pp) + "): " + sharding.err().message);
  model_plan p;
  p.config = c;
  p.stages = std::move(*split);
  p.layer_sharding = std::move(*sharding);
  p.ilp_layer_seconds = p.layer_sharding.objective;
  p.model_layer_seconds = cm.layer_seconds(m, c.op, 1);
  return p;
}

} // namespace sy::policies::parallel
