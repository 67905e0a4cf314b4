// switchyard: the one executable. Subcommands are parsed here (CLI11 stays in this file) and run by the
// run_* functions of apps/commands.hpp.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "messages/logging.hpp"

int main(int argc, char** argv) {
  using namespace sy::apps;
  CLI::App app{"switchyard: serve many deep-learning models on a shared GPU cluster"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  int rc = 0;

  presets_options presets_opts;
  app.add_subcommand("presets", "list the built-in model presets")->callback([&] {
    rc = run_presets(presets_opts);
  });

  profile_options profile_opts;
  auto* profile = app.add_subcommand("profile", "write a profile database (analytic cost model of a named GPU)");
  profile->add_option("-c,--config", profile_opts.config_path, "deployment YAML whose models to profile");
  profile->add_option("--models", profile_opts.models, "model presets, comma-separated")->delimiter(',');
  profile->add_option("--hardware", profile_opts.hardware,
                      "analytic cost model of V100-16GB | A100-40GB | H100-80GB (default: V100-16GB; with -c and "
                      "no --hardware: measure the config's devices)");
  profile->add_option("-o,--output", profile_opts.output, "output file, .msgpack or .json")->capture_default_str();
  profile->add_option("--seq", profile_opts.seq_len, "input tokens per request profiled")->capture_default_str();
  profile->add_option("--memory-gib", profile_opts.memory_gib, "per-GPU budget (0: device memory; --measure: -c's)");
  profile->add_option("--configs", profile_opts.configs, "OPxPP list (default: all)")->delimiter(',');
  profile->add_option("--calibrate", profile_opts.calibrate, "measured profile db to fit the cost model to");
  profile->add_flag("--measure", profile_opts.measure, "measure the real engine instead of the cost model (the "
                                                      "default with -c and no --hardware)");
  profile->add_option("--backend", profile_opts.backend, "--measure: cpu|cuda|auto (default: -c's device kind, else auto)");
  profile->add_option("--devices", profile_opts.devices, "--measure: devices to open (default: -c's largest node, else 1)");
  profile->add_option("--reps", profile_opts.reps, "--measure: timed runs per point (median)")->capture_default_str();
  profile->add_flag("--print", profile_opts.print, "print a latency table");
  profile->add_flag("--plan", profile_opts.plan, "print stage boundaries and the intra-op ILP's sharding");
  profile->add_option("--ilp-time-limit", profile_opts.ilp_time_limit, "seconds per intra-op ILP")->capture_default_str();
  profile->callback([&] { rc = run_profile(profile_opts); });

  trace_options trace_opts;
  auto* trace = app.add_subcommand("trace", "generate or convert a workload trace (native CSV)");
  trace->require_subcommand(1);
  auto common = [&](CLI::App* c) {
    c->add_option("--models", trace_opts.models, "model names, comma-separated")->delimiter(',');
    c->add_option("-o,--output", trace_opts.output, "output CSV")->capture_default_str();
    c->add_option("--seed", trace_opts.seed, "random seed")->capture_default_str();
    c->add_option("--tokens", trace_opts.tokens, "input tokens per request")->capture_default_str();
    c->add_option("--time-scale", trace_opts.time_scale, "divide arrival times by this factor");
    c->add_option("--thin", trace_opts.thin, "rate scale by thinning (<1) or replication (>1)");
    c->add_option("--slice-start", trace_opts.slice_start, "keep arrivals >= this (s)");
    c->add_option("--slice-end", trace_opts.slice_end, "keep arrivals < this (s)");
    c->add_flag("--uniform", trace_opts.uniform, "uniform popularity instead of the power law");
  };
  auto* synth = trace->add_subcommand("synth", "Gamma-process trace with power-law popularity");
  common(synth);
  synth->add_option("--rate", trace_opts.rate, "total requests/s")->capture_default_str();
  synth->add_option("--cv", trace_opts.cv, "coefficient of variation of the gaps")->capture_default_str();
  synth->add_option("--duration", trace_opts.duration, "seconds")->capture_default_str();
  synth->callback([&] {
    trace_opts.mode = "synth";
    rc = run_trace(trace_opts);
  });
  auto* convert = trace->add_subcommand("convert", "convert csv / azure2019 / azure2021 / azure-llm");
  common(convert);
  convert->add_option("-i,--input", trace_opts.inputs, "input trace file(s); repeat to merge")->required();
  convert->add_option("--format", trace_opts.format, "csv | azure2019 | azure2021 | azure-llm")->capture_default_str();
  convert->add_option("--rate-scale", trace_opts.rate_scale, "azure: rate multiplier of the Gamma processes");
  convert->add_option("--cv-scale", trace_opts.cv_scale, "azure: CV (2019) or CV multiplier (2021 fit)");
  convert->add_option("--start-minute", trace_opts.start_minute, "azure2019: first minute of the window");
  convert->add_option("--minutes", trace_opts.minutes, "azure2019: window length in minutes");
  convert->add_flag("--fit-gamma", trace_opts.fit_gamma, "azure2021: per-interval Gamma fit instead of raw");
  convert->add_option("--interval", trace_opts.interval, "azure2021: Gamma-fit interval (s)");
  convert->add_option("--max-seq", trace_opts.max_seq, "azure-llm: clip input tokens to this");
  convert->callback([&] {
    trace_opts.mode = "convert";
    rc = run_trace(trace_opts);
  });
  check_config_options check_opts;
  auto* check = app.add_subcommand("check-config", "validate a deployment file and print it normalized");
  check->add_option("-c,--config", check_opts.config_path, "deployment YAML (default: the embedded default)");
  check->add_flag("--print", check_opts.print, "print the normalized config as YAML");
  check->callback([&] { rc = run_check_config(check_opts); });
  // --- engine commands (gpu/) ---
  run_model_options rm;
  auto* rm_cmd = app.add_subcommand("run-model", "run one forward pass through the sharded engine");
  rm_cmd->add_option("--model", rm.model, "preset name or spec.yaml")->required();
  auto* rm_w = rm_cmd->add_option("--weights", rm.weights, "safetensors file");
  rm_cmd->add_option("--seed", rm.seed, "generate weights from this seed")->excludes(rm_w);
  rm_cmd->add_option("--tp", rm.tp, "tensor-parallel degree")->capture_default_str();
  rm_cmd->add_option("--pp", rm.pp, "pipeline stages")->capture_default_str();
  rm_cmd->add_option("--backend", rm.backend, "cpu|cuda|auto")->capture_default_str();
  rm_cmd->add_option("--tokens", rm.tokens, "token ids, batch sequences of equal length: 1,2,3,4")->required();
  rm_cmd->add_option("--batch", rm.batch, "sequences in --tokens")->capture_default_str();
  rm_cmd->add_option("--output", rm.output, "write the output as .npy instead of printing it");
  rm_cmd->add_option("--budget-mib", rm.budget_mib, "per-device memory budget (0 = default)");
  rm_cmd->add_option("--threads", rm.threads, "cpu backend: OpenBLAS threads (0 = auto)");
  rm_cmd->callback([&] { rc = run_run_model(rm); });

  init_weights_options iw;
  auto* iw_cmd = app.add_subcommand("init-weights", "write seeded weights of a model as safetensors");
  iw_cmd->add_option("--model", iw.model, "preset name or spec.yaml")->required();
  iw_cmd->add_option("--seed", iw.seed, "generator seed")->capture_default_str();
  iw_cmd->add_option("--output", iw.output, "safetensors file to write")->required();
  iw_cmd->add_option("--dtype", iw.dtype, "f32|f16|bf16")->capture_default_str();
  iw_cmd->callback([&] { rc = run_init_weights(iw); });

  CLI::App* bench_cmd = nullptr; // shared with other helpers' bench subcommands: create it once
  try {
    bench_cmd = app.get_subcommand("bench");
  } catch (const CLI::OptionNotFound&) {
    bench_cmd = app.add_subcommand("bench", "benchmarks that print numbers");
    bench_cmd->require_subcommand(1);
  }
  bench_engine_options be;
  auto* be_cmd = bench_cmd->add_subcommand("engine", "forward latency of the cpu backend vs PyTorch CPU");
  be_cmd->add_option("--model", be.model, "preset or spec.yaml")->capture_default_str();
  be_cmd->add_option("--seq", be.seq, "tokens per sequence")->capture_default_str();
  be_cmd->add_option("--batches", be.batches, "batch sizes")->capture_default_str();
  be_cmd->add_option("--threads", be.threads, "threads for OpenBLAS and torch (0 = all cores)");
  be_cmd->add_option("--reps", be.reps, "timed repetitions (median)")->capture_default_str();
  be_cmd->add_flag("!--no-torch", be.torch, "skip the PyTorch comparison");
  be_cmd->add_option("--python", be.python, "python with torch")->capture_default_str();
  be_cmd->callback([&] { rc = run_bench_engine(be); });

  add_generate_command(app, rc);               // apps/generate_cmd.cpp
  add_bench_generate_command(*bench_cmd, rc);  // apps/bench_generate_cmd.cpp
  add_bench_soak_command(*bench_cmd, rc);      // apps/bench_soak_cmd.cpp
  add_policy_host_command(app, rc);            // apps/policy_host_cmd.cpp

  up_options up_opts;
  auto* up = app.add_subcommand("up", "serve a deployment: controller, local node, msgpack + HTTP ingress");
  up->add_option("-c,--config", up_opts.config_path, "deployment YAML (default: the embedded default)");
  up->add_flag("--any-ports", up_opts.any_ports, "bind every listener to a free port (logged)");
  up->add_option("--max-in-flight", up_opts.max_in_flight, "override ingress.max_in_flight");
  up->add_option("--node", up_opts.node, "multi-node configs: the node run in this process (default: the first)");
  up->add_option("--join-timeout", up_opts.join_timeout_s, "multi-node configs: seconds for the other nodes to join")
    ->capture_default_str();
  up->callback([&] { rc = run_up(up_opts); });

  node_options node_opts;
  auto* node = app.add_subcommand("node", "run one node of a multi-node config, joined to `up`'s controller");
  node->add_option("--join", node_opts.join, "HOST:PORT of the controller (the config's controller.address)")
    ->required();
  node->add_option("-c,--config", node_opts.config_path, "the deployment YAML `up` runs");
  node->add_option("--node", node_opts.node, "the config node run here (default: the second of two)");
  node->add_option("--timeout", node_opts.timeout_s, "seconds to keep retrying the controller")->capture_default_str();
  node->callback([&] { rc = run_node(node_opts); });

  policy_options pol;
  auto* policy = app.add_subcommand("policy", "list, show or swap the runtime policies of a running cluster");
  policy->add_option("--http", pol.http, "the cluster's HTTP ingress host:port")->capture_default_str();
  policy->add_option("args", pol.args, "[KIND [NAME [KEY=NUMBER ...]]]: none lists every kind, KIND shows it, "
                                       "KIND NAME swaps it (built-in or plug-in name)");
  policy->callback([&] { rc = run_policy(pol); });

  replay_options rp;
  auto* replay = app.add_subcommand("replay", "replay a trace open-loop and report SLO attainment and latency");
  replay->add_option("--target", rp.target, "host:port of a running msgpack ingress (default: serve -c here)");
  replay->add_option("-c,--config", rp.config_path, "deployment YAML (default: the embedded default)");
  replay->add_option("--trace", rp.trace_path, "trace file (default: a synthetic trace)");
  replay->add_option("--format", rp.format, "csv|azure2019|azure2021|azure-llm")->capture_default_str();
  replay->add_option("--models", rp.models, "comma-separated model names (default: the config's)");
  replay->add_option("--rate", rp.rate, "synthetic: requests/s over all models")->capture_default_str();
  replay->add_option("--cv", rp.cv, "synthetic: CV of inter-arrival gaps")->capture_default_str();
  replay->add_option("--duration", rp.duration_s, "synthetic: seconds")->capture_default_str();
  replay->add_option("--seed", rp.seed, "seed of generated or assigned traces")->capture_default_str();
  replay->add_option("--tokens", rp.tokens, "input tokens per request (synthetic, Azure Functions)")
    ->capture_default_str();
  replay->add_option("--time-scale", rp.time_scale, "arrival / factor (> 1 compresses time)")->capture_default_str();
  replay->add_option("--connections", rp.connections, "TCP connections to the ingress")->capture_default_str();
  replay->add_option("--answer-timeout", rp.answer_timeout_s, "seconds to wait for answers after the last send")
    ->capture_default_str();
  replay->add_option("--warmup", rp.warmup_s, "seconds trimmed from each end in the summary (sim compat: 10)")
    ->capture_default_str();
  replay->add_option("--records", rp.records_path, "per-request CSV output");
  replay->add_option("--summary", rp.summary_path, "summary JSON output");
  replay->add_option("--plots", rp.plots_dir, "directory for latency CDF and attainment PNGs");
  replay->add_flag("--no-progress", rp.no_progress, "no progress bar even on a terminal");
  replay->add_flag("--simulate", rp.simulate, "simulate the trace on the config's placement instead of serving it");
  replay->add_option("--profile", rp.sim_profile, "--simulate: profile database (.json or .msgpack)");
  replay->add_option("--hardware", rp.sim_hardware, "--simulate: analytic profile of this GPU (V100-16GB, ...)");
  replay->add_option("--sim-mode", rp.sim_mode, "--simulate: compat|batching|swapping")->capture_default_str();
  replay->add_option("--slo-scale", rp.slo_scale, "--simulate: SLO = scale x latency for models without slo_ms")
    ->capture_default_str();
  replay->callback([&] { rc = run_replay(rp); });

  // --- sim: simulate, plan, bench sim, bench planner ---------------------------------------------------
  auto add_inputs = [](CLI::App* c, sim_input_options& in) {
    c->add_option("-c,--config", in.config_path, "deployment YAML: its models (specs, slo_ms), devices and memory "
                                                 "(explicit flags win over it)");
    c->add_option("--profile", in.profile, "profile database (.json or .msgpack)");
    c->add_option("--hardware", in.hardware, "analytic profile of this GPU (V100-16GB, A100-40GB, H100-80GB)");
    c->add_option("--models", in.models, "models for --hardware / synthetic traces: preset[:copies],...");
    c->add_option("--trace,--workload", in.trace,
                  "trace CSV (arrival_s,model,input_tokens[,slo_ms]); default: a synthetic trace (--rate, --cv, ...)");
    c->add_option("--rate", in.rate, "synthetic: total requests/s (0: 10 per model)");
    c->add_option("--cv", in.cv, "synthetic: coefficient of variation of inter-arrival gaps")->capture_default_str();
    c->add_option("--duration", in.duration_s, "synthetic: seconds")->capture_default_str();
    c->add_option("--popularity", in.popularity, "synthetic: power-law exponent of model rates")->capture_default_str();
    c->add_option("--seed", in.seed, "synthetic: seed")->capture_default_str();
    c->add_option("--slo-scale", in.slo_scale, "SLO = scale x single-GPU latency (models without -c's slo_ms)")
      ->capture_default_str();
  };
  simulate_options simulate_opts;
  auto* simulate = app.add_subcommand("simulate", "simulate a placement plan on a trace (fast simulator)");
  add_inputs(simulate, simulate_opts.in);
  simulate->add_option("--plan", simulate_opts.plan, "plan YAML (switchyard plan)")->required();
  simulate->add_option("--mode", simulate_opts.mode, "compat|batching|swapping")->capture_default_str();
  simulate->add_option("--mem-budget-gib", simulate_opts.mem_budget_gib,
                       "swapping: per-GPU budget (default: -c's smallest device memory, else 13)");
  simulate->add_option("--eviction", simulate_opts.eviction,
                       "swapping: lru|demand-aware (the runtime's policy; default: -c's policies.eviction, else lru)");
  simulate->add_option("--warmup", simulate_opts.warmup_s, "seconds trimmed from each end")->capture_default_str();
  simulate->add_option("--records", simulate_opts.records, "write per-request CSV here");
  simulate->add_option("--summary", simulate_opts.summary, "write the summary JSON here");
  simulate->callback([&] { rc = run_simulate(simulate_opts); });

  plan_options plan_opts;
  auto* plan = app.add_subcommand("plan", "search a placement (AlpaServe mp-search, baselines, swap-aware)");
  add_inputs(plan, plan_opts.in);
  plan->add_option("--policy", plan_opts.policy, "mp-search|mp-search-sep|sr-greedy|sr-replace-<s>|mp-round-robin|"
                                                 "mp-greedy-<k>|swap-aware")->capture_default_str();
  plan->add_option("--devices", plan_opts.devices, "number of GPUs (default: -c's device count, else 8)");
  plan->add_option("--devices-per-node", plan_opts.devices_per_node, "GPUs per node (default: -c's smallest node, else 8)");
  plan->add_option("--mem-budget-gib", plan_opts.mem_budget_gib,
                   "per-GPU weight budget (default: -c's smallest device memory, else 13)");
  plan->add_option("--threads", plan_opts.threads, "parallel candidate evaluation")->capture_default_str();
  plan->add_option("--overcommit", plan_opts.overcommit, "swap-aware: weights per group up to this x budget")
      ->capture_default_str();
  plan->add_option("--output,-o", plan_opts.output, "plan YAML to write")->capture_default_str();
  plan->callback([&] { rc = run_plan(plan_opts); });

  CLI::App* bench = nullptr; // shared with other helpers' bench subcommands: create it once
  try {
    bench = app.get_subcommand("bench");
  } catch (const CLI::OptionNotFound&) {
    bench = app.add_subcommand("bench", "benchmarks that print numbers");
    bench->require_subcommand(1);
  }
  bench_control_plane_options bcp;
  auto* bench_cp = bench->add_subcommand("control-plane", "req/s and latency through ingress -> controller -> "
                                                          "group -> stages with stages that cost nothing");
  bench_cp->add_option("--pipeline", bcp.pipeline, "stages (1, 2, 4)")->capture_default_str();
  bench_cp->add_option("--max-batch", bcp.max_batch, "greedy batching up to this size (1: none)")
    ->capture_default_str();
  bench_cp->add_option("--connections", bcp.connections, "client connections")->capture_default_str();
  bench_cp->add_option("--window", bcp.window, "outstanding requests per connection")->capture_default_str();
  bench_cp->add_option("--duration", bcp.duration_s, "seconds measured")->capture_default_str();
  bench_cp->add_flag("--ingress-only", bcp.ingress_only, "answer from an echo controller (the ingress alone)");
  bench_cp->add_option("--rate", bcp.rate, "open loop at this many requests/s instead of a closed loop")
    ->check(CLI::NonNegativeNumber);
  bench_cp->callback([&] { rc = run_bench_control_plane(bcp); });
  bench_swap_options bsw;
  auto* bench_sw = bench->add_subcommand("swap", "alternating requests to two models that cannot both be "
                                                 "resident, pipeline degree 1, 2, 4");
  bench_sw->add_option("--layers", bsw.layers, "layers per model")->capture_default_str();
  bench_sw->add_option("--hidden", bsw.hidden, "hidden size")->capture_default_str();
  bench_sw->add_option("--requests", bsw.requests, "requests per run (2 pipelined + 2 sequential runs per degree)")->capture_default_str();
  bench_sw->callback([&] { rc = run_bench_swap(bsw); });

  bench_sim_options bench_sim_opts;
  auto* bench_sim = bench->add_subcommand("sim", "simulated requests/s of the compat simulator");
  bench_sim->add_option("--requests", bench_sim_opts.requests)->capture_default_str();
  bench_sim->add_option("--devices", bench_sim_opts.devices)->capture_default_str();
  bench_sim->add_option("--models", bench_sim_opts.models)->capture_default_str();
  bench_sim->add_option("--repeat", bench_sim_opts.repeat)->capture_default_str();
  bench_sim->callback([&] { rc = run_bench_sim(bench_sim_opts); });
  bench_planner_options bench_planner_opts;
  auto* bench_planner = bench->add_subcommand("planner", "wall time of mp-search on the AlpaServe S1-like case");
  bench_planner->add_option("--devices", bench_planner_opts.devices)->capture_default_str();
  bench_planner->add_option("--models", bench_planner_opts.models)->capture_default_str();
  bench_planner->add_option("--rate", bench_planner_opts.rate)->capture_default_str();
  bench_planner->add_option("--cv", bench_planner_opts.cv)->capture_default_str();
  bench_planner->add_option("--duration", bench_planner_opts.duration_s)->capture_default_str();
  bench_planner->add_option("--slo-scale", bench_planner_opts.slo_scale)->capture_default_str();
  bench_planner->add_option("--threads", bench_planner_opts.threads)->capture_default_str();
  bench_planner->add_option("--policy", bench_planner_opts.policy)->capture_default_str();
  bench_planner->callback([&] { rc = run_bench_planner(bench_planner_opts); });

  app.parse_complete_callback([&] {
    if (!sy::set_log_level(log_level))
      throw CLI::ValidationError("--log-level", "unknown level '" + log_level + "'");
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}
