// check() of the kernel params structs (host side, plain C++).
#include <climits>
#include <string>
#include <utility>

#include "gpu/cuda/internal/check_util.hpp"
#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {

using internal::field_error;
using internal::null_error;

namespace {
bool valid_type(dtype t) {
  return t == dtype::f32 || t == dtype::f16 || t == dtype::bf16;
}
error type_error(const char* kernel, dtype t) {
  return field_error(kernel, "type", "f32, f16 or bf16", static_cast<long long>(t));
}
} // namespace

status embedding_params::check() const {
  constexpr const char* k = "embedding";
  if (!valid_type(type))
    return type_error(k, type);
  if (tokens == nullptr)
    return null_error(k, "tokens");
  if (tok_table == nullptr)
    return null_error(k, "tok_table");
  if (out == nullptr)
    return null_error(k, "out");
  if (batch <= 0)
    return field_error(k, "batch", "positive", batch);
  if (seq <= 0)
    return field_error(k, "seq", "positive", seq);
  if (hidden <= 0)
    return field_error(k, "hidden", "positive", hidden);
  if (vocab <= 0)
    return field_error(k, "vocab", "positive", vocab);
  if (pos_offset < 0)
    return field_error(k, "pos_offset", "non-negative", pos_offset);
  if (type_table != nullptr && type_vocab <= 0)
    return field_error(k, "type_vocab", "positive with a type_table", type_vocab);
  if (token_types != nullptr && type_table == nullptr)
    return make_error("kernel", "embedding: token_types without a type_table");
  if (pos_table != nullptr && positions == nullptr && static_cast<long long>(pos_offset) + seq > max_seq)
    return make_error("kernel", "embedding: pos_offset + seq must be at most max_seq (" + std::to_string(max_seq) +
                                  "), found " + std::to_string(static_cast<long long>(pos_offset) + seq));
  return {};
}

status layer_norm_params::check() const {
  constexpr const char* k = "layer_norm";
  if (!valid_type(type))
    return type_error(k, type);
  if (in == nullptr)
    return null_error(k, "in");
  if (gamma == nullptr)
    return null_error(k, "gamma");
  if (beta == nullptr && !rms)
    return null_error(k, "beta");
  if (beta != nullptr && rms)
    return make_error("kernel", "layer_norm: an RMS norm has no beta (pass null)");
  if (out == nullptr)
    return null_error(k, "out");
  if (rows <= 0 || rows > INT_MAX)
    return field_error(k, "rows", "in [1, 2^31)", rows);
  if (cols <= 0)
    return field_error(k, "cols", "positive", cols);
  if (in_stride != 0 && in_stride < cols)
    return field_error(k, "in_stride", "0 or at least cols", in_stride);
  if (out_stride != 0 && out_stride < cols)
    return field_error(k, "out_stride", "0 or at least cols", out_stride);
  if (!(eps > 0.0f))
    return make_error("kernel", "layer_norm: eps must be positive, found " + std::to_string(eps));
  return {};
}

status bias_act_params::check() const {
  constexpr const char* k = "bias_act";
  if (!valid_type(type))
    return type_error(k, type);
  if (in == nullptr)
    return null_error(k, "in");
  if (out == nullptr)
    return null_error(k, "out");
  if (rows <= 0)
    return field_error(k, "rows", "positive", rows);
  if (cols <= 0)
    return field_error(k, "cols", "positive", cols);
  if (ld != 0 && ld < cols)
    return field_error(k, "ld", "0 or at least cols", ld);
  if (static_cast<int>(act) > static_cast<int>(activation::silu))
    return field_error(k, "act", "none, gelu_tanh, tanh, gelu_erf, relu or silu", static_cast<long long>(act));
  return {};
}

status convert_params::check() const {
  constexpr const char* k = "convert";
  if (!valid_type(src_type))
    return type_error(k, src_type);
  if (!valid_type(dst_type))
    return type_error(k, dst_type);
  if (src == nullptr)
    return null_error(k, "src");
  if (dst == nullptr)
    return null_error(k, "dst");
  if (count <= 0)
    return field_error(k, "count", "positive", count);
  return {};
}

status residual_add_params::check() const {
  constexpr const char* k = "residual_add";
  if (!valid_type(type))
    return type_error(k, type);
  if (a == nullptr)
    return null_error(k, "a");
  if (b == nullptr)
    return null_error(k, "b");
  if (out == nullptr)
    return null_error(k, "out");
  if (rows <= 0)
    return field_error(k, "rows", "positive", rows);
  if (cols <= 0)
    return field_error(k, "cols", "positive", cols);
  return {};
}

status attention_params::check() const {
  constexpr const char* k = "attention";
  if (!valid_type(type))
    return type_error(k, type);
  if (q == nullptr)
    return null_error(k, "q");
  if (this->k == nullptr)
    return null_error(k, "k");
  if (v == nullptr)
    return null_error(k, "v");
  if (out == nullptr)
    return null_error(k, "out");
  if (batch <= 0 || batch > 65535)
    return field_error(k, "batch", "in [1, 65535]", batch);
  if (seq <= 0)
    return field_error(k, "seq", "positive", seq);
  if (heads <= 0 || heads > 65535)
    return field_error(k, "heads", "in [1, 65535]", heads);
  if (head_dim <= 0 || head_dim > 256)
    return field_error(k, "head_dim", "in [1, 256]", head_dim);
  if (kv_heads < 0 || (kv_heads > 0 && heads % kv_heads != 0))
    return field_error(k, "kv_heads", "0 or a divisor of heads", kv_heads);
  if (seq_lens != nullptr && seq_starts != nullptr)
    return make_error("kernel", "attention: seq_lens and seq_starts are exclusive");
  const long long width = static_cast<long long>(heads) * head_dim;
  const long long kv_width = static_cast<long long>(kv_heads > 0 ? kv_heads : heads) * head_dim;
  const std::pair<const char*, std::int64_t> strides[] = {{"q_stride", q_stride}, {"out_stride", out_stride}};
  for (const auto& [name, s] : strides)
    if (s != 0 && s < width)
      return field_error(k, name, "0 or at least heads*head_dim", s);
  const std::pair<const char*, std::int64_t> kv_strides[] = {{"k_stride", k_stride}, {"v_stride", v_stride}};
  for (const auto& [name, s] : kv_strides)
    if (s != 0 && s < kv_width)
      return field_error(k, name, "0 or at least kv_heads*head_dim", s);
  if (out == q || out == this->k || out == v)
    return make_error("kernel", "attention: out must not alias q, k or v");
  if (scale < 0.0f || !(scale == scale))
    return make_error("kernel", "attention: scale must be 0 (default) or positive, found " + std::to_string(scale));
  return {};
}

} // namespace sy::gpu::cuda
