#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/model_arg.hpp"
#include "gpu/weights.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

int run_init_weights(const init_weights_options& o) {
  auto log = logger("engine");
  auto spec = load_model_arg(o.model);
  if (!spec) {
    log->error("{}", spec.err().to_string());
    return 2;
  }
  auto type = gpu::parse_dtype(o.dtype);
  if (!type) {
    log->error("--dtype: {}", type.err().message);
    return 2;
  }
  if (o.seed < 0) {
    log->error("--seed must be non-negative, found {}", o.seed);
    return 2;
  }
  auto w = gpu::generate_weights(*spec, static_cast<std::uint64_t>(o.seed));
  if (!w) {
    log->error("{}", w.err().to_string());
    return 1;
  }
  if (auto st = gpu::write_safetensors(o.output, *w, *type); !st) {
    log->error("{}", st.err().to_string());
    return 1;
  }
  log->info("wrote {} tensors ({} parameters, {}) of '{}' seed {} to {}", w->tensors.size(), w->total_elements(),
            gpu::to_string(*type), spec->name, o.seed, o.output);
  return 0;
}

void add_init_weights_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<init_weights_options>();
  auto* iw_cmd = app.add_subcommand("init-weights", "write seeded weights of a model as safetensors");
  iw_cmd->add_option("--model", o->model, "preset name or spec.yaml")->required();
  iw_cmd->add_option("--seed", o->seed, "generator seed")->capture_default_str();
  iw_cmd->add_option("--output", o->output, "safetensors file to write")->required();
  iw_cmd->add_option("--dtype", o->dtype, "f32|f16|bf16")->capture_default_str();
  iw_cmd->callback([o, &rc] { rc = run_init_weights(*o); });
}

} // namespace sy::apps
