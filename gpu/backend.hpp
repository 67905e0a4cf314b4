#pragma once
// Backend selection: a backend owns a set of devices of one kind (cpu or cuda), allocates pinned host
// memory and creates tensor-parallel communicators among its devices.
//
// open_devices(kind, count, budget):
//   cpu  -> the in-process cpu backend (always available).
//   cuda -> dlopen("libsy_cuda.so") and call its factory (gpu/cuda_plugin.hpp); an error if the library,
//           its symbol, a driver or enough GPUs is missing.
//   auto -> cuda if that works, else cpu; the log ("engine") says which backend is used and why.
//   sim  -> simulated devices (gpu/sim/sim_backend.hpp): budgeted memory, streams, events and callbacks as on
//           cpu, but every op is free and each stage's forward and load takes its profiled time on the
//           stream's thread (options.sim_costs); outputs are zeros of the right shape.
// The library is searched at: $SWITCHYARD_CUDA_PLUGIN (a file path), the build tree's gpu/cuda/
// (compile-time path), next to the executable, <exe dir>/../lib/, then the dynamic loader's path. Binaries
// never link CUDA: they run where no CUDA library is installed.
//
// Threads: open_devices from any thread; a backend's functions are thread-safe. The backend must outlive
// everything created from it (devices, pinned buffers, communicators, executors).
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "gpu/device.hpp"

namespace sy::gpu {

struct sim_cost_table; // gpu/sim/sim_backend.hpp

struct backend_options {
  backend_kind kind = backend_kind::automatic;
  int devices = 1;                 // how many devices to open (cuda: the first `devices` GPUs)
  std::size_t budget_bytes = 0;    // per-device memory budget; 0 = default (cpu: 1 GiB; cuda: 90% of free)
  /// cpu only: OpenBLAS threads used by each device's GEMMs; 0 = max(1, hardware threads / devices).
  /// OpenBLAS' thread count is process-global, so the cpu backend sets it once (openblas_set_num_threads)
  /// from this value and every device thread's GEMM uses that many threads.
  int cpu_threads = 0;
  /// sim only: the profiled time of every (model, tp, pp) stage the devices will run (gpu/sim/sim_backend.hpp).
  std::shared_ptr<const sim_cost_table> sim_costs = nullptr;
};

class backend {
public:
  virtual ~backend() = default;
  virtual backend_kind kind() const noexcept = 0;
  /// One line for logs: kind, device names, budget, and why this backend was chosen (for auto).
  virtual std::string describe() const = 0;
  virtual int device_count() const noexcept = 0;
  /// Device i, 0 <= i < device_count(). The reference stays valid for the backend's lifetime.
  virtual device& dev(int i) = 0;
  /// Pinned host memory of `bytes` (error "memory" if it cannot be allocated).
  virtual result<pinned_buffer> allocate_pinned(std::size_t bytes) = 0;
  /// One communicator per listed device index, rank i = devices[i]. Indices must be distinct and valid.
  virtual result<std::vector<std::unique_ptr<communicator>>> make_communicators(
    const std::vector<int>& devices) = 0;
};

/// Opens `options.devices` devices of the requested kind (see the file comment).
result<std::unique_ptr<backend>> open_devices(const backend_options& options);
result<std::unique_ptr<backend>> open_devices(backend_kind kind, int count, std::size_t budget_bytes);

/// The cpu backend directly (used by open_devices and by tests).
result<std::unique_ptr<backend>> make_cpu_backend(const backend_options& options);
/// The sim backend (gpu/sim/): devices whose ops take the profiled time of options.sim_costs.
result<std::unique_ptr<backend>> make_sim_backend(const backend_options& options);

} // namespace sy::gpu
