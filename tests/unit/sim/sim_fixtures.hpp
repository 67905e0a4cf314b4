#pragma once
// Hand-built profiles and traces for the simulator and placement tests (no dependence on the cost model).
#include <string>
#include <vector>

#include "policies/placement/profile_table.hpp"
#include "sim/simulator.hpp"

namespace sy::test {

/// An entry whose batch-b latency of stage k is lat[k] * batch_factor[b].
inline policies::profile_entry entry(const std::string& model, int op, int pp, std::vector<double> lat,
                                     std::int64_t weight_per_stage, double load_per_stage = 0,
                                     std::vector<double> batch_factor = {1, 1, 1, 1, 1}) {
  policies::profile_entry e;
  e.model = model;
  e.config = policies::parallel_config{op, pp};
  for (double f : batch_factor) {
    std::vector<double> row;
    for (double l : lat)
      row.push_back(l * f);
    e.stage_latency.push_back(row);
  }
  e.weight_bytes.assign(static_cast<std::size_t>(pp), weight_per_stage);
  e.act_bytes.assign(5, std::vector<std::int64_t>(static_cast<std::size_t>(pp), 0));
  e.load_seconds.assign(static_cast<std::size_t>(pp), load_per_stage);
  return e;
}

inline sim::trace make_trace(std::vector<std::string> models, std::vector<std::pair<double, int>> reqs,
                             double slo_s = 0) {
  sim::trace t;
  t.models = std::move(models);
  for (auto [a, m] : reqs)
    t.requests.push_back(sim::trace_request{a, m, 1, slo_s});
  return t;
}

inline policies::group_placement group(int op, int pp, std::vector<int> models) {
  return policies::group_placement{policies::parallel_config{op, pp}, {}, std::move(models)};
}

/// A placement of the given groups (no per-group names or devices).
inline policies::placement place(std::vector<policies::group_placement> groups) {
  policies::placement p;
  p.groups = std::move(groups);
  return p;
}

/// The compat float32 stage latency.
inline double f32_lat(double l, int pp) { return static_cast<double>(static_cast<float>(l * (1 + 0.009 * pp))); }

} // namespace sy::test
