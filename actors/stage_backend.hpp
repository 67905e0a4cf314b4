#pragma once
// stage_backend: what a stage actor needs from its devices (one pipeline stage of one group, all its tensor
// ranks): shard loads, evictions and forward passes, each asynchronous with a completion callback. The
// production implementation wraps gpu::stage_executor (actors/engine_stage_backend.cpp); actor tests drive
// their own implementation to complete work deterministically.
//
// Threads: the stage actor calls every function from its own context (one at a time). `done` may run on
// any thread (a device thread); it must only post a message. Errors returned directly mean nothing was
// enqueued and `done` is never called.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "messages/tensor.hpp"

namespace sy::actors {

class stage_backend {
public:
  /// Completion: ok, or why the device work failed (category "memory": out of device memory; anything else
  /// a device fault). Called exactly once for every operation that was enqueued.
  using done_fn = std::function<void(status)>;
  virtual ~stage_backend() = default;

  /// ok, or the sticky error of one of the stage's devices (after which nothing on it completes ok).
  virtual status health() const { return {}; }

  /// Device bytes of this stage's shard of `model` on each of its devices (0: unknown model).
  virtual std::int64_t shard_bytes(const std::string& model) const = 0;
  /// Copies this stage's shard onto its devices.
  virtual status load(const std::string& model, done_fn done) = 0;
  /// Frees the shard (the stage calls it only after the model's last forward on this stage completed).
  virtual status evict(const std::string& model, done_fn done) = 0;
  /// Runs this stage's layers on `input` (stage 0: i32 tokens [batch, seq]; else the previous output, in
  /// host bytes or, from a stage in this process, as input.device_data) and writes `*output` before `done`
  /// (last stage: f32 [batch, width] for the one-row output kinds, [batch, seq, width] for logits_all and
  /// hidden). `out_kind`: the last stage's output kind (gpu::output_kind's name; empty: the model's default).
  /// `keep_on_device` (stages before the last, next stage in this process): the output may stay on the
  /// device (output->device_data, no bytes); a backend without devices ignores it.
  virtual status forward(const std::string& model, const messages::tensor& input, int batch, int seq,
                         const std::string& out_kind, std::shared_ptr<messages::tensor> output,
                         bool keep_on_device, done_fn done) = 0;

  // --- generation (issue 10): the stage's paged KV of each model, one cache per sequence id ---
  /// One generation step of this stage: sequences `seqs` (KV ids) with `counts` new tokens each, packed in
  /// `input` (stage 0: i32 tokens [sum counts]; else the previous stage's [sum counts, hidden], as bytes or
  /// input.device_data). Writes `*output` before `done`: the last stage f32 logits [seqs, vocab] after each
  /// sequence's last new token; others [sum counts, hidden] (kept on the device with keep_on_device, as in
  /// forward). Errors (nothing enqueued): category "memory" when the KV blocks do not fit, "input" for bad
  /// shapes. Default: this backend cannot generate.
  virtual status step(const std::string& model, const std::vector<std::uint64_t>& seqs,
                      const std::vector<std::int32_t>& counts, const messages::tensor& input,
                      std::shared_ptr<messages::tensor> output, bool keep_on_device, done_fn done) {
    (void)seqs, (void)counts, (void)input, (void)output, (void)keep_on_device, (void)done;
    return make_error("input", "model " + model + ": this stage backend cannot generate");
  }
  /// Frees the KV of `seqs` (their last step on this stage completed). Unknown ids are ignored.
  virtual void release(const std::string& model, const std::vector<std::uint64_t>& seqs) {
    (void)model, (void)seqs;
  }
  /// Preemption by swap: copies sequence `seq`'s KV to pinned host memory and frees its blocks (`out`), or
  /// restores it (all ranks or none; category "memory" when there is no room). Returns the host bytes moved.
  /// Default: this backend cannot swap KV.
  virtual result<std::int64_t> swap_kv(const std::string& model, std::uint64_t seq, bool out) {
    (void)seq, (void)out;
    return make_error("input", "model " + model + ": this stage backend cannot swap KV");
  }
  /// KV blocks handed out / free (in held slabs) on the stage's devices, summed over its ranks.
  struct kv_usage {
    std::int64_t blocks_used = 0;
    std::int64_t blocks_free = 0;
  };
  virtual kv_usage kv() const { return {}; }
  /// The same per tensor rank, rank order (one pool per device); empty: this backend has no KV.
  virtual std::vector<kv_usage> kv_by_rank() const { return {}; }
};

} // namespace sy::actors
