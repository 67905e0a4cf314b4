#pragma once
// Shared by the engine commands: a --model argument (preset name or spec.yaml), --tokens parsing, opening
// a loaded pipeline, and .npy writers. Single-threaded helpers.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpu/backend.hpp"
#include "gpu/model_spec.hpp"
#include "gpu/pipeline.hpp"

namespace sy::apps {

/// A Hugging Face model folder (a directory with config.json: gpu/hf_checkpoint.hpp), a preset name, or a YAML file (a path ending in .yaml/.yml or an existing file) with keys name, arch
/// (decoder|encoder), layers, hidden, heads, ffn (default 4*hidden), vocab, max_seq, dtype (default f32).
result<gpu::model_spec> load_model_arg(const std::string& arg);
/// "1,2,3" -> {1, 2, 3}; errors name the bad element.
result<std::vector<std::int32_t>> parse_tokens(const std::string& text);
/// The sequences a --tokens list of `tokens` tokens holds: --lengths "3,5" (each positive, adding up to
/// `tokens`) or, when `lengths` is empty, `batch` sequences of equal length. Errors name the option.
result<std::vector<std::size_t>> split_sequences(std::size_t tokens, const std::string& lengths, int batch);
/// Writes a float32 C-order array of `shape` as .npy (format 1.0).
status write_npy(const std::string& path, const std::vector<float>& data, const std::vector<std::size_t>& shape);
/// Writes an int64 C-order array of `shape` as .npy (format 1.0).
status write_npy(const std::string& path, const std::vector<std::int64_t>& data,
                 const std::vector<std::size_t>& shape);

/// The engine options run-model and generate share: weights (a safetensors file, else seeded), devices.
struct engine_args {
  std::string weights;      // a Hugging Face folder, a safetensors file; empty: seeded weights
  long long seed = 0;
  gpu::backend_kind kind = gpu::backend_kind::automatic;
  long long budget_mib = 0; // per device, 0 = backend default
  int threads = 0;          // cpu backend: OpenBLAS threads, 0 = auto
};

/// A model loaded onto its devices. `model` is declared last so that it is destroyed before `devices`.
struct loaded_engine {
  std::unique_ptr<gpu::backend> devices;
  std::unique_ptr<gpu::pipeline> model;
};

/// The weights argument of open_engine: `weights` when given, else the model folder when --model is a Hugging
/// Face folder (its files are the weights), else empty (seeded).
std::string weights_arg(const std::string& model, const std::string& weights);

/// Weights (Hugging Face folder, safetensors file or seed) -> tp x pp devices of `a.kind` -> pipeline -> loaded. Errors are runtime errors
/// (exit code 1 in the commands); argument errors are the caller's to check first.
result<loaded_engine> open_engine(const gpu::model_spec& spec, const gpu::parallel_layout& layout,
                                  const engine_args& a);

} // namespace sy::apps
