#pragma once
// model_spec: the description of one transformer model (architecture only, no weights). A value type,
// serializable, shared by the engine, the config, the planner and the simulator.
//
// The architecture (defaults = the native one; identical on every backend; tests/reference/):
//   x = tok_emb[tokens] + pos_emb[0..n) [+ tok_type_emb[types]; emb_ln(x) with embed_norm]   (stage 0)
//   per layer:  h = x + attn_out(attention(ln1(x)))   pre-LN (post-LN: h = ln1(x + attn_out(attention(x))))
//               x = h + ffn_out(act(ffn_in(ln2(h))))  act gelu_tanh|gelu_erf|relu, or SwiGLU (silu_gated)
//   attention: heads (kv_heads: GQA) of head_dim, softmax(QK^T/sqrt(d)), causal for decoders, else
//              bidirectional; rotary positions rotate q and k instead of pos_emb; LayerNorm or RMSNorm
//   last stage: y = ln_f(x) (final_norm); decoder -> logits = head(y[n-1]) (tied: tok_emb^T);
//               encoder -> pooled = tanh(pool(y[0])); other outputs: output_kind in gpu/engine.hpp
#include <cstdint>
#include <optional>
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

// Architecture options (issue 8). The defaults reproduce the native architecture above exactly.
enum class norm_kind : std::uint8_t { layer_norm, rms_norm };
enum class ffn_kind : std::uint8_t { gelu_tanh, gelu_erf, relu, silu_gated /* SwiGLU: down(silu(gate x) * up x) */ };
enum class position_kind : std::uint8_t { learned, rotary };
enum class family : std::uint8_t { native, gpt2, opt, llama, bert }; // native = the hand-made architecture

std::string_view to_string(norm_kind k) noexcept;
std::string_view to_string(ffn_kind k) noexcept;
std::string_view to_string(position_kind k) noexcept;
std::string_view to_string(family f) noexcept;
result<norm_kind> parse_norm_kind(std::string_view s);         // "layer_norm", "rms_norm"
result<ffn_kind> parse_ffn_kind(std::string_view s);           // "gelu_tanh", "gelu_erf", "relu", "silu_gated"
result<position_kind> parse_position_kind(std::string_view s); // "learned", "rotary"
result<family> parse_family(std::string_view s);               // "native", "gpt2", "opt", "llama", "bert"

/// Rotary scaling. type "linear": positions divided by factor; "llama3": Llama-3.1 frequency-dependent
/// scaling with low_freq_factor, high_freq_factor and original_max_position_embeddings.
struct rope_scaling_spec {
  std::string type;
  double factor = 1;
  double low_freq_factor = 1;
  double high_freq_factor = 4;
  int original_max_position_embeddings = 8192;
};

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

  // Architecture options; the defaults are the native architecture.
  family fam = family::native;
  int kv_heads = 0;                 // 0: = heads (multi-head); GQA when < heads
  int head_dim = 0;                 // 0: hidden / heads
  norm_kind norm = norm_kind::layer_norm;
  bool pre_norm = true;             // false: post-LN (BERT): x = LN(x + sublayer(x))
  float norm_eps = 1e-5f;
  ffn_kind ffn_act = ffn_kind::gelu_tanh;
  position_kind positions = position_kind::learned;
  double rope_theta = 10000;
  std::optional<rope_scaling_spec> rope_scaling{};
  bool qkv_bias = true, attn_out_bias = true, ffn_bias = true;
  bool tied_head = false;           // head = tok_emb^T, no second copy in host memory
  bool head_bias = true;            // native decoder head has a bias; HF heads have none
  int type_vocab = 0;               // token-type embeddings (BERT); 0 = none
  bool embed_norm = false;          // LayerNorm after the embeddings (BERT)
  bool final_norm = true;           // ln_f before the head/pooler (false for post-LN BERT)
  bool pooler = true;               // encoder: tanh(W h[0] + b) pooler present
  int bos_token = -1, eos_token = -1;

  int kv_heads_or_heads() const noexcept { return kv_heads > 0 ? kv_heads : heads; }
  int head_dim_or_default() const noexcept { return head_dim > 0 ? head_dim : (heads > 0 ? hidden / heads : 0); }

  /// Checks positivity and divisibility (hidden % heads == 0 unless head_dim is set; heads % kv_heads == 0;
  /// rotary needs an even head_dim; rope_scaling type linear|llama3; rms_norm has no bias). The message
  /// names the field.
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
