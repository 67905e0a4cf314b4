#include "actors/internal/replan.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include "policies/placement/profile_table.hpp"
#include "sim/deployment_plan.hpp"
#include "sim/simulator.hpp"
#include "sim/workload.hpp"

namespace sy::actors::internal {

namespace {

/// The served placement's predicted attainment on `t` (the simulator in the planner's own options).
result<double> score_served(const config::cluster_config& cfg, const policies::profile_db& db, const sim::trace& t,
                            const std::vector<planned_group>& served) {
  auto prof = sim::profile_for_config(cfg, db);
  if (!prof)
    return prof.err();
  auto* table = &prof->table;
  auto prepared = sim::prepare(t, *table, cfg.placement.slo_scale, prof->slo_s);
  if (!prepared)
    return prepared.err();
  std::int64_t mem = 0;
  for (const auto& n : cfg.nodes)
    for (const auto& d : n.devices)
      mem = mem == 0 ? d.memory_bytes : std::min(mem, d.memory_bytes);
  sim::sim_options sopt;
  sopt.mem_budget_bytes = static_cast<double>(mem) * sim::runtime_weight_fraction;
  policies::placement p;
  for (const auto& m : cfg.models)
    p.model_names.push_back(m.name);
  for (const auto& g : served) {
    policies::group_placement gp;
    gp.config = {g.op, g.pp};
    for (const auto& d : g.devices)
      gp.devices.push_back(cfg.global_index(d));
    gp.models = g.models;
    p.groups.push_back(std::move(gp));
  }
  sim::simulator s(*table, sopt);
  auto ev = s.run(p, *prepared);
  if (!ev)
    return ev.err();
  return ev->attainment;
}

} // namespace

std::map<std::string, double> rates_of_workload(const config::cluster_config& cfg) {
  std::map<std::string, double> out;
  auto t = sim::load_workload(cfg);
  if (!t || t->requests.size() < 2)
    return out;
  const double span = t->requests.back().arrival_s - t->requests.front().arrival_s;
  if (span <= 0)
    return out;
  for (const auto& r : t->requests)
    out[t->models[static_cast<std::size_t>(r.model)]] += 1.0 / span;
  return out;
}

config::cluster_config without_devices(const config::cluster_config& cfg,
                                       const std::set<config::device_ref>& excluded) {
  auto out = cfg;
  out.placement.groups.clear();
  out.nodes.clear();
  for (std::size_t n = 0; n < cfg.nodes.size(); ++n) {
    auto node = cfg.nodes[n];
    node.devices.clear();
    for (std::size_t d = 0; d < cfg.nodes[n].devices.size(); ++d)
      if (!excluded.count(config::device_ref{static_cast<int>(n), static_cast<int>(d)}))
        node.devices.push_back(cfg.nodes[n].devices[d]);
    if (!node.devices.empty())
      out.nodes.push_back(std::move(node));
  }
  return out;
}

replan_output run_replan(const replan_inputs& in) {
  replan_output out;
  const auto& cfg = *in.cfg;
  sim::trace t;
  std::mt19937_64 rng(in.seed);
  for (const auto& m : cfg.models)
    t.models.push_back(m.name);
  for (std::size_t m = 0; m < cfg.models.size(); ++m) {
    auto it = in.rates.find(cfg.models[m].name);
    if (it == in.rates.end() || it->second <= 0)
      continue;
    for (double a : sim::gamma_arrivals(it->second, 1.0, 0.0, in.duration_s, rng)) {
      sim::trace_request r;
      r.arrival_s = a;
      r.model = static_cast<int>(m);
      r.input_tokens = cfg.placement.workload.tokens;
      t.requests.push_back(r);
    }
  }
  std::sort(t.requests.begin(), t.requests.end(),
            [](const auto& a, const auto& b) { return a.arrival_s < b.arrival_s; });
  out.requests = static_cast<long>(t.requests.size());
  if (t.requests.empty()) {
    out.error = "no arrivals to plan for";
    return out;
  }
  if (in.excluded.size() >= static_cast<std::size_t>(cfg.device_count())) {
    out.error = "no device is present to plan on";
    return out;
  }
  // Planned on the devices present; the served placement (on devices present too) is scored on the whole
  // cluster's config, where its device references hold.
  auto planning = in.excluded.empty() ? cfg : without_devices(cfg, in.excluded);
  planning.placement.mode = config::placement_mode::policy;
  const auto t0 = std::chrono::steady_clock::now();
  auto dp = sim::plan_deployment(planning, *in.db, t);
  out.planning_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!dp) {
    out.error = dp.err().message;
    return out;
  }
  out.candidate_score = dp->plan.expected_attainment;
  out.plan_json = sim::placement_json(dp->resolved, planning.placement, &*dp);
  auto served = score_served(cfg, *in.db, t, in.served);
  if (!served) {
    out.error = "scoring the served placement: " + served.err().message;
    return out;
  }
  out.served_score = *served;
  return out;
}

} // namespace sy::actors::internal
