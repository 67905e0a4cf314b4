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
