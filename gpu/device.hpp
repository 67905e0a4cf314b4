#pragma once
// The device interface: one accelerator (a CUDA GPU, or a cpu "device" emulating one) seen as memory with a
// budget, streams, events, async copies, host callbacks and the transformer ops of gpu/ops.hpp enqueued on
// streams. Implemented by the cpu backend (gpu/cpu/) and the CUDA backend (gpu/cuda/, libsy_cuda.so).
//
// Asynchrony: every enqueue function (copies, ops, record, wait, on_complete, free_after) returns at once;
// the work runs later, in order, on the given stream. A status returned by an enqueue function reports only
// what was checked on the host (bad arguments, unknown handle): then NOTHING was enqueued. Failures while the
// work runs make the device unhealthy: health() returns the first such error (sticky).
//
// Threads: all member functions are thread-safe, but a stream's order is the order of the enqueue calls, so
// one owner thread per stream (the stage actor) is the intended use. Completion callbacks (on_complete) run
// on a backend thread: they must not block and must not call this device's functions (CUDA forbids API calls
// in host functions); they post a message (CAF send) and return.
//
// Ownership: the backend (gpu/backend.hpp) owns its devices; a device owns its buffers, streams and events
// until they are freed/destroyed or the device is destroyed (which first drains all streams).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gpu/model_spec.hpp"
#include "gpu/ops.hpp"
#include "messages/result.hpp"

namespace sy::gpu {

enum class backend_kind : std::uint8_t { cpu, cuda, automatic, sim };
std::string_view to_string(backend_kind k) noexcept;
result<backend_kind> parse_backend_kind(std::string_view s); // "cpu", "cuda", "auto", "sim"

/// A block of device memory. `data` is a device address (host memory on the cpu backend); `bytes` is the
/// size requested. A plain value: copying it does not copy or own the memory; free it exactly once.
struct device_buffer {
  void* data = nullptr;
  std::size_t bytes = 0;
  explicit operator bool() const noexcept { return data != nullptr; }
  template <class T>
  T* as() const noexcept { return static_cast<T*>(data); }
};

/// Opaque handles, valid on the device that created them.
struct stream {
  std::uint32_t value = 0;
  bool operator==(const stream& o) const { return value == o.value; }
  bool operator!=(const stream& o) const { return value != o.value; }
};
struct event {
  std::uint64_t value = 0;
  bool operator==(const event& o) const { return value == o.value; }
};

/// Page-locked host memory (cudaHostAlloc on CUDA; 64-byte aligned plain memory on cpu), the source of
/// host->device shard loads and the target of device->host copies. Move-only; frees itself.
class pinned_buffer {
public:
  using release_fn = std::function<void(void*)>;
  pinned_buffer() = default;
  pinned_buffer(void* data, std::size_t bytes, release_fn release)
    : data_(data), bytes_(bytes), release_(std::move(release)) {}
  pinned_buffer(pinned_buffer&& o) noexcept { swap(o); }
  pinned_buffer& operator=(pinned_buffer&& o) noexcept {
    pinned_buffer tmp{std::move(o)};
    swap(tmp);
    return *this;
  }
  pinned_buffer(const pinned_buffer&) = delete;
  pinned_buffer& operator=(const pinned_buffer&) = delete;
  ~pinned_buffer() {
    if (data_ && release_)
      release_(data_);
  }
  std::byte* data() const noexcept { return static_cast<std::byte*>(data_); }
  std::size_t size() const noexcept { return bytes_; }
  template <class T>
  T* as() const noexcept { return static_cast<T*>(data_); }
  explicit operator bool() const noexcept { return data_ != nullptr; }

private:
  void swap(pinned_buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(bytes_, o.bytes_);
    std::swap(release_, o.release_);
  }
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  release_fn release_;
};

/// One stage's share of a model's work, described for a simulated device's cost model (gpu/sim/): the
/// stage executor announces each forward (compute stream) and each shard load (copy stream) with it. Devices
/// that compute for real ignore it.
struct stage_work {
  enum class kind : std::uint8_t { forward, load };
  kind what = kind::forward;
  std::string model; // the model spec's name (the deployment's model name)
  int tp = 1, pp = 1, stage = 0;
  int batch = 1;     // forward: sequences in the batch
};

class device {
public:
  virtual ~device() = default;

  /// Simulated devices only (default: nothing): holds stream `s` for the profiled time of `w`, in order with
  /// the other work of `s`. The ops of a simulated device take no time of their own.
  virtual status simulate(const stage_work& w, stream s) {
    (void)w;
    (void)s;
    return {};
  }

  // --- identity ---
  virtual int index() const noexcept = 0;           // 0..count-1 within its backend
  virtual std::string name() const = 0;             // e.g. "cpu:0", "cuda:1 (NVIDIA H100 80GB HBM3)"
  virtual backend_kind kind() const noexcept = 0;
  /// Whether ops may use `t` for activations and weights (cpu: f32 only).
  virtual bool supports(dtype t) const noexcept = 0;

  // --- memory (budgeted) ---
  /// Allocates `bytes` of device memory. Fails with category "memory" when used + bytes would exceed the
  /// budget (the message says requested, used and budget bytes), leaving the device unchanged.
  virtual result<device_buffer> allocate(std::size_t bytes) = 0;
  /// Frees now. The caller guarantees that no enqueued work still uses the buffer.
  virtual void free(device_buffer buffer) = 0;
  /// Stream-ordered free: the memory is released (and stops counting as used) when all work enqueued on `s`
  /// before this call has completed (cudaFreeAsync semantics).
  virtual status free_after(device_buffer buffer, stream s) = 0;
  virtual std::size_t memory_budget() const noexcept = 0;
  virtual std::size_t memory_used() const noexcept = 0;

