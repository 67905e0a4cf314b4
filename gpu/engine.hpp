#pragma once
// stage_executor: one pipeline stage of a model group: its tp ranks (one device each, with a communicator
// among them) and the shards of every model the group hosts for this stage. It enqueues shard loads,
// evictions and forward passes on the devices' streams and reports completion by callback; it never blocks.
//
// Per model and stage, the residency state machine (all ranks move together):
//
//        load()                 (copies done)                 evict()
//  host ───────▶ loading ───────────────────────▶ resident ─────────────▶ evicting ──(last use done)──▶ host
//                   │ evict()                                                ▲
//                   └────────────────────────────────────────────────────────┘
//
// - load: allocates the shard's device memory on each rank (fails with category "memory", state unchanged,
//   when it does not fit the budget), copies the pinned host shard in chunks on the copy stream and records
//   an event. done() runs when every rank's copy has completed.
// - forward: allowed in `loading` and `resident`; the compute stream waits on the load event ON THE DEVICE
//   (never on the host), so a batch can be queued right behind its load. The load's done() (copy streams)
//   and that forward's done() (compute streams) are not ordered: the forward waits for the copies, not for
//   the load's callback.
// - evict: the device memory is freed stream-ordered after every forward enqueued before the evict (and the
//   load itself) has completed; done() runs then. Forwards enqueued after evict() are rejected.
//
// Threads: the public functions are called by ONE owner thread (the stage actor); they are not reentrant.
// `done` callbacks run on a backend thread: post a message and return, never block, never call back into
// the executor. The executor must outlive the work it enqueued (the destructor drains the streams).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "gpu/backend.hpp"
#include "gpu/kv_cache.hpp"
#include "gpu/shard.hpp"
#include "messages/ids.hpp"

namespace sy::gpu {

enum class residency : std::uint8_t { host, loading, resident, evicting };
std::string_view to_string(residency r) noexcept;

/// The dtype a model computes in (and its shards are stored in) on device `d`: spec.type where the device
/// supports it, else f32 (the cpu backend). Build host shards with this type.
dtype compute_type(const model_spec& spec, const device& d) noexcept;

/// A stage's output activations [batch * seq, hidden] in the model's compute dtype, left in the memory of
/// the device that computed them (rank 0 of the producing stage), so that a next stage in the same process
/// takes them by handle (same device: an on-device copy; another device: a peer copy) instead of a round
/// trip through host memory. The buffer counts against that device's budget and is freed, after all work
/// enqueued on its compute stream so far, when the last reference goes. Hold it until every forward that
/// reads it has completed. Immutable after the producing forward completes; any thread.
class device_activation {
public:
  device_activation(device& dev, device_buffer buf, std::size_t bytes, dtype type);
  ~device_activation();
  device_activation(const device_activation&) = delete;
  device_activation& operator=(const device_activation&) = delete;

