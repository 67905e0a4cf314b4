#pragma once
// Model weights on the host: the canonical tensor names and shapes of a model_spec, a seeded generator,
// and safetensors I/O (our own reader/writer). Values are held as f32 on the host; files may hold
// F32, F16 or BF16 (converted on read/write). Value types; functions are thread-safe (no shared state).
//
// Tensor names and shapes (h = hidden, f = ffn, V = vocab, S = max_seq). Linear weights are stored
// [in, out] so that y = x W + b (the transpose of torch.nn.Linear.weight):
//   tok_emb                 [V, h]        pos_emb                 [S, h]
//   layers.{i}.ln1.weight   [h]           layers.{i}.ln1.bias     [h]
//   layers.{i}.attn.qkv.weight [h, 3h]    layers.{i}.attn.qkv.bias [3h]   columns: q | k | v, head j of each
//                                                                         at [j*d, (j+1)*d), d = h/heads
//   layers.{i}.attn.out.weight [h, h]     layers.{i}.attn.out.bias [h]
//   layers.{i}.ln2.weight   [h]           layers.{i}.ln2.bias     [h]
//   layers.{i}.ffn.in.weight  [h, f]      layers.{i}.ffn.in.bias  [f]
//   layers.{i}.ffn.out.weight [f, h]      layers.{i}.ffn.out.bias [h]
//   ln_f.weight             [h]           ln_f.bias               [h]
//   decoder: head.weight    [h, V]        head.bias               [V]
//   encoder: pool.weight    [h, h]        pool.bias               [h]
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gpu/model_spec.hpp"
#include "messages/result.hpp"

namespace sy::gpu {

struct tensor_desc {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t elements() const;
};

/// All tensors of `spec` in canonical order (the order the generator and the writer use).
std::vector<tensor_desc> weight_tensors(const model_spec& spec);

struct host_tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

/// Named f32 tensors. A plain map; find() returns null for a missing name.
struct weight_set {
  std::map<std::string, host_tensor> tensors;
  const host_tensor* find(const std::string& name) const;
  std::int64_t total_elements() const;
};

/// Deterministic weights for `spec` from `seed` (same seed + spec -> same bits on every machine):
/// layer-norm gammas 1 and betas 0, biases small, other weights uniform in +-0.02 * sqrt(3) (std 0.02;
/// output projections scaled by 1/sqrt(2*layers)) so that activations stay O(1) through the layers.
result<weight_set> generate_weights(const model_spec& spec, std::uint64_t seed);

/// Checks that `w` holds exactly the tensors of `spec` with the right shapes (extra tensors are an error
/// too). The message names the tensor, the expected and the found shape.
status check_weights(const model_spec& spec, const weight_set& w);

/// Writes all tensors of `w` in safetensors format with element type `type` (f32 values are rounded to
/// f16/bf16 to nearest even). The header carries {"__metadata__": {"format": "pt", "switchyard": "1"}}.
status write_safetensors(const std::string& path, const weight_set& w, dtype type);

/// Reads every tensor of a safetensors file and converts it to f32. Errors (category "weights", message
/// starting with the path): unreadable file, truncated header or data, header length beyond the file, bad
/// JSON (with byte offset), a tensor entry without dtype/shape/data_offsets, unsupported dtype (named),
/// data_offsets out of range, overlapping or not matching shape * dtype size.
result<weight_set> read_safetensors(const std::string& path);
/// The same on bytes already in memory; `origin` names them in messages.
result<weight_set> parse_safetensors(const std::string& bytes, const std::string& origin);

/// read_safetensors + check_weights(spec).
result<weight_set> load_weights(const std::string& path, const model_spec& spec);

/// IEEE half / bfloat16 conversions (round to nearest even), used by the readers, writers and backends.
float f16_to_f32(std::uint16_t h) noexcept;
std::uint16_t f32_to_f16(float f) noexcept;
float bf16_to_f32(std::uint16_t h) noexcept;
std::uint16_t f32_to_bf16(float f) noexcept;

} // namespace sy::gpu
