// The generation-step parts of a stage's forward pass (gpu/internal/forward.cpp calls them where a step
// differs from a one-pass forward): per-sequence embeddings at their positions, paged attention over the
// rank's KV cache, and the gather of each sequence's last row for the head.
#include "gpu/internal/stage_model.hpp"

namespace sy::gpu::internal {

status enqueue_step_embedding(const step_context& c, device& dev, stream s, const std::int32_t* tokens,
                              const void* tok_emb, const void* pos_emb, void* out, const model_spec& spec,
                              dtype type) {
  const std::size_t row = static_cast<std::size_t>(spec.hidden) * dtype_size(type);
  for (int q = 0; q < c.seqs; ++q) {
    const int first = c.query_start[q], n = c.query_start[q + 1] - first;
    if (n == 0)
      continue;
    embedding_params ep; // positions first_pos .. first_pos + n - 1: the table from row first_pos on
    ep.tokens = tokens + first;
    ep.tok_emb = tok_emb;
    ep.pos_emb = static_cast<const std::byte*>(pos_emb) + static_cast<std::size_t>(c.first_pos[q]) * row;
    ep.out = static_cast<std::byte*>(out) + static_cast<std::size_t>(first) * row;
    ep.batch = 1;
    ep.seq = n;
    ep.hidden = spec.hidden;
    ep.vocab = spec.vocab;
    ep.max_seq = spec.max_seq - c.first_pos[q];
    ep.type = type;
    if (auto st = dev.embedding(ep, s); !st)
      return st;
  }
  return {};
}

status enqueue_step_attention(const step_context& c, device& dev, stream s, int layer, const void* q,
                              const void* k, const void* v, int qkv_stride, void* out, int out_stride,
                              int heads, dtype type) {
  paged_kv kv = c.kv;
  kv.layer = layer;
  kv_append_params ap;
  ap.kv = kv;
  ap.k = k;
  ap.v = v;
  ap.k_stride = ap.v_stride = qkv_stride;
  ap.type = type;
  if (auto st = dev.kv_append(ap, s); !st)
    return st;
  paged_attention_params pp;
  pp.kv = kv;
  pp.q = q;
  pp.out = out;
  pp.heads = heads;
  pp.q_stride = qkv_stride;
  pp.out_stride = out_stride;
  pp.type = type;
  return dev.paged_attention(pp, s);
}

status enqueue_step_last_rows(const step_context& c, device& dev, stream s, const void* x, void* rows,
                              int hidden, dtype type) {
  const std::size_t row = static_cast<std::size_t>(hidden) * dtype_size(type);
  for (int q = 0; q < c.seqs; ++q) {
    const int last = c.query_start[q + 1] - 1;
    if (auto st = dev.copy_on_device(static_cast<std::byte*>(rows) + static_cast<std::size_t>(q) * row,
                                     static_cast<const std::byte*>(x) + static_cast<std::size_t>(last) * row,
                                     row, s);
        !st)
      return st;
  }
  return {};
}

} // namespace sy::gpu::internal