  // --- streams ---
  /// The device's default compute stream and copy stream (always exist; distinct, so that copies overlap
  /// compute).
  virtual stream compute_stream() const noexcept = 0;
  virtual stream copy_stream() const noexcept = 0;
  /// An additional stream, destroyed with the device.
  virtual result<stream> create_stream() = 0;
  /// Blocks the calling thread until all work enqueued on `s` so far has completed. For tests and
  /// command-line tools only, never in an actor.
  virtual status synchronize(stream s) = 0;

  // --- events ---
  virtual result<event> create_event() = 0;
  /// Destroys an event; pending waits on it still complete normally.
  virtual void destroy_event(event e) = 0;
  /// Captures the current end of `s`: the event completes when the work enqueued on `s` so far completes.
  /// Re-recording replaces the captured point (cudaEventRecord semantics).
  virtual status record(event e, stream s) = 0;
  /// Work enqueued on `s` after this call starts only once `e` has completed (as last recorded at the
  /// time of this call). Does not block the host. An event never recorded counts as complete.
  virtual status wait(stream s, event e) = 0;
  /// true if the event has completed (or was never recorded).
  virtual result<bool> query(event e) = 0;
  /// Blocks until the event completes. Tests and tools only.
  virtual status synchronize(event e) = 0;

  // --- host callbacks ---
  /// Calls `fn` on a backend thread once all work enqueued on `s` before this call has completed, with the
  /// status of that work: ok, or the error of an operation of `s` that failed since the stream's previous
  /// callback (transient), or the device's sticky error (health()). Callbacks on one stream run in order. See
  /// the threading rules above.
  virtual status on_complete(stream s, std::function<void(status)> fn) = 0;
  /// The same, for a callback that does not look at the status (tests, tools that check health() after).
  status on_complete(stream s, std::function<void()> fn) {
    return on_complete(s, std::function<void(status)>{[f = std::move(fn)](status) {
                         if (f)
                           f();
                       }});
  }

  // --- copies (async on a stream) ---
  /// host must stay valid (and, for overlap on CUDA, be pinned) until the copy completes.
  virtual status copy_to_device(void* dst, const void* host, std::size_t bytes, stream s) = 0;
  virtual status copy_to_host(void* host, const void* src, std::size_t bytes, stream s) = 0;
  virtual status copy_on_device(void* dst, const void* src, std::size_t bytes, stream s) = 0;
  /// Copies from another device of the same backend (src in `src_device`'s memory) into this device's
  /// memory, ordered on this device's stream `s` (CUDA: cudaMemcpyPeerAsync). The caller guarantees that the
  /// source was written before the call (its producing work completed) and stays allocated until the copy
  /// completes. `src_device` may be this device (then it is copy_on_device).
  virtual status copy_from_peer(void* dst, const device& src_device, const void* src, std::size_t bytes,
                                stream s) = 0;
  /// 2-D device->host copy: `rows` rows of `row_bytes`, source rows `src_pitch` bytes apart, destination
  /// rows `dst_pitch` bytes apart (cudaMemcpy2DAsync).
  virtual status copy_to_host_2d(void* host, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                                 std::size_t row_bytes, std::size_t rows, stream s) = 0;

  // --- transformer ops (gpu/ops.hpp), async on a stream ---
  virtual status gemm(const gemm_params& p, stream s) = 0;
  virtual status embedding(const embedding_params& p, stream s) = 0;
  virtual status layer_norm(const layer_norm_params& p, stream s) = 0;
  virtual status bias_act(const bias_act_params& p, stream s) = 0;
  virtual status add(const add_params& p, stream s) = 0;
  virtual status attention(const attention_params& p, stream s) = 0;
  virtual status convert(const convert_params& p, stream s) = 0;
  // Architecture options (issue 8).
  virtual status rotary(const rotary_params& p, stream s) = 0;
  virtual status gated_act(const gated_act_params& p, stream s) = 0;
  virtual status pool(const pool_params& p, stream s) = 0;

  // --- paged KV cache ops (gpu/ops.hpp, generation), async on a stream ---
  virtual status kv_append(const kv_append_params& p, stream s) = 0;
  virtual status paged_attention(const paged_attention_params& p, stream s) = 0;

  // --- health ---
  /// The first asynchronous failure on this device, or ok.
  virtual status health() const = 0;
};

/// A tensor-parallel communicator: one per rank; the ranks of one group are created together by
/// backend::make_communicators. all_reduce_sum is enqueued on a stream of THIS rank's device and completes
/// on every rank only when all ranks have enqueued it (collective: every rank must enqueue the same
/// sequence of collectives with the same counts, else the group deadlocks). cpu backend: in-process
/// reduction among the device threads; CUDA: NCCL.
class communicator {
public:
  virtual ~communicator() = default;
  virtual int rank() const noexcept = 0;
  virtual int size() const noexcept = 0;
  virtual device& dev() const noexcept = 0;
  /// In place: data[i] = sum over ranks of data[i], i < count, element type `type`.
  virtual status all_reduce_sum(void* data, std::size_t count, dtype type, stream s) = 0;
  /// Breaks the group after one rank could not enqueue its part of a collective sequence: every rank's
  /// collectives waiting for it, and every later one, complete at once with `reason` as their stream's
  /// error instead of waiting forever. Irreversible; the group's devices must be treated as failed. Default:
  /// nothing to release (a backend without blocking collectives).
  virtual void abort(std::string reason) { (void)reason; }
};

} // namespace sy::gpu