  device& owner() const noexcept { return *dev_; }
  const void* data() const noexcept { return buf_.data; }
  void* data() noexcept { return buf_.data; } // the producing forward writes through this
  std::size_t bytes() const noexcept { return bytes_; }
  dtype type() const noexcept { return type_; }

private:
  device* dev_;
  device_buffer buf_;
  std::size_t bytes_;
  dtype type_;
};

/// One forward pass of a batch of `batch` sequences of `seq` tokens each through this stage's layers.
/// Host pointers are owned by the caller (pinned for copy overlap on CUDA) and valid until done.
/// What the last stage writes (issue 8). Shapes, f32: logits_last [batch, vocab]; logits_all
/// [sum(len), vocab]; pooler/cls/mean/mean_normalized [batch, hidden]; hidden [sum(len), hidden].
enum class output_kind : std::uint8_t { logits_last, logits_all, pooler, cls, mean, mean_normalized, hidden };
std::string_view to_string(output_kind k) noexcept;
/// "logits_last|last", "logits_all|all", "pooler", "cls", "mean", "mean_normalized|mean-normalized", "hidden".
result<output_kind> parse_output_kind(std::string_view s);
/// Whether `spec` can produce `k` (decoders: no pooler; encoders: no logits; pooler needs spec.pooler). The
/// message names the model and what it can output.
[[nodiscard]] status check_output_kind(const model_spec& spec, output_kind k);
/// Decoder: logits_last; encoder: pooler if spec.pooler else cls.
inline output_kind default_output(const model_spec& spec) noexcept {
  if (spec.kind == arch::decoder)
    return output_kind::logits_last;
  return spec.pooler ? output_kind::pooler : output_kind::cls;
}

struct forward_request {
  int batch = 0, seq = 0;
  /// Empty: every sequence has `seq` tokens; else `batch` per-sequence lengths (each in [1, seq]), tokens
  /// (and token_types, inputs, per-token outputs) packed [sum(seq_lens)] with no padding.
  std::vector<int> seq_lens;
  /// First stage of encoders with type_vocab > 0: token type ids, same layout as tokens; null = all 0.
  const std::int32_t* token_types = nullptr;
  /// What the last stage writes to `output` (named out_kind: `output` is the buffer). Decoders:
  /// logits_last, logits_all, hidden, cls, mean, mean_normalized; encoders: pooler (with a pooler), cls,
  /// mean, mean_normalized, hidden; logits_last on an encoder means its default_output().
  output_kind out_kind = output_kind::logits_last;
  /// First stage: token ids [T] (T = total_tokens(): batch * seq, or sum(seq_lens)), each in [0, vocab).
  const std::int32_t* tokens = nullptr;
  /// Other stages, one of: the previous stage's output [T, hidden] in activation_type() in host
  /// memory, or the previous stage's device_activation (same backend, this process; its forward completed).
  const void* input = nullptr;
  std::shared_ptr<const device_activation> input_activation;
  /// Last stage: [output_rows(), output_width()] f32 in host memory, per out_kind (table above). Other
  /// stages, one of: [T, hidden] in activation_type() in host memory, or
  /// `output_activation` != nullptr: the output stays on rank 0's device and *output_activation receives
  /// the handle when the forward is enqueued (readable once it completes).
  void* output = nullptr;
  std::shared_ptr<device_activation>* output_activation = nullptr;
};

/// Tokens of a request: sum(seq_lens), or batch * seq when seq_lens is empty.
std::int64_t total_tokens(const forward_request& r) noexcept;
/// Rows of the last stage's output for r.output (batch or total_tokens).
std::int64_t output_rows(const forward_request& r) noexcept;
/// Columns of the last stage's output for `kind` (vocab or hidden).
int output_width(const model_spec& spec, output_kind kind) noexcept;

/// One sequence's part of a generation step: `tokens` >= 1 new tokens (a prefill chunk, or 1 to decode) on
/// top of what the stage's KV cache already holds for it (nothing for a new id).
struct step_sequence {
  sequence_id id;
  int tokens = 0;
};

/// A generation step (issue 10): the new tokens of a batch of sequences, packed in `seqs` order ([sum of
/// tokens] rows, no padding). Host pointers are owned by the caller and valid until done, as in
/// forward_request.
struct step_request {
  std::vector<step_sequence> seqs;
  /// First stage: the new token ids [sum tokens], each in [0, vocab).
  const std::int32_t* tokens = nullptr;
  /// Other stages, one of: the previous stage's output rows [sum tokens, hidden] in host memory, or its
  /// device_activation.
  const void* input = nullptr;
  std::shared_ptr<const device_activation> input_activation;
  /// Last stage: [seqs, vocab] f32 in host memory, the logits after each sequence's last new token. Other
  /// stages: [sum tokens, hidden] in host memory, or `output_activation` as in forward_request.
  void* output = nullptr;
  std::shared_ptr<device_activation>* output_activation = nullptr;
};

class stage_executor {
public:
  /// A stage over devices[r] of `b` for tp rank r (distinct device indices).
  static result<std::unique_ptr<stage_executor>> create(backend& b, const std::vector<int>& devices);
  ~stage_executor();
  stage_executor(const stage_executor&) = delete;
  stage_executor& operator=(const stage_executor&) = delete;

  int tp() const noexcept;
  device& rank_device(int rank) const;

  /// Registers a model's shards for this stage, one per rank in rank order (plans must agree on model,
  /// stage and layout, and layout.tp == tp()). Nothing is copied. Error if the id is already registered.
  status add_model(model_id id, std::vector<std::shared_ptr<const host_shard>> shards);
  /// Unregisters a model in state `host`.
  status remove_model(model_id id);
  bool has_model(model_id id) const;
  /// Current state (an evict/load completing on a backend thread moves it; reading is thread-safe).
  result<residency> state(model_id id) const;
  /// Device bytes a resident shard of this model takes on each rank.
  result<std::size_t> shard_bytes(model_id id) const;
  /// Device bytes a forward of (batch, seq) needs per rank for its activations (allocated per forward).
  /// `out` sizes the head rows: logits_all and hidden keep a row per token, the others one per sequence
  /// (the engine.hpp table); nullopt: the model's default_output.
  result<std::size_t> workspace_bytes(model_id id, int batch, int seq,
                                      std::optional<output_kind> out = std::nullopt) const;
  /// Element type of the inter-stage activations on the host (cpu: f32).
  dtype activation_type(model_id id) const;

