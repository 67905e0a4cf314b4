#pragma once
// model_spec: the description of one transformer model (architecture only, no weights). A value type,
// serializable, shared by the engine, the config, the planner and the simulator.
//
// The architecture (identical on every backend and in the PyTorch reference, tests/reference/):
//   x = tok_emb[tokens] + pos_emb[0..n)                           (stage 0)
//   per layer:  h = x + attn_out(attention(ln1(x)))                pre-LayerNorm, eps 1e-5
//               x = h + ffn_out(gelu_tanh(ffn_in(ln2(h))))
//   attention: heads of size hidden/heads, softmax(QK^T/sqrt(d)) with a causal mask for decoders,
//              bidirectional for encoders
//   last stage: y = ln_f(x); decoder -> logits = head(y[n-1]) ([vocab]);
//               encoder -> pooled = tanh(pool(y[0])) ([hidden])
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "messages/result.hpp"

namespace sy::gpu {

enum class dtype : std::uint8_t { f32, f16, bf16 };
enum class arch : std::uint8_t { decoder, encoder };

std::size_t dtype_size(dtype t) noexcept;
std::string_view to_string(dtype t) noexcept;
std::string_view to_string(arch a) noexcept;
result<dtype> parse_dtype(std::string_view s);   // "f32|fp32|float32", "f16|fp16|float16", "bf16|bfloat16"
result<arch> parse_arch(std::string_view s);     // "decoder|gpt|opt", "encoder|bert"

struct model_spec {
  std::string name;
  arch kind = arch::decoder;
  int layers = 0;
  int hidden = 0;
  int heads = 0;
  int ffn = 0;       // FFN inner size (4*hidden for the presets)
  int vocab = 0;
  int max_seq = 0;
  dtype type = dtype::f32; // weight dtype on the device

  /// Checks positivity and divisibility (hidden % heads == 0). The message names the field.
  [[nodiscard]] status validate() const;

  /// Parameter counts (biases included).
  std::int64_t layer_params() const;      // one transformer layer
  std::int64_t embedding_params() const;  // token + position embeddings
  std::int64_t head_params() const;       // final norm + (head | pooler)
  std::int64_t total_params() const;
  /// Bytes of all weights in `type`.
  std::int64_t weight_bytes() const;
  /// Forward FLOPs of one layer for `tokens` tokens of one sequence (2 per multiply-add).
  double layer_flops(int tokens) const;
};

/// Built-in presets: tiny models for tests and the demo (tiny-gpt, tiny-bert, small-gpt, small-bert,
/// gpt-100m) and AlpaServe's set for planning and simulation (bert-1.3b, bert-2.6b, bert-6.7b, bert-103.5b).
result<model_spec> preset(std::string_view name);
std::vector<std::string> preset_names();

} // namespace sy::gpu
