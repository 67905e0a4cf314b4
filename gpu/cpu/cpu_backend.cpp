#include "gpu/backend.hpp"

namespace sy::gpu {

result<std::unique_ptr<backend>> make_cpu_backend(const backend_options&) {
  return make_error("backend", "cpu backend: not implemented yet");
}

} // namespace sy::gpu