  /// A completion: ok, or why the work failed on the device (an operation or copy failed, a rank could not
  /// enqueue its part, the device is unhealthy). Errors returned by the enqueue functions themselves mean
  /// nothing was enqueued and `done` never runs; once they return ok, `done` runs exactly once.
  using done_fn = std::function<void(status)>;

  /// host -> loading. See the state machine above. A failed copy: done(error), the state goes back to host
  /// and the shard's memory is freed after the work queued behind the load.
  status load(model_id id, done_fn done);
  /// loading|resident -> evicting -> host.
  status evict(model_id id, done_fn done);
  /// Enqueues this stage's part of a forward pass. Errors (nothing enqueued): unknown model, not loaded or
  /// being evicted, bad shapes (batch, seq > max_seq), token out of range, workspace over budget. A rank that
  /// fails to enqueue its part after the host checks passed fails the forward through done (the group's
  /// collectives are aborted so that no rank waits for it).
  status forward(model_id id, const forward_request& request, done_fn done);
  /// The same without the status (tools that check the devices' health afterwards).
  status load(model_id id, std::function<void()> done);
  status evict(model_id id, std::function<void()> done);
  status forward(model_id id, const forward_request& request, std::function<void()> done);

  // --- generation (issue 10): paged KV caches per (model, rank), blocks from each rank device's kv_pool ---
  /// Enqueues this stage's part of a generation step: on every rank the sequences' new K/V rows are
  /// appended to their paged caches (blocks reserved at once; error "memory", nothing enqueued, when they
  /// do not fit) and their new rows attend to their whole cached context. Decoders only. Errors (nothing
  /// enqueued): as forward, plus an empty batch, a sequence listed twice or with no tokens, a context past
  /// max_seq.
  status step(model_id id, const step_request& request, done_fn done);
  status step(model_id id, const step_request& request, std::function<void()> done);
  /// Reserves, on every rank, the KV blocks a step of `seqs` will need (so a caller can find out before
  /// running a step through several stages that every stage has room). Error "memory" when they do not
  /// fit; sequences new to this stage are then forgotten again.
  status reserve(model_id id, const std::vector<step_sequence>& seqs);
  /// Gives a sequence's KV blocks (or its swapped-out host copy) back on every rank (call after its last
  /// step completed). No-op if unknown.
  status free_sequence(model_id id, sequence_id seq);
  /// Preemption by swap (issue 10 §2): copies `seq`'s KV of every rank to pinned host memory on the compute
  /// streams and frees its blocks; returns the host bytes. Error (nothing changed) when it is unknown, already
  /// swapped out, or the pinned memory cannot be had. Call only while no step of it is enqueued.
  result<std::size_t> swap_out_sequence(model_id id, sequence_id seq);
  /// Restores a swapped-out sequence on every rank (blocks allocated, copies enqueued on the compute streams
  /// before any later step). All or nothing: error "memory" when some rank has no room (the sequence stays
  /// swapped out), error when it was not swapped out.
  status swap_in_sequence(model_id id, sequence_id seq);
  /// Tokens this stage's cache holds for `seq` after the steps enqueued so far (0 if unknown).
  int cached_tokens(model_id id, sequence_id seq) const;
  /// Whether the sequence's KV is swapped out to the host on this stage (its host copy is held).
  bool swapped_out(model_id id, sequence_id seq) const;
  /// The KV block pool of rank `rank`'s device (shared by every model of this stage).
  kv_pool& rank_kv_pool(int rank) const;

private:
  struct impl;
  explicit stage_executor(std::unique_ptr<impl> p);
  struct deferred;
  void enqueue_failed(deferred& later, int rank, const std::vector<device_buffer>& ws,
                      const std::function<void(status)>& finish, const error& why);
  std::unique_ptr<impl> impl_;
};

} // namespace sy::gpu
