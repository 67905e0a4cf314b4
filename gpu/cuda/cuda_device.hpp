#pragma once
// cuda_device: the CUDA backend's device (gpu/device.hpp) on one GPU. Private to libsy_cuda.so.
//
// Owns: a compute and a copy stream (non-blocking) plus any created streams; its events; one cuBLAS handle
// per stream that ran a GEMM (a handle's workspace must not be shared by concurrently running streams); every device buffer it allocated (cudaMallocAsync from the device's default
// memory pool, release threshold "keep", so frees are stream-ordered and never synchronise the device).
// Memory is counted against a budget on the host: allocate() fails with "memory" before calling CUDA when
// used + bytes > budget. free_after() releases the memory with cudaFreeAsync on the stream and stops counting
// it from a host callback once the stream reaches that point.
// Threads: every function is thread-safe and makes the device current (cudaSetDevice) on the calling
// thread first. The destructor synchronises all streams, then frees everything.
#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "gpu/device.hpp"

namespace sy::gpu::cuda {

/// "what: cudaErrorX (message)" as a "cuda" error.
error cuda_error(const std::string& what, cudaError_t e);

class cuda_device final : public device {
public:
  /// Opens GPU `ordinal` with a budget (0 = 90% of the free memory now).
  static result<std::unique_ptr<cuda_device>> open(int ordinal, std::size_t budget);
  ~cuda_device() override;

  int index() const noexcept override { return ordinal_; }
  std::string name() const override { return name_; }
  backend_kind kind() const noexcept override { return backend_kind::cuda; }
  bool supports(dtype) const noexcept override { return true; }

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
  status embedding(const gpu::embedding_params& p, stream s) override;
  status layer_norm(const gpu::layer_norm_params& p, stream s) override;
  status bias_act(const gpu::bias_act_params& p, stream s) override;
  status add(const add_params& p, stream s) override;
  status attention(const gpu::attention_params& p, stream s) override;
  status rotary(const gpu::rotary_params& p, stream s) override;
  status gated_act(const gpu::gated_act_params& p, stream s) override;
  status pool(const gpu::pool_params& p, stream s) override;
  status convert(const gpu::convert_params& p, stream s) override;
  status kv_append(const gpu::kv_append_params& p, stream s) override;
  status paged_attention(const gpu::paged_attention_params& p, stream s) override;

  status health() const override;

  /// The CUDA stream of a handle (null + error if unknown). For the communicator.
  result<cudaStream_t> native(stream s) const;
  /// Makes this device current on the calling thread.
  status enter() const;

  /// Host->device copies are split into chunks of this size (each its own cudaMemcpyAsync), so that a long
  /// shard load does not monopolise the copy engine against other streams' copies.
  static constexpr std::size_t copy_chunk_bytes = std::size_t{8} << 20;

private:
  cuda_device(int ordinal, std::string name, std::size_t budget);
  status launched(const char* op, cudaError_t e);
  /// The cuBLAS handle of a stream, created on first use. Caller holds ops_mutex_.
  result<cublasHandle_t> cublas_for(std::uint32_t stream_index);
  void fail(const std::string& message) const;

  int ordinal_;
  std::string name_;
  std::size_t budget_;
  std::atomic<std::size_t> used_{0};
  mutable std::mutex mutex_; // guards streams_, events_, allocations_, error_
  std::vector<cudaStream_t> streams_;
  std::unordered_map<std::uint64_t, cudaEvent_t> events_;
  std::uint64_t next_event_ = 1;
  std::unordered_map<void*, std::size_t> allocations_;
  cudaStream_t alloc_stream_ = nullptr; // allocations and immediate frees
  mutable std::string error_;           // first asynchronous failure (sticky)
  std::mutex ops_mutex_;                // guards cublas_ (and serialises cuBLAS calls)
  std::vector<cublasHandle_t> cublas_;  // one per stream (index = stream handle), created on first GEMM
};

} // namespace sy::gpu::cuda
