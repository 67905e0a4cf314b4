// `switchyard bench sim` and `switchyard bench planner`: numbers, never asserts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/sim_inputs.hpp"
#include "messages/logging.hpp"
#include "policies/placement/greedy.hpp"
#include "policies/placement/registry.hpp"
#include "sim/evaluator.hpp"
#include "sim/simulator.hpp"

namespace sy::apps {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// CPU seconds of the calling thread: unlike wall time, not inflated when other processes share the cores.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

policies::placement filled(const policies::profile_table& t, int devices, policies::parallel_config c) {
  policies::placement p;
  p.model_names = t.model_names();
  for (int g = 0; g < devices / c.gpus(); ++g)
    p.groups.push_back(policies::group_placement{c, {}, {}});
  std::vector<int> models(static_cast<std::size_t>(t.num_models()));
  for (int m = 0; m < t.num_models(); ++m)
    models[static_cast<std::size_t>(m)] = m;
  return policies::round_robin_fill(std::move(p), models, t, 13 * policies::gib);
}

} // namespace

int run_bench_sim(const bench_sim_options& o) {
  auto log = logger("bench");
  sim_input_options in;
  in.hardware = "V100-16GB";
  in.models = "bert-1.3b:" + std::to_string(o.models);
  in.rate = 400;
  in.cv = 4;
  in.duration_s = static_cast<double>(o.requests) / in.rate;
  auto t0 = std::chrono::steady_clock::now();
  auto inputs = load_inputs(in);
  if (!inputs) {
    log->error("{}", inputs.err().to_string());
    return 1;
  }
  const double gen_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  auto trace = sim::prepare(inputs->trace, inputs->table, 5);
  if (!trace) {
    log->error("{}", trace.err().to_string());
    return 1;
  }
  const double prep_s = seconds_since(t0);
  std::printf("bench sim: %d devices, %d x bert-1.3b (analytic V100-16GB), %zu requests (rate 400/s, CV 4); "
              "trace generation %.3f s, prepare %.3f s (one-off per trace)\n",
              o.devices, o.models, trace->arrival.size(), gen_s, prep_s);
  struct layout {
    const char* name;
    policies::parallel_config c;
  };
  for (auto [name, c] : {layout{"64 x (1,1) groups", {1, 1}}, layout{"16 x (1,4) pipelines", {1, 4}},
                         layout{"8 x (2,4) groups", {2, 4}}}) {
    auto p = filled(inputs->table, o.devices, c);
    sim::simulator s(inputs->table, {});
    std::vector<double> rates, cpu_rates;
    double att = 0;
    for (int r = 0; r < std::max(1, o.repeat); ++r) {
      t0 = std::chrono::steady_clock::now();
      const double c0 = thread_cpu_seconds();
      auto e = s.run(p, *trace); // the whole call: compile the placement, reset clocks, simulate
      const double dt = seconds_since(t0), dc = thread_cpu_seconds() - c0;
      if (!e) {
        log->error("{}", e.err().to_string());
        return 1;
      }
      att = e->attainment;
      rates.push_back(static_cast<double>(trace->arrival.size()) / dt);
      cpu_rates.push_back(static_cast<double>(trace->arrival.size()) / std::max(dc, 1e-9));
    }
    std::sort(rates.begin(), rates.end());
    std::sort(cpu_rates.begin(), cpu_rates.end());
    std::printf("  %-22s %3d replicas: wall median %.1f M requests/s (best %.1f); thread CPU time median %.1f M/s "
                "(best %.1f); attainment %.4f\n",
                name, p.replicas(), rates[rates.size() / 2] / 1e6, rates.back() / 1e6,
                cpu_rates[cpu_rates.size() / 2] / 1e6, cpu_rates.back() / 1e6, att);
  }
  return 0;
}

int run_bench_planner(const bench_planner_options& o) {
  auto log = logger("bench");
  sim_input_options in;
  in.hardware = "V100-16GB";
  in.models = "bert-1.3b:" + std::to_string(o.models);
  in.rate = o.rate;
  in.cv = o.cv;
  in.duration_s = o.duration_s;
  in.slo_scale = o.slo_scale;
  auto inputs = load_inputs(in);
  if (!inputs) {
    log->error("{}", inputs.err().to_string());
    return 1;
  }
  auto prepared = sim::prepare(inputs->trace, inputs->table, o.slo_scale);
  if (!prepared) {
    log->error("{}", prepared.err().to_string());
    return 1;
  }
  auto trace = std::make_shared<const sim::prepared_trace>(std::move(*prepared));
  auto policy = policies::make_placement_policy(o.policy);
  if (!policy) {
    log->error("{}", policy.err().to_string());
    return 1;
  }
  policies::placement_problem pb;
  pb.profiles = &inputs->table;
  pb.num_devices = o.devices;
  pb.arrivals = trace->arrival;
  pb.model_rates = inputs->model_rates;
  pb.threads = o.threads;
  pb.make_evaluator = sim::make_evaluator_factory(inputs->table, trace, {});
  const auto t0 = std::chrono::steady_clock::now();
  auto s = (*policy)(pb);
  const double wall = seconds_since(t0);
  if (!s) {
    log->error("{}", s.err().to_string());
    return 1;
  }
  sim::simulator sim(inputs->table, {});
  auto e = sim.run(*s, *trace);
  if (!e) {
    log->error("{}", e.err().to_string());
    return 1;
  }
  const auto& p = s->placements.front();
  std::printf("bench planner: %s, %d devices, %d x bert-1.3b (analytic V100-16GB), rate %.0f/s, CV %.1f, "
              "SLO scale %.1f, %zu requests, %d threads\n",
              o.policy.c_str(), o.devices, o.models, o.rate, o.cv, o.slo_scale, trace->arrival.size(), o.threads);
  std::printf("  wall %.3f s, score %.6f, attainment %.4f, %zu groups, first group (op=%d, pp=%d), %d replicas\n", wall,
              e->score(p.replicas()), e->attainment, p.groups.size(), p.groups.front().config.op,
              p.groups.front().config.pp, p.replicas());
  return 0;
}

void add_bench_sim_command(CLI::App& bench, int& rc) {
  auto o = std::make_shared<bench_sim_options>();
  auto* bench_sim = bench.add_subcommand("sim", "simulated requests/s of the compat simulator");
  bench_sim->add_option("--requests", o->requests)->capture_default_str();
  bench_sim->add_option("--devices", o->devices)->capture_default_str();
  bench_sim->add_option("--models", o->models)->capture_default_str();
  bench_sim->add_option("--repeat", o->repeat)->capture_default_str();
  bench_sim->callback([o, &rc] { rc = run_bench_sim(*o); });
}

void add_bench_planner_command(CLI::App& bench, int& rc) {
  auto o = std::make_shared<bench_planner_options>();
  auto* bench_planner = bench.add_subcommand("planner", "wall time of mp-search on the AlpaServe S1-like case");
  bench_planner->add_option("--devices", o->devices)->capture_default_str();
  bench_planner->add_option("--models", o->models)->capture_default_str();
  bench_planner->add_option("--rate", o->rate)->capture_default_str();
  bench_planner->add_option("--cv", o->cv)->capture_default_str();
  bench_planner->add_option("--duration", o->duration_s)->capture_default_str();
  bench_planner->add_option("--slo-scale", o->slo_scale)->capture_default_str();
  bench_planner->add_option("--threads", o->threads)->capture_default_str();
  bench_planner->add_option("--policy", o->policy)->capture_default_str();
  bench_planner->callback([o, &rc] { rc = run_bench_planner(*o); });
}

} // namespace sy::apps
