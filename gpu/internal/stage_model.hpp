#pragma once
// Private to stage_executor (gpu/engine.cpp): one model's state on one stage, and the enqueueing of its
// forward pass on one rank (gpu/internal/forward.cpp).
#include <cstddef>
#include <memory>
#include <vector>

#include "gpu/engine.hpp"
#include "gpu/kv_cache.hpp"

namespace sy::gpu::internal {

/// Byte offsets, within the shard buffer, of one layer's tensors.
struct layer_offsets {
  std::size_t ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, in_w, in_b, fout_w, fout_b;
};

/// Byte offsets of everything a shard holds (absent parts unset).
struct shard_offsets {
  std::size_t tok_emb = 0, pos_emb = 0, lnf_w = 0, lnf_b = 0, head_w = 0, head_b = 0;
  std::vector<layer_offsets> layers; // first_layer .. end_layer-1
};
result<shard_offsets> resolve_offsets(const shard_plan& plan);

/// The per-forward device workspace of one rank, carved out of one allocation.
struct workspace_layout {
  std::size_t x, ln, qkv, attn, tmp, ffn, tokens, head, head_f32, total;
};
workspace_layout plan_workspace(const shard_plan& plan, dtype type, int batch, int seq);

struct stage_model {
  std::vector<std::shared_ptr<const host_shard>> shards; // per rank
  std::vector<shard_offsets> offsets;                    // per rank
  dtype type = dtype::f32;
  residency state = residency::host;
  std::uint64_t generation = 0;       // bumped by every load/evict, so stale completions are ignored
  std::vector<device_buffer> weights; // per rank, while loading/resident/evicting
  std::vector<event> loaded;          // per rank, recorded on the copy stream after the load copies
  std::vector<std::unique_ptr<kv_cache>> kv; // per rank, made at the first generation step
};

/// One generation step on one rank (stage_executor::step): the packed rows of the step's sequences and
/// the paged KV metadata in the rank's workspace. Built on the owner thread, read while enqueueing.
struct step_context {
  int seqs = 0, tokens = 0;
  std::vector<int> query_start; // [seqs + 1] host copy: sequence s owns rows query_start[s] .. [s+1]-1
  std::vector<int> first_pos;   // [seqs] position of each sequence's first new token
  workspace_layout ws{};        // activations for `tokens` rows, head rows for `seqs`
  paged_kv kv;                  // device pointers into the workspace; `layer` set per layer
};

/// Per sequence: its new tokens' embeddings at positions first_pos[s].. (learned positions).
status enqueue_step_embedding(const step_context& c, device& dev, stream s, const std::int32_t* tokens,
                              const void* tok_emb, const void* pos_emb, void* out, const model_spec& spec,
                              dtype type);
/// One layer's attention of the step: kv_append of the new K/V rows, then paged attention of the new rows.
status enqueue_step_attention(const step_context& c, device& dev, stream s, int layer, const void* q,
                              const void* k, const void* v, int qkv_stride, void* out, int out_stride,
                              int heads, dtype type);
/// Copies each sequence's last new row of x ([tokens, hidden]) to row s of `rows` ([seqs, hidden]).
status enqueue_step_last_rows(const step_context& c, device& dev, stream s, const void* x, void* rows,
                              int hidden, dtype type);

/// Enqueues rank `rank`'s part of a forward pass on its compute stream (after waiting for the load event).
/// `ws` is the rank's workspace (plan_workspace bytes). `out` (stages before the last): where rank 0 writes
/// the output instead of r.output.
/// With `step` (a generation step): r.tokens/input/output hold the step's packed rows, and attention reads
/// and extends the rank's paged KV cache; the last stage outputs each sequence's last row's logits.
status enqueue_forward(const stage_model& m, int rank, device& dev, communicator& comm, const forward_request& r,
                       device_buffer ws, device_activation* out, const step_context* step = nullptr);

} // namespace sy::gpu::internal
