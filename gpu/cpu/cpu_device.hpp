#pragma once
// cpu_device: the cpu backend's device. Memory is 64-byte aligned host memory counted against a budget;
// each stream is a cpu_stream worker thread (compute = stream 0, copy = stream 1); events are
// (stream, ticket) completions; ops run the fp32 kernels of cpu_kernels.hpp. Thread-safe (device.hpp).
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "gpu/cpu/cpu_stream.hpp"
#include "gpu/device.hpp"

namespace sy::gpu::cpu {

class cpu_device final : public device {
public:
  cpu_device(int index, std::size_t budget);
  ~cpu_device() override;

  int index() const noexcept override { return index_; }
  std::string name() const override;
  backend_kind kind() const noexcept override { return backend_kind::cpu; }
  bool supports(dtype t) const noexcept override { return t == dtype::f32; }

  result<device_buffer> allocate(std::size_t bytes) override;
  void free(device_buffer buffer) override;
  status free_after(device_buffer buffer, stream s) override;
  std::size_t memory_budget() const noexcept override { return budget_; }
  std::size_t memory_used() const noexcept override { return used_.load(); }

  stream compute_stream() const noexcept override { return stream{0}; }
  stream copy_stream() const noexcept override { return stream{1}; }
  result<stream> create_stream() override;
  status synchronize(stream s) override;

  result<event> create_event() override;
  void destroy_event(event e) override;
  status record(event e, stream s) override;
  status wait(stream s, event e) override;
  result<bool> query(event e) override;
  status synchronize(event e) override;

  status on_complete(stream s, std::function<void()> fn) override;

  status copy_to_device(void* dst, const void* host, std::size_t bytes, stream s) override;
  status copy_to_host(void* host, const void* src, std::size_t bytes, stream s) override;
  status copy_on_device(void* dst, const void* src, std::size_t bytes, stream s) override;
  status copy_from_peer(void* dst, const device& src_device, const void* src, std::size_t bytes,
                        stream s) override;
  status copy_to_host_2d(void* host, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                         std::size_t row_bytes, std::size_t rows, stream s) override;

  status gemm(const gemm_params& p, stream s) override;
  status embedding(const embedding_params& p, stream s) override;
  status layer_norm(const layer_norm_params& p, stream s) override;
  status bias_act(const bias_act_params& p, stream s) override;
  status add(const add_params& p, stream s) override;
  status attention(const attention_params& p, stream s) override;
  status rotary(const rotary_params& p, stream s) override;
  status gated_act(const gated_act_params& p, stream s) override;
  status pool(const pool_params& p, stream s) override;
  status convert(const convert_params& p, stream s) override;
  status kv_append(const kv_append_params& p, stream s) override;
  status paged_attention(const paged_attention_params& p, stream s) override;

  status health() const override;

  /// The worker of a stream handle, or null. Used by the cpu communicator.
  cpu_stream* worker(stream s) const;
  /// Enqueues a task on `s`; exceptions in it become the device's sticky error.
  status submit(stream s, const char* what, std::function<void()> task);
  void fail(std::string message);

private:
  struct event_state {
    cpu_stream* stream = nullptr; // null: never recorded
    std::uint64_t ticket = 0;
  };
  result<event_state> lookup(event e) const;
  status check_type(const char* op, dtype t) const;
  void release(void* data);

  int index_;
  std::size_t budget_;
  std::atomic<std::size_t> used_{0};
  mutable std::mutex mutex_; // guards allocations_, events_, streams_, error_
  std::unordered_map<void*, std::size_t> allocations_;
  std::unordered_map<std::uint64_t, event_state> events_;
  std::uint64_t next_event_ = 1;
  std::deque<std::unique_ptr<cpu_stream>> streams_;
  std::string error_;
};

} // namespace sy::gpu::cpu
