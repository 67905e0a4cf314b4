// The cpu backend: cpu_device's, 64-byte aligned "pinned" host memory, and an in-process all-reduce among
// the device threads.
//
// OpenBLAS threads: OpenBLAS keeps ONE process-wide thread pool whose size openblas_set_num_threads sets.
// Each device thread calls cblas_sgemm; with d devices computing at once, their GEMMs share that pool. We
// set it once, when a backend is created, to options.cpu_threads or, by default, max(1, hardware threads /
// devices), so that d busy devices do not oversubscribe the cores. OPENBLAS_NUM_THREADS in the environment
// overrides the default (not an explicit cpu_threads).
#include <cblas.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "gpu/backend.hpp"
#include "gpu/cpu/cpu_device.hpp"

namespace sy::gpu {

namespace cpu {
namespace {

/// The state shared by the ranks of one communicator group.
struct comm_group {
  explicit comm_group(int n) : size(n), ptrs(n, nullptr), counts(n, 0) {}
  const int size;
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<float*> ptrs;
  std::vector<std::size_t> counts;
  int arrived = 0;
  std::uint64_t generation = 0;
  std::string aborted; // non-empty: the group is broken (communicator::abort), collectives fail at once

  /// false: the group was aborted (before or while waiting).
  bool barrier() {
    std::unique_lock<std::mutex> lock{mutex};
    if (!aborted.empty())
      return false;
    auto gen = generation;
    if (++arrived == size) {
      arrived = 0;
      ++generation;
      cv.notify_all();
      return true;
    }
    cv.wait(lock, [&] { return generation != gen || !aborted.empty(); });
    return generation != gen;
  }

  void abort(std::string reason) {
    {
      std::lock_guard<std::mutex> lock{mutex};
      if (aborted.empty())
        aborted = reason.empty() ? std::string{"aborted"} : std::move(reason);
    }
    cv.notify_all();
  }

  std::string why() {
    std::lock_guard<std::mutex> lock{mutex};
    return aborted;
  }
};

class cpu_communicator final : public communicator {
public:
  cpu_communicator(std::shared_ptr<comm_group> g, int rank, cpu_device& d)
    : group_(std::move(g)), rank_(rank), dev_(d) {}
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return group_->size; }
  device& dev() const noexcept override { return dev_; }

  status all_reduce_sum(void* data, std::size_t count, dtype type, stream s) override {
    if (type != dtype::f32)
      return make_error("device", dev_.name() + ": all_reduce_sum in " + std::string{to_string(type)} +
                                    ": the cpu backend supports f32 only");
    if (!data || count == 0)
      return make_error("device", dev_.name() + ": all_reduce_sum needs data and a positive count");
    return dev_.submit(s, "all_reduce_sum", [g = group_, r = rank_, p = static_cast<float*>(data), count,
                                             this] {
      g->ptrs[r] = p;
      g->counts[r] = count;
      if (!g->barrier()) // a rank could not enqueue its part: fail here instead of waiting for it forever
        return dev_.fail("all_reduce_sum: the tensor-parallel group was aborted: " + g->why());
      bool same = std::all_of(g->counts.begin(), g->counts.end(), [&](std::size_t c) { return c == count; });
      if (same) {
        // Rank r reduces chunk r of every buffer, in rank order (deterministic, identical on every rank).
        std::size_t chunk = (count + g->size - 1) / g->size;
        std::size_t begin = std::min(count, chunk * r), end = std::min(count, begin + chunk);
        for (std::size_t i = begin; i < end; ++i) {
          float sum = 0.0f;
          for (int j = 0; j < g->size; ++j)
            sum += g->ptrs[j][i];
          for (int j = 0; j < g->size; ++j)
            g->ptrs[j][i] = sum;
        }
      }
      if (!g->barrier())
        return dev_.fail("all_reduce_sum: the tensor-parallel group was aborted: " + g->why());
      if (!same)
        dev_.fail("all_reduce_sum: ranks passed different counts");
    });
  }

  void abort(std::string reason) override { group_->abort(std::move(reason)); }

private:
  std::shared_ptr<comm_group> group_;
  int rank_;
  cpu_device& dev_;
};

class cpu_backend final : public backend {
public:
  cpu_backend(int devices, std::size_t budget, int threads) : threads_(threads) {
    for (int i = 0; i < devices; ++i)
      devices_.push_back(std::make_unique<cpu_device>(i, budget));
  }
  backend_kind kind() const noexcept override { return backend_kind::cpu; }
  std::string describe() const override {
    return "cpu backend: " + std::to_string(devices_.size()) + " device(s), budget " +
           std::to_string(devices_.empty() ? 0 : devices_[0]->memory_budget() / (1024 * 1024)) +
           " MiB each, OpenBLAS threads " + std::to_string(threads_);
  }
  int device_count() const noexcept override { return static_cast<int>(devices_.size()); }
  device& dev(int i) override { return *devices_.at(static_cast<std::size_t>(i)); }

  result<pinned_buffer> allocate_pinned(std::size_t bytes) override {
    if (bytes == 0)
      return make_error("memory", "pinned allocation of 0 bytes");
    std::size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p)
      return make_error("memory", "pinned host allocation of " + std::to_string(bytes) + " bytes failed");
    return pinned_buffer{p, bytes, [](void* q) { std::free(q); }};
  }

  result<std::vector<std::unique_ptr<communicator>>> make_communicators(const std::vector<int>& ids) override {
    if (ids.empty())
      return make_error("device", "make_communicators: no devices");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= device_count())
        return make_error("device", "make_communicators: device " + std::to_string(ids[i]) + " out of range [0, " +
                                      std::to_string(device_count()) + ")");
      for (std::size_t j = 0; j < i; ++j)
        if (ids[j] == ids[i])
          return make_error("device", "make_communicators: device " + std::to_string(ids[i]) + " listed twice");
    }
    auto g = std::make_shared<comm_group>(static_cast<int>(ids.size()));
    std::vector<std::unique_ptr<communicator>> r;
    for (std::size_t i = 0; i < ids.size(); ++i)
      r.push_back(std::make_unique<cpu_communicator>(g, static_cast<int>(i), *devices_[ids[i]]));
    return r;
  }

private:
  int threads_;
  std::vector<std::unique_ptr<cpu_device>> devices_;
};

} // namespace
} // namespace cpu

result<std::unique_ptr<backend>> make_cpu_backend(const backend_options& options) {
  if (options.devices <= 0)
    return make_error("backend", "device count must be positive, found " + std::to_string(options.devices));
  if (options.cpu_threads < 0)
    return make_error("backend", "cpu_threads must be >= 0, found " + std::to_string(options.cpu_threads));
  std::size_t budget = options.budget_bytes ? options.budget_bytes : std::size_t{1} << 30;
  int threads = options.cpu_threads;
  if (threads == 0) {
    if (const char* env = std::getenv("OPENBLAS_NUM_THREADS"); env && std::atoi(env) > 0) {
      threads = std::atoi(env);
    } else {
      int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      threads = std::max(1, hw / options.devices);
    }
  }
  openblas_set_num_threads(threads);
  return std::unique_ptr<backend>{std::make_unique<cpu::cpu_backend>(options.devices, budget, threads)};
}

} // namespace sy::gpu
