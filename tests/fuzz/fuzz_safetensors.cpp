// Fuzz target: safetensors files (gpu/safetensors.cpp parse_safetensors): the 8-byte header length, the
// JSON header, dtypes, shapes and data offsets. Oracle: every tensor read has as many values as its shape
// says.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gpu/weights.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto w = sy::gpu::parse_safetensors(bytes, "fuzz.safetensors");
  if (!w.ok())
    return 0;
  for (const auto& [name, t] : w->tensors) {
    std::size_t n = 1;
    for (auto d : t.shape)
      n *= static_cast<std::size_t>(d);
    if (n != t.values.size()) {
      std::fprintf(stderr, "fuzz_safetensors: tensor %s has %zu values for its shape's %zu\n", name.c_str(),
                   t.values.size(), n);
      std::abort();
    }
  }
  return 0;
}
