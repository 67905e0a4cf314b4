#include "gpu/ops.hpp"

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
  if (!tokens || !tok_emb || !pos_emb || !out)
    return bad("embedding", "null pointer (tokens, tok_emb, pos_emb and out are required)");
  if (batch <= 0 || seq <= 0 || hidden <= 0 || vocab <= 0 || max_seq <= 0)
    return bad("embedding", "batch, seq, hidden, vocab, max_seq must be positive");
  if (seq > max_seq)
    return bad("embedding", "seq " + num(seq) + " exceeds max_seq " + num(max_seq));
  return {};
}

status layer_norm_params::check() const {
  if (!in || !out || !gamma || !beta)
    return bad("layer_norm", "null pointer (in, out, gamma and beta are required)");
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
  int w = heads * head_dim;
  for (int s : {q_stride, k_stride, v_stride, out_stride})
    if (s != 0 && s < w)
      return bad("attention", "a stride (" + num(s) + ") is smaller than heads * head_dim (" + num(w) + ")");
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
