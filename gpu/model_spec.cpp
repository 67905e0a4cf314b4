#include "gpu/model_spec.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace sy::gpu {

std::size_t dtype_size(dtype t) noexcept {
  return t == dtype::f32 ? 4 : 2;
}

std::string_view to_string(dtype t) noexcept {
  switch (t) {
    case dtype::f32: return "f32";
    case dtype::f16: return "f16";
    case dtype::bf16: return "bf16";
  }
  return "?";
}

std::string_view to_string(arch a) noexcept {
  return a == arch::decoder ? "decoder" : "encoder";
}

namespace {
std::string lower(std::string_view s) {
  std::string r{s};
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return std::tolower(c); });
  return r;
}
} // namespace

result<dtype> parse_dtype(std::string_view s) {
  auto l = lower(s);
  if (l == "f32" || l == "fp32" || l == "float32")
    return dtype::f32;
  if (l == "f16" || l == "fp16" || l == "float16" || l == "half")
    return dtype::f16;
  if (l == "bf16" || l == "bfloat16")
    return dtype::bf16;
  return make_error("spec", "unknown dtype '" + std::string{s} + "', expected one of f32, f16, bf16");
}

result<arch> parse_arch(std::string_view s) {
  auto l = lower(s);
  if (l == "decoder" || l == "gpt" || l == "opt")
    return arch::decoder;
  if (l == "encoder" || l == "bert")
    return arch::encoder;
  return make_error("spec", "unknown architecture '" + std::string{s} + "', expected decoder or encoder");
}

status model_spec::validate() const {
  auto positive = [&](const char* key, int v) -> status {
    if (v <= 0)
      return make_error("spec", "model '" + name + "': " + key + " must be a positive integer, found " +
                                  std::to_string(v));
    return {};
  };
  for (auto [k, v] : {std::pair{"layers", layers}, {"hidden", hidden}, {"heads", heads}, {"ffn", ffn},
                      {"vocab", vocab}, {"max_seq", max_seq}})
    if (auto st = positive(k, v); !st)
      return st;
  auto bad = [&](const std::string& m) { return make_error("spec", "model '" + name + "': " + m); };
  if (head_dim < 0)
    return bad("head_dim must be >= 0 (0 = hidden / heads), found " + std::to_string(head_dim));
  if (head_dim == 0 && hidden % heads != 0)
    return bad("hidden (" + std::to_string(hidden) + ") must be divisible by heads (" +
               std::to_string(heads) + ")");
  if (kv_heads < 0)
    return bad("kv_heads must be >= 0 (0 = heads), found " + std::to_string(kv_heads));
  if (heads % kv_heads_or_heads() != 0)
    return bad("heads (" + std::to_string(heads) + ") must be divisible by kv_heads (" +
               std::to_string(kv_heads) + ")");
  if (!(norm_eps > 0))
    return bad("norm_eps must be positive, found " + std::to_string(norm_eps));
  if (type_vocab < 0)
    return bad("type_vocab must be >= 0, found " + std::to_string(type_vocab));
  if (positions == position_kind::rotary) {
    if (head_dim_or_default() % 2 != 0)
      return bad("rotary positions need an even head_dim, found " + std::to_string(head_dim_or_default()));
    if (!(rope_theta > 0))
      return bad("rope_theta must be positive, found " + std::to_string(rope_theta));
  }
  if (rope_scaling) {
    if (positions != position_kind::rotary)
      return bad("rope_scaling needs rotary positions");
    if (rope_scaling->type != "linear" && rope_scaling->type != "llama3")
      return bad("rope_scaling type '" + rope_scaling->type + "' is not supported, expected linear or llama3");
    if (!(rope_scaling->factor > 0))
      return bad("rope_scaling factor must be positive, found " + std::to_string(rope_scaling->factor));
  }
  return {};
}

std::string_view to_string(norm_kind k) noexcept {
  return k == norm_kind::layer_norm ? "layer_norm" : "rms_norm";
}
std::string_view to_string(ffn_kind k) noexcept {
  switch (k) {
    case ffn_kind::gelu_tanh: return "gelu_tanh";
    case ffn_kind::gelu_erf: return "gelu_erf";
    case ffn_kind::relu: return "relu";
    case ffn_kind::silu_gated: return "silu_gated";
  }
  return "?";
}
std::string_view to_string(position_kind k) noexcept {
  return k == position_kind::learned ? "learned" : "rotary";
}
std::string_view to_string(family f) noexcept {
  switch (f) {
    case family::native: return "native";
    case family::gpt2: return "gpt2";
    case family::opt: return "opt";
    case family::llama: return "llama";
    case family::bert: return "bert";
  }
  return "?";
}

