#include "gpu/weights.hpp"

#include <cmath>
#include <cstring>

namespace sy::gpu {

std::int64_t tensor_desc::elements() const {
  std::int64_t n = 1;
  for (auto d : shape)
    n *= d;
  return n;
}

std::vector<tensor_desc> weight_tensors(const model_spec& spec) {
  const std::int64_t h = spec.hidden, f = spec.ffn, v = spec.vocab, s = spec.max_seq;
  const std::int64_t d = spec.head_dim_or_default(), qw = static_cast<std::int64_t>(spec.heads) * d,
                     kw = static_cast<std::int64_t>(spec.kv_heads_or_heads()) * d;
  const std::int64_t fin = spec.ffn_act == ffn_kind::silu_gated ? 2 * f : f;
  const bool norm_bias = spec.norm == norm_kind::layer_norm;
  std::vector<tensor_desc> r;
  r.push_back({"tok_emb", {v, h}});
  if (spec.positions == position_kind::learned)
    r.push_back({"pos_emb", {s, h}});
  if (spec.type_vocab > 0)
    r.push_back({"tok_type_emb", {spec.type_vocab, h}});
  if (spec.embed_norm) {
    r.push_back({"emb_ln.weight", {h}});
    if (norm_bias)
      r.push_back({"emb_ln.bias", {h}});
  }
  for (int i = 0; i < spec.layers; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    r.push_back({p + "ln1.weight", {h}});
    if (norm_bias)
      r.push_back({p + "ln1.bias", {h}});
    r.push_back({p + "attn.qkv.weight", {h, qw + 2 * kw}});
    if (spec.qkv_bias)
      r.push_back({p + "attn.qkv.bias", {qw + 2 * kw}});
    r.push_back({p + "attn.out.weight", {qw, h}});
    if (spec.attn_out_bias)
      r.push_back({p + "attn.out.bias", {h}});
    r.push_back({p + "ln2.weight", {h}});
    if (norm_bias)
      r.push_back({p + "ln2.bias", {h}});
    r.push_back({p + "ffn.in.weight", {h, fin}});
    if (spec.ffn_bias)
      r.push_back({p + "ffn.in.bias", {fin}});
    r.push_back({p + "ffn.out.weight", {f, h}});
    if (spec.ffn_bias)
      r.push_back({p + "ffn.out.bias", {h}});
  }
  if (spec.final_norm) {
    r.push_back({"ln_f.weight", {h}});
    if (norm_bias)
      r.push_back({"ln_f.bias", {h}});
  }
  if (spec.kind == arch::decoder) {
    if (!spec.tied_head)
      r.push_back({"head.weight", {h, v}});
    if (spec.head_bias)
      r.push_back({"head.bias", {v}});
  } else if (spec.pooler) {
    r.push_back({"pool.weight", {h, h}});
    r.push_back({"pool.bias", {h}});
  }
  return r;
}

const host_tensor* weight_set::find(const std::string& name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

std::int64_t weight_set::total_elements() const {
  std::int64_t n = 0;
  for (const auto& [k, t] : tensors)
    n += static_cast<std::int64_t>(t.values.size());
  return n;
}

namespace {

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i)
    r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [-1, 1), exactly representable (24 random bits).
  float symmetric() { return static_cast<float>(static_cast<std::int32_t>(next() >> 40) - (1 << 23)) / (1 << 23); }
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

result<weight_set> generate_weights(const model_spec& spec, std::uint64_t seed) {
  if (auto st = spec.validate(); !st)
    return st.err();
  const float base = 0.02f * std::sqrt(3.0f); // uniform(+-base) has std 0.02
  const float out_scale = 1.0f / std::sqrt(2.0f * static_cast<float>(spec.layers));
  weight_set w;
  for (const auto& d : weight_tensors(spec)) {
    host_tensor t;
    t.shape = d.shape;
    t.values.resize(static_cast<std::size_t>(d.elements()));
    splitmix64 rng{seed ^ fnv1a(d.name)};
    bool norm = d.name.find("ln") != std::string::npos;
    bool weight = ends_with(d.name, ".weight") || d.name == "tok_emb" || d.name == "pos_emb";
    float scale = base;
    if (d.name.find("attn.out.weight") != std::string::npos || d.name.find("ffn.out.weight") != std::string::npos)
      scale *= out_scale;
    for (auto& x : t.values) {
      float u = rng.symmetric();
      if (norm) // non-trivial gammas and betas, so that a wrong norm parameter shows in the output
        x = weight ? 1.0f + 0.1f * u : 0.05f * u;
      else
        x = weight ? scale * u : 0.01f * u;
    }
    w.tensors.emplace(d.name, std::move(t));
  }
  return w;
}

status check_weights(const model_spec& spec, const weight_set& w) {
  auto expected = weight_tensors(spec);
  for (const auto& d : expected) {
    const host_tensor* t = w.find(d.name);
    if (!t)
      return make_error("weights", "model '" + spec.name + "': missing tensor '" + d.name + "' (expected shape " +
                                     shape_str(d.shape) + ")");
    if (t->shape != d.shape)
      return make_error("weights", "model '" + spec.name + "': tensor '" + d.name + "' has shape " +
                                     shape_str(t->shape) + ", expected " + shape_str(d.shape));
    if (static_cast<std::int64_t>(t->values.size()) != d.elements())
      return make_error("weights", "tensor '" + d.name + "' holds " + std::to_string(t->values.size()) +
                                     " values, its shape needs " + std::to_string(d.elements()));
  }
  if (w.tensors.size() != expected.size())
    for (const auto& [name, t] : w.tensors) {
      bool known = false;
      for (const auto& d : expected)
        known = known || d.name == name;
      if (!known)
        return make_error("weights", "model '" + spec.name + "': unexpected tensor '" + name + "'");
    }
  return {};
}

float f16_to_f32(std::uint16_t h) noexcept {
  std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31)
    bits = sign | 0x7f800000u | (mant << 13);
  else
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint16_t f32_to_f16(float f) noexcept {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  std::uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, mant = x & 0x7fffffu;
  if (exp == 0xff)
    return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));
  int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31)
    return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10)
      return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    int shift = 14 - e;
    std::uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u)))
      ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t half = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13), rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
    ++half; // a carry into the exponent rounds up to the next binade or to infinity, as it should
  return static_cast<std::uint16_t>(sign | half);
}

float bf16_to_f32(std::uint16_t h) noexcept {
  std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint16_t f32_to_bf16(float f) noexcept {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<std::uint16_t>((x >> 16) | 0x40u); // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

} // namespace sy::gpu
