#pragma once
// Private to stage_executor (gpu/engine.cpp): one model's state on one stage, and the enqueueing of its
// forward pass on one rank (gpu/internal/forward.cpp).
#include <cstddef>
#include <map>
#include <memory>
#include <vector>

#include "gpu/engine.hpp"
#include "gpu/kv_cache.hpp"

namespace sy::gpu::internal {

/// Offset of a tensor the shard does not hold (optional biases, RMS norms' betas, ...).
inline constexpr std::size_t absent = static_cast<std::size_t>(-1);

/// Byte offsets, within the shard buffer, of one layer's tensors (absent where the spec has none).
struct layer_offsets {
  std::size_t ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, in_w, in_b, fout_w, fout_b;
};

/// Byte offsets of everything a shard holds (absent parts = absent). head_w of a tied head points at the
/// first of the rank's rows of the token embedding ([cols, hidden], read transposed).
struct shard_offsets {
  std::size_t tok_emb = absent, pos_emb = absent, type_emb = absent, emb_ln_w = absent, emb_ln_b = absent;
  std::size_t lnf_w = absent, lnf_b = absent, head_w = absent, head_b = absent;
  bool head_transposed = false; // tied head: head_w is [cols, hidden]
  std::vector<layer_offsets> layers; // first_layer .. end_layer-1
};
result<shard_offsets> resolve_offsets(const shard_plan& plan);

/// The per-forward device workspace of one rank, carved out of one allocation. `meta` holds int32
/// positions [tokens], sequence starts [batch + 1] and token types [tokens].
struct workspace_layout {
  std::size_t x, ln, qkv, attn, tmp, ffn, gate, tokens, meta, head, head_f32, total;
};
/// `out` decides the size of the head rows (all tokens for logits_all and hidden, else one per sequence).
workspace_layout plan_workspace(const shard_plan& plan, dtype type, int batch, int seq,
                                output_kind out = output_kind::logits_last);

/// The host side of a one-pass forward's sequence layout: the rows of each sequence (packed when the
/// request has seq_lens), its tokens' positions, and the token types. Kept alive until the forward is done
/// (the device copies it into the workspace's meta area).
struct batch_meta {
  int seqs = 0, tokens = 0, longest = 0;
  bool packed = false;
  std::vector<std::int32_t> host; // positions [tokens], starts [seqs + 1], types [tokens]
};
batch_meta make_batch_meta(const forward_request& r);

struct stage_model {
  std::vector<std::shared_ptr<const host_shard>> shards; // per rank
  std::vector<shard_offsets> offsets;                    // per rank
  dtype type = dtype::f32;
  residency state = residency::host;
  std::uint64_t generation = 0;       // bumped by every load/evict, so stale completions are ignored
  std::vector<device_buffer> weights; // per rank, while loading/resident/evicting
  std::vector<event> loaded;          // per rank, recorded on the copy stream after the load copies
  std::vector<std::unique_ptr<kv_cache>> kv; // per rank, made at the first generation step
  /// Sequences swapped out to pinned host memory (preemption by swap): one copy per rank. Shared: a copy
  /// stays alive in the stream callbacks of the copies that read or write it.
  std::map<sequence_id, std::vector<std::shared_ptr<kv_swapped>>> swapped;
};

/// One generation step on one rank (stage_executor::step): the packed rows of the step's sequences and
/// the paged KV metadata in the rank's workspace. Built on the owner thread, read while enqueueing.
struct step_context {
  int seqs = 0, tokens = 0;
  std::vector<int> query_start; // [seqs + 1] host copy: sequence s owns rows query_start[s] .. [s+1]-1
  std::vector<int> first_pos;   // [seqs] position of each sequence's first new token
  const std::int32_t* positions = nullptr; // [tokens] device: each row's position (rotary)
  workspace_layout ws{};        // activations for `tokens` rows, head rows for `seqs`
  paged_kv kv;                  // device pointers into the workspace; `layer` set per layer
};

/// Per sequence: its new tokens' embeddings at positions first_pos[s].. (learned positions; without a
/// position table one call over all rows).
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
/// `meta` (one-pass forwards): the request's sequence layout (make_batch_meta), null for steps.
status enqueue_forward(const stage_model& m, int rank, device& dev, communicator& comm, const forward_request& r,
                       device_buffer ws, device_activation* out, const batch_meta* meta,
                       const step_context* step = nullptr);

/// The last stage's output (gpu/internal/output.cpp): from x ([tokens, hidden] after the layers) to
/// r.output per r.out_kind (steps: each sequence's last row's logits). `rows`: device sequence starts
/// (null for fixed-length batches).
struct output_args {
  const shard_plan* plan;
  const shard_offsets* offsets;
  const std::byte* weights;
  int rank;
  dtype type;
  int seqs, tokens, seq; // seq: the fixed length (unpacked one-pass forwards)
  const std::int32_t* starts;
  const step_context* step;
  output_kind kind;
};
status enqueue_output(const output_args& a, device& dev, stream s, const workspace_layout& wl, std::byte* base,
                      void* x, void* host_out);

} // namespace sy::gpu::internal
