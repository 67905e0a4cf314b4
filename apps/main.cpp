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

  up_options up_opts;
  auto* up = app.add_subcommand("up", "serve a deployment: controller, local node, msgpack + HTTP ingress");
  up->add_option("-c,--config", up_opts.config_path, "deployment YAML (default: the embedded default)");
  up->add_flag("--any-ports", up_opts.any_ports, "bind every listener to a free port (logged)");
  up->add_option("--max-in-flight", up_opts.max_in_flight, "override ingress.max_in_flight");
  up->add_option("--node", up_opts.node, "multi-node configs: the node run in this process (default: the first)");
  up->callback([&] { rc = run_up(up_opts); });

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
  replay->callback([&] { rc = run_replay(rp); });

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
  bench_cp->callback([&] { rc = run_bench_control_plane(bcp); });
  bench_swap_options bsw;
  auto* bench_sw = bench->add_subcommand("swap", "alternating requests to two models that cannot both be "
                                                 "resident, pipeline degree 1, 2, 4");
  bench_sw->add_option("--layers", bsw.layers, "layers per model")->capture_default_str();
  bench_sw->add_option("--hidden", bsw.hidden, "hidden size")->capture_default_str();
  bench_sw->add_option("--requests", bsw.requests, "requests per pipeline degree")->capture_default_str();
  bench_sw->callback([&] { rc = run_bench_swap(bsw); });

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
