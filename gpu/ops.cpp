#include "gpu/ops.hpp"

#include <cmath>
#include <string>

namespace sy::gpu {

namespace {
status bad(const char* op, const std::string& what) {
  return make_error("op", std::string{op} + ": " + what);
}
std::string num(long long v) {
  return std::to_string(v);
}
} // namespace

activation ffn_activation(ffn_kind k) noexcept {
  switch (k) {
    case ffn_kind::gelu_tanh: return activation::gelu_tanh;
    case ffn_kind::gelu_erf: return activation::gelu_erf;
    case ffn_kind::relu: return activation::relu;
    case ffn_kind::silu_gated: return activation::silu;
  }
  return activation::none;
}

status gemm_params::check() const {
  if (!a || !b || !c)
    return bad("gemm", "null operand pointer (a, b and c are required)");
  if (m <= 0 || n <= 0 || k <= 0)
    return bad("gemm", "m, n, k must be positive, found " + num(m) + ", " + num(n) + ", " + num(k));
  int a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  if (lda != 0 && lda < a_cols)
    return bad("gemm", "lda " + num(lda) + " is smaller than the row length " + num(a_cols));
  if (ldb != 0 && ldb < b_cols)
    return bad("gemm", "ldb " + num(ldb) + " is smaller than the row length " + num(b_cols));
  if (ldc != 0 && ldc < n)
    return bad("gemm", "ldc " + num(ldc) + " is smaller than n " + num(n));
  return {};
}

status embedding_params::check() const {
  if (!tokens || !tok_emb || !out)
    return bad("embedding", "null pointer (tokens, tok_emb and out are required)");
  if (batch <= 0 || seq <= 0 || hidden <= 0 || vocab <= 0 || max_seq <= 0)
    return bad("embedding", "batch, seq, hidden, vocab, max_seq must be positive");
  if (pos_emb && !positions && seq > max_seq)
    return bad("embedding", "seq " + num(seq) + " exceeds max_seq " + num(max_seq));
  if (type_emb && type_vocab <= 0)
    return bad("embedding", "type_vocab must be positive with a type_emb table, found " + num(type_vocab));
  if (token_types && !type_emb)
    return bad("embedding", "token_types without a type_emb table");
  return {};
}

status layer_norm_params::check() const {
  if (!in || !out || !gamma || (!rms && !beta))
    return bad("layer_norm", rms ? "null pointer (in, out and gamma are required)"
                                 : "null pointer (in, out, gamma and beta are required)");
  if (rms && beta)
    return bad("layer_norm", "an RMS norm has no beta (pass null)");
  if (rows <= 0 || cols <= 0)
    return bad("layer_norm", "rows and cols must be positive, found " + num(rows) + ", " + num(cols));
  if ((in_stride != 0 && in_stride < cols) || (out_stride != 0 && out_stride < cols))
    return bad("layer_norm", "a stride is smaller than cols " + num(cols));
  if (!(eps > 0.0f))
    return bad("layer_norm", "eps must be positive");
  return {};
}

status bias_act_params::check() const {
  if (!x)
    return bad("bias_act", "null x");
  if (rows <= 0 || cols <= 0)
    return bad("bias_act", "rows and cols must be positive, found " + num(rows) + ", " + num(cols));
  return {};
}

status add_params::check() const {
  if (!out || !a || !b)
    return bad("add", "null pointer (out, a and b are required)");
  if (count == 0)
    return bad("add", "count must be positive");
  return {};
}

status attention_params::check() const {
  if (!q || !k || !v || !out)
    return bad("attention", "null pointer (q, k, v and out are required)");
  if (batch <= 0 || seq <= 0 || heads <= 0 || head_dim <= 0)
    return bad("attention", "batch, seq, heads, head_dim must be positive, found " + num(batch) + ", " +
                              num(seq) + ", " + num(heads) + ", " + num(head_dim));
  if (kv_heads < 0 || (kv_heads > 0 && heads % kv_heads != 0))
    return bad("attention", "heads " + num(heads) + " must be a multiple of kv_heads " + num(kv_heads));
  int w = heads * head_dim, kw = (kv_heads > 0 ? kv_heads : heads) * head_dim;
  for (int s : {q_stride, out_stride})
    if (s != 0 && s < w)
      return bad("attention", "a stride (" + num(s) + ") is smaller than heads * head_dim (" + num(w) + ")");
  for (int s : {k_stride, v_stride})
    if (s != 0 && s < kw)
      return bad("attention", "a stride (" + num(s) + ") is smaller than kv_heads * head_dim (" + num(kw) + ")");
  return {};
}

status rotary_params::check() const {
  if (!x || !positions)
    return bad("rotary", "null pointer (x and positions are required)");
  if (rows <= 0 || heads <= 0 || head_dim <= 0 || head_dim % 2 != 0)
    return bad("rotary", "rows, heads must be positive and head_dim positive and even, found " + num(rows) + ", " +
                           num(heads) + ", " + num(head_dim));
  if (stride != 0 && stride < heads * head_dim)
    return bad("rotary", "stride " + num(stride) + " is smaller than heads * head_dim (" + num(heads * head_dim) + ")");
  if (!(theta > 0.0f) || !(factor > 0.0f))
    return bad("rotary", "theta and factor must be positive");
  if (scaling == rope_scaling_kind::llama3 && (!(high_freq_factor > low_freq_factor) || !(low_freq_factor > 0.0f) ||
                                               original_max_positions <= 0))
    return bad("rotary", "llama3 scaling needs 0 < low_freq_factor < high_freq_factor and original_max_positions > 0");
  return {};
}

rotary_params rotary_for(const model_spec& spec) {
  rotary_params p;
  p.head_dim = spec.head_dim_or_default();
  p.theta = static_cast<float>(spec.rope_theta);
  if (const auto& rs = spec.rope_scaling) {
    p.scaling = rs->type == "llama3" ? rope_scaling_kind::llama3 : rope_scaling_kind::linear;
    p.factor = static_cast<float>(rs->factor);
    p.low_freq_factor = static_cast<float>(rs->low_freq_factor);
    p.high_freq_factor = static_cast<float>(rs->high_freq_factor);
    p.original_max_positions = rs->original_max_position_embeddings;
  }
  p.type = spec.type;
  return p;
}

double rotary_inv_freq(const rotary_params& p, int i) noexcept {
  // transformers: 1 / theta ** (arange(0, d, 2).float() / d), in fp32.
  const float expo = static_cast<float>(2 * i) / static_cast<float>(p.head_dim);
  double f = 1.0 / static_cast<double>(std::pow(p.theta, expo));
  if (p.scaling != rope_scaling_kind::llama3)
    return f;
  const double pi = 3.14159265358979323846;
  const double low_wavelen = p.original_max_positions / static_cast<double>(p.low_freq_factor);
  const double high_wavelen = p.original_max_positions / static_cast<double>(p.high_freq_factor);
  const double wavelen = 2 * pi / f;
  if (wavelen < high_wavelen)
    return f;
  if (wavelen > low_wavelen)
    return f / p.factor;
  const double smooth = (p.original_max_positions / wavelen - p.low_freq_factor) /
                        (static_cast<double>(p.high_freq_factor) - p.low_freq_factor);
  return (1 - smooth) * f / p.factor + smooth * f;
}

status gated_act_params::check() const {
  if (!in || !out)
    return bad("gated_act", "null pointer (in and out are required)");
  if (in == out)
    return bad("gated_act", "out must not alias in");
  if (rows <= 0 || cols <= 0)
    return bad("gated_act", "rows and cols must be positive, found " + num(rows) + ", " + num(cols));
  return {};
}

status pool_params::check() const {
  if (!in || !out)
    return bad("pool", "null pointer (in and out are required)");
  if (in == out)
    return bad("pool", "out must not alias in");
  if (batch <= 0 || cols <= 0 || (!seq_starts && seq <= 0))
    return bad("pool", "batch, cols (and seq without seq_starts) must be positive, found " + num(batch) + ", " +
                         num(cols) + ", " + num(seq));
  return {};
}

status convert_params::check() const {
  if (!src || !dst)
    return bad("convert", "null pointer (src and dst are required)");
  if (count == 0)
    return bad("convert", "count must be positive");
  return {};
}

status paged_kv::check(const char* op) const {
  if (!block_tables || !query_start || !context_lens)
    return bad(op, "null pointer (block_tables, query_start and context_lens are required)");
  if (seqs <= 0 || tokens <= 0)
    return bad(op, "seqs and tokens must be positive, found " + num(seqs) + ", " + num(tokens));
  if (kv_heads <= 0 || head_dim <= 0 || block_tokens <= 0)
    return bad(op, "kv_heads, head_dim, block_tokens must be positive, found " + num(kv_heads) + ", " +
                     num(head_dim) + ", " + num(block_tokens));
  if (layers <= 0 || layer < 0 || layer >= layers)
    return bad(op, "layer must be in [0, layers), found layer " + num(layer) + " of " + num(layers));
  if (max_context < 1)
    return bad(op, "max_context must be positive, found " + num(max_context));
  long long need = (static_cast<long long>(max_context) + block_tokens - 1) / block_tokens;
  if (max_blocks < need)
    return bad(op, "max_blocks " + num(max_blocks) + " cannot hold max_context " + num(max_context) +
                     " tokens in blocks of " + num(block_tokens) + " (needs " + num(need) + ")");
  return {};
}

status kv_append_params::check() const {
  if (auto st = kv.check("kv_append"); !st)
    return st;
  if (!k || !v)
    return bad("kv_append", "null pointer (k and v are required)");
  int w = kv.kv_heads * kv.head_dim;
  for (int s : {k_stride, v_stride})
    if (s != 0 && s < w)
      return bad("kv_append", "a stride (" + num(s) + ") is smaller than kv_heads * head_dim (" + num(w) + ")");
  return {};
}

status paged_attention_params::check() const {
  if (auto st = kv.check("paged_attention"); !st)
    return st;
  if (!q || !out)
    return bad("paged_attention", "null pointer (q and out are required)");
  if (q == out)
    return bad("paged_attention", "out must not alias q");
  if (heads <= 0 || heads % kv.kv_heads != 0)
    return bad("paged_attention", "heads must be a positive multiple of kv_heads " + num(kv.kv_heads) +
                                    ", found " + num(heads));
  int w = heads * kv.head_dim;
  for (int s : {q_stride, out_stride})
    if (s != 0 && s < w)
      return bad("paged_attention",
                 "a stride (" + num(s) + ") is smaller than heads * head_dim (" + num(w) + ")");
  return {};
}

} // namespace sy::gpu
