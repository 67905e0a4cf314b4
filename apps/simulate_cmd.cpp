// `switchyard simulate`: run a plan on a trace in the fast simulator; summary and per-request records.
#include <algorithm>
#include <cstdio>
#include <optional>

#include <memory>

#include <CLI/CLI.hpp>

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
  auto mode = sim::parse_sim_mode(o.mode.empty() ? "compat" : o.mode);
  if (!mode) {
    log->error("{}", mode.err().to_string());
    return 2;
  }
  std::optional<deployment_sim> from_cfg; // -c: the runtime's batching and swapping
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
    auto d = deployment_sim_options(*cfg, o.mode);
    if (!d) {
      log->error("{}", d.err().to_string());
      return 2;
    }
    from_cfg = std::move(*d);
    mode = from_cfg->opt.mode;
    log->info("simulator mode: {}", from_cfg->described);
  }
  std::vector<policies::parallel_config> plan_configs; // --hardware: profile only these (start-up, issue 11 §5)
  for (const auto& p : plan->schedule.placements)
    for (const auto& g : p.groups)
      plan_configs.push_back(g.config);
  auto in = load_inputs(o.in, plan->schedule.placements.front().model_names, nullptr, &plan_configs);
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
  auto trace = prepare_inputs(*in, o.in.slo_scale);
  if (!trace) {
    log->error("{}", trace.err().to_string());
    return 2;
  }
  sim::sim_options opt = from_cfg ? from_cfg->opt : sim::sim_options{};
  opt.mode = *mode;
  opt.mem_budget_bytes = budget_gib * policies::gib;
  if (in->config)
    opt.host_cores = cpu_host_cores(*in, *in->config); // cpu devices share the host's cores (0: not modelled)
  if (auto st = apply_generation_options(opt, o.in, in->config ? &*in->config : nullptr); !st) {
    log->error("{}", st.err().to_string());
    return 2;
  }
  if (opt.mode == sim::sim_mode::swapping && (!from_cfg || !o.eviction.empty())) {
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
  if (ov.gen.requests > 0) {
    const auto& g = s.last_generation();
    std::printf("%s; %ld preemptions, peak KV use %.1f%%\n", generation_line(ov.gen).c_str(), g.preemptions,
                100 * g.peak_kv_fraction);
  }
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

void add_simulate_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<simulate_options>();
  auto* simulate = app.add_subcommand("simulate", "simulate a placement plan on a trace (fast simulator)");
  add_sim_input_options(*simulate, o->in);
  simulate->add_option("--plan", o->plan, "plan YAML (switchyard plan)")->required();
  simulate->add_option("--mode", o->mode, "compat|batching|swapping (default: with -c the deployment's: greedy "
                                          "batching -> batching up to its max_batch, else swapping; without -c compat)");
  simulate->add_option("--mem-budget-gib", o->mem_budget_gib,
                       "swapping: per-GPU budget (default: -c's smallest device memory, else 13)");
  simulate->add_option("--eviction", o->eviction,
                       "swapping: lru|demand-aware (the runtime's policy; default: -c's policies.eviction, else lru)");
  simulate->add_option("--warmup", o->warmup_s, "seconds trimmed from each end")->capture_default_str();
  simulate->add_option("--records", o->records, "write per-request CSV here");
  simulate->add_option("--summary", o->summary, "write the summary JSON here");
  simulate->callback([o, &rc] { rc = run_simulate(*o); });
}

void add_sim_input_options(CLI::App& c, sim_input_options& in) {
  c.add_option("-c,--config", in.config_path, "deployment YAML: its models (specs, slo_ms), devices and memory "
                                               "(explicit flags win over it)");
  c.add_option("--profile", in.profile, "profile database (.json or .msgpack)");
  c.add_option("--hardware", in.hardware, "analytic profile of this GPU (V100-16GB, A100-40GB, H100-80GB)");
  c.add_option("--models", in.models, "models for --hardware / synthetic traces: preset[:copies],...");
  c.add_option("--trace,--workload", in.trace,
                "trace CSV (arrival_s,model,input_tokens[,slo_ms[,output_tokens]]); default: a synthetic trace "
                "(--rate, --cv, ...)");
  c.add_option("--rate", in.rate, "synthetic: total requests/s (0: 10 per model)");
  c.add_option("--cv", in.cv, "synthetic: coefficient of variation of inter-arrival gaps")->capture_default_str();
  c.add_option("--duration", in.duration_s, "synthetic: seconds")->capture_default_str();
  c.add_option("--popularity", in.popularity, "synthetic: power-law exponent of model rates")->capture_default_str();
  c.add_option("--seed", in.seed, "synthetic: seed")->capture_default_str();
  c.add_option("--slo-scale", in.slo_scale, "SLO = scale x single-GPU latency (models without -c's slo_ms)")
    ->capture_default_str();
  c.add_option("--input-tokens", in.input_tokens, "synthetic: prompt tokens per request")->capture_default_str();
  c.add_option("--output-tokens", in.output_tokens,
               "synthetic: new tokens per request (> 0: generation requests, simulated iteration by iteration)")
    ->capture_default_str();
  c.add_option("--ttft-ms", in.ttft_ms, "generation: TTFT SLO (default: -c's ttft_ms, else the one-pass SLO)");
  c.add_option("--tpot-ms", in.tpot_ms, "generation: TPOT SLO (default: -c's tpot_ms, else none)");
  c.add_option("--gen-max-seqs", in.gen_max_seqs, "generation: sequences running per model and group (default: "
                                                  "-c's runtime.gen_max_seqs, else 16)");
  c.add_option("--gen-token-budget", in.gen_token_budget, "generation: tokens per step (default: -c's "
                                                          "runtime.gen_token_budget, else 256)");
  c.add_flag("--force", in.force, "-c: accept a profile (--hardware, or a database's device) made for another kind "
                                  "of device than the deployment's");
}

} // namespace sy::apps
