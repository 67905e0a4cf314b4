#pragma once
// Shared by the engine commands: a --model argument (preset name or spec.yaml), --tokens parsing, and a
// .npy writer. Single-threaded helpers.
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/model_spec.hpp"

namespace sy::apps {

/// A preset name, or a YAML file (a path ending in .yaml/.yml or an existing file) with keys name, arch
/// (decoder|encoder), layers, hidden, heads, ffn (default 4*hidden), vocab, max_seq, dtype (default f32).
result<gpu::model_spec> load_model_arg(const std::string& arg);
/// "1,2,3" -> {1, 2, 3}; errors name the bad element.
result<std::vector<std::int32_t>> parse_tokens(const std::string& text);
/// Writes a float32 C-order array of `shape` as .npy (format 1.0).
status write_npy(const std::string& path, const std::vector<float>& data, const std::vector<std::size_t>& shape);

} // namespace sy::apps
