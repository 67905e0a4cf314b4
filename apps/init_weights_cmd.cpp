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

} // namespace sy::apps