namespace {
template <class E, std::size_t N>
result<E> parse_enum(std::string_view s, const char* what, const std::pair<const char*, E> (&table)[N]) {
  auto l = lower(s);
  std::string expected;
  for (auto& [n, v] : table) {
    if (l == n)
      return v;
    expected += expected.empty() ? n : std::string{", "} + n;
  }
  return make_error("spec", std::string{"unknown "} + what + " '" + std::string{s} + "', expected one of " +
                              expected);
}
} // namespace

result<norm_kind> parse_norm_kind(std::string_view s) {
  static const std::pair<const char*, norm_kind> t[] = {{"layer_norm", norm_kind::layer_norm},
                                                        {"rms_norm", norm_kind::rms_norm}};
  return parse_enum(s, "norm", t);
}
result<ffn_kind> parse_ffn_kind(std::string_view s) {
  static const std::pair<const char*, ffn_kind> t[] = {{"gelu_tanh", ffn_kind::gelu_tanh},
                                                       {"gelu_erf", ffn_kind::gelu_erf},
                                                       {"relu", ffn_kind::relu},
                                                       {"silu_gated", ffn_kind::silu_gated}};
  return parse_enum(s, "ffn activation", t);
}
result<position_kind> parse_position_kind(std::string_view s) {
  static const std::pair<const char*, position_kind> t[] = {{"learned", position_kind::learned},
                                                            {"rotary", position_kind::rotary}};
  return parse_enum(s, "positions", t);
}
result<family> parse_family(std::string_view s) {
  static const std::pair<const char*, family> t[] = {{"native", family::native}, {"gpt2", family::gpt2},
                                                     {"opt", family::opt},       {"llama", family::llama},
                                                     {"bert", family::bert}};
  return parse_enum(s, "family", t);
}

// Parameter counts follow weight_tensors(spec) (gpu/weights.cpp) tensor for tensor: GQA's narrower k/v,
// SwiGLU's gate|up, RMSNorm without a bias, optional biases, tied heads counted once.
namespace {
std::int64_t norm_params(const model_spec& s) {
  return s.norm == norm_kind::layer_norm ? 2 * std::int64_t{s.hidden} : s.hidden;
}
std::int64_t qkv_width(const model_spec& s) {
  return std::int64_t{s.heads + 2 * s.kv_heads_or_heads()} * s.head_dim_or_default();
}
std::int64_t ffn_in_width(const model_spec& s) {
  return s.ffn_act == ffn_kind::silu_gated ? 2 * std::int64_t{s.ffn} : s.ffn;
}
} // namespace

std::int64_t model_spec::layer_params() const {
  const std::int64_t h = hidden, f = ffn, q = qkv_width(*this), fin = ffn_in_width(*this);
  const std::int64_t attn_in = std::int64_t{heads} * head_dim_or_default();
  return 2 * norm_params(*this)                 // ln1, ln2
         + h * q + (qkv_bias ? q : 0)             // qkv
         + attn_in * h + (attn_out_bias ? h : 0)  // attention out
         + h * fin + (ffn_bias ? fin : 0)         // ffn in (gate|up for SwiGLU)
         + f * h + (ffn_bias ? h : 0);            // ffn out
}

std::int64_t model_spec::embedding_params() const {
  const std::int64_t h = hidden;
  return std::int64_t{vocab} * h + (positions == position_kind::learned ? std::int64_t{max_seq} * h : 0) +
         std::int64_t{type_vocab} * h + (embed_norm ? norm_params(*this) : 0);
}

std::int64_t model_spec::head_params() const {
  const std::int64_t h = hidden;
  std::int64_t norm = final_norm ? norm_params(*this) : 0;
  if (kind == arch::decoder)
    return norm + (tied_head ? 0 : std::int64_t{vocab} * h) + (head_bias ? vocab : 0);
  return norm + (pooler ? h * h + h : 0);
}

std::int64_t model_spec::total_params() const {
  return embedding_params() + layers * layer_params() + head_params();
}

std::int64_t model_spec::weight_bytes() const {
  return total_params() * static_cast<std::int64_t>(dtype_size(type));
}

