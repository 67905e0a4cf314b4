// `switchyard simulate`: run a plan on a trace in the fast simulator; summary and per-request records.
#include <algorithm>
#include <cstdio>

#include "apps/commands.hpp"
#include "apps/sim_inputs.hpp"
#include "messages/logging.hpp"
#include "policies/placement/plan_check.hpp"
#include "policies/placement/plan_file.hpp"
#include "policies/placement/problem.hpp"
#include "sim/simulator.hpp"
#include "sim/summary.hpp"

namespace sy::apps {

int run_simulate(const simulate_options& o) {
  auto log = logger("simulate");
  auto plan = policies::load_plan(o.plan);
  if (!plan) {
    log->error("{}", plan.err().to_string());
    return 2;
  }
  auto mode = sim::parse_sim_mode(o.mode);
  if (!mode) {
    log->error("{}", mode.err().to_string());
    return 2;
  }
  if (!o.in.config_path.empty()) { // the plan against the deployment first: its errors name the plan's keys
    auto cfg = config::load_config(o.in.config_path);
    if (!cfg) {
      log->error("{}", cfg.err().to_string());
      return 2;
    }
    if (auto st = policies::check_plan(*plan, *cfg, o.plan); !st) {
      log->error("{}", st.err().to_string());
      return 2;
    }
  }
  auto in = load_inputs(o.in, plan->schedule.placements.front().model_names);
  if (!in) {
    log->error("{}", in.err().to_string());
    return 2;
  }
  double budget_gib = o.mem_budget_gib;
  if (budget_gib == 0 && in->config) {
    std::int64_t mem = 0;
    for (const auto& n : in->config->nodes)
      for (const auto& d : n.devices)
        mem = mem == 0 ? d.memory_bytes : std::min(mem, d.memory_bytes);
    budget_gib = static_cast<double>(mem) / policies::gib;
  }
  if (budget_gib == 0)
    budget_gib = 13;
  if (!(budget_gib > 0)) {
    log->error("--mem-budget-gib: expected > 0, found {}", budget_gib);
    return 2;
  }
  auto trace = sim::prepare(in->trace, in->table, o.in.slo_scale, in->model_slo_s);
  if (!trace) {
    log->error("{}", trace.err().to_string());
    return 2;
  }
  sim::sim_options opt;
  opt.mode = *mode;
  opt.mem_budget_bytes = budget_gib * policies::gib;
  if (opt.mode == sim::sim_mode::swapping) {
    std::string name = !o.eviction.empty() ? o.eviction : in->config ? in->config->policies.eviction.name : "lru";
    auto e = policies::make_eviction(name); // parameters: none of the eviction policies has any
    if (!e) {
      log->error("--eviction: {}", e.err().to_string());
      return 2;
    }
    opt.eviction = *e;
  }
  sim::simulator s(in->table, opt);
  std::vector<sim::request_record> records;
  auto e = s.run(plan->schedule, *trace, &records);
  if (!e) {
    log->error("{}", e.err().to_string());
    return 1;
  }
  auto sum = sim::summarize(records, trace->model, in->table.model_names(), o.warmup_s);
  sum.slo_scale = o.in.slo_scale;
  for (std::size_t m = 0; m < sum.models.size() && m < trace->model_slo.size(); ++m)
    sum.models[m].slo_s = static_cast<double>(trace->model_slo[m]);
  const auto& ov = sum.overall;
  std::printf("%ld requests (%ld trimmed from each end): SLO attainment %.4f, goodput %.2f req/s, "
              "p50 %.4f s, p90 %.4f s, p99 %.4f s; ok %ld, rejected %ld, failed %ld\n",
              ov.requests, sum.trimmed_each_end, ov.attainment, ov.goodput_rps, ov.p50_s, ov.p90_s, ov.p99_s, ov.ok,
              ov.rejected, ov.failed);
  if (!o.summary.empty())
    if (auto st = sim::write_file(o.summary, sim::to_json(sum)); !st) {
      log->error("{}", st.err().to_string());
      return 1;
    }
  if (!o.records.empty())
    if (auto st = sim::write_file(o.records, sim::records_csv(records, trace->model, in->table.model_names())); !st) {
      log->error("{}", st.err().to_string());
      return 1;
    }
  return 0;
}

} // namespace sy::apps