double model_spec::layer_flops(int tokens) const {
  const double n = tokens, h = hidden, f = ffn, q = static_cast<double>(qkv_width(*this)),
               fin = static_cast<double>(ffn_in_width(*this));
  const double attn_in = static_cast<double>(heads) * head_dim_or_default();
  const double gemm = 2.0 * n * (h * q + attn_in * h + h * fin + f * h);
  const double attn = 2.0 * 2.0 * n * n * attn_in; // QK^T and PV over every query head
  return gemm + attn;
}

namespace {
model_spec make(std::string name, arch a, int layers, int hidden, int heads, int vocab, int seq, dtype t) {
  return model_spec{std::move(name), a, layers, hidden, heads, 4 * hidden, vocab, seq, t};
}
/// facebook/opt-*: ReLU, pre-LN, learned positions (offset 2), tied head without bias, vocab 50272,
/// 2048 positions, float16.
model_spec opt(std::string name, int layers, int hidden, int heads, int ffn) {
  model_spec s{std::move(name), arch::decoder, layers, hidden, heads, ffn, 50272, 2048, dtype::f16};
  s.fam = family::opt;
  s.ffn_act = ffn_kind::relu;
  s.tied_head = true;
  s.head_bias = false;
  return s;
}
/// meta-llama/*: RMSNorm 1e-5, rotary, SwiGLU, GQA where kv < heads, no biases, untied head.
model_spec llama(std::string name, int layers, int hidden, int heads, int kv, int ffn, int vocab, int seq,
                 double theta, dtype t) {
  model_spec s{std::move(name), arch::decoder, layers, hidden, heads, ffn, vocab, seq, t};
  s.fam = family::llama;
  s.kv_heads = kv == heads ? 0 : kv;
  s.norm = norm_kind::rms_norm;
  s.norm_eps = 1e-5f;
  s.ffn_act = ffn_kind::silu_gated;
  s.positions = position_kind::rotary;
  s.rope_theta = theta;
  s.qkv_bias = s.attn_out_bias = s.ffn_bias = false;
  s.head_bias = false;
  return s;
}
const std::vector<model_spec>& presets() {
  static const std::vector<model_spec> all = {
    make("tiny-gpt", arch::decoder, 4, 64, 4, 512, 64, dtype::f32),
    make("tiny-bert", arch::encoder, 4, 64, 4, 512, 64, dtype::f32),
    make("small-gpt", arch::decoder, 8, 256, 8, 8192, 256, dtype::f32),
    make("small-bert", arch::encoder, 8, 256, 8, 8192, 256, dtype::f32),
    make("gpt-100m", arch::decoder, 12, 768, 12, 32000, 1024, dtype::f32),
    make("bert-1.3b", arch::encoder, 24, 2048, 32, 51200, 2048, dtype::f16),
    make("bert-2.6b", arch::encoder, 32, 2560, 32, 51200, 2048, dtype::f16),
    make("bert-6.7b", arch::encoder, 32, 4096, 32, 51200, 2048, dtype::f16),
    make("bert-103.5b", arch::encoder, 128, 8192, 64, 51200, 1024, dtype::f16),
    // Real shapes from the published config.json files (no weights), for planning at scale.
    opt("opt-1.3b", 24, 2048, 32, 8192),
    opt("opt-6.7b", 32, 4096, 32, 16384),
    opt("opt-13b", 40, 5120, 40, 20480),
    opt("opt-30b", 48, 7168, 56, 28672),
    llama("llama-2-7b", 32, 4096, 32, 32, 11008, 32000, 4096, 10000.0, dtype::f16),
    llama("llama-2-13b", 40, 5120, 40, 40, 13824, 32000, 4096, 10000.0, dtype::f16),
    llama("llama-3-8b", 32, 4096, 32, 8, 14336, 128256, 8192, 500000.0, dtype::bf16),
  };
  return all;
}
} // namespace

result<model_spec> preset(std::string_view name) {
  for (const auto& p : presets())
    if (p.name == name)
      return p;
  std::string known;
  for (const auto& p : presets())
    known += (known.empty() ? "" : ", ") + p.name;
  return make_error("spec", "unknown model preset '" + std::string{name} + "', known presets: " + known);
}

std::vector<std::string> preset_names() {
  std::vector<std::string> r;
  for (const auto& p : presets())
    r.push_back(p.name);
  return r;
}

} // namespace sy::gpu
