// The CUDA backend (gpu/backend.hpp) and the plugin factory of gpu/cuda_plugin.hpp.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "gpu/cuda/cuda_device.hpp"
#include "gpu/cuda/nccl_communicator.hpp"
#include "gpu/cuda/probe.hpp"
#include "gpu/cuda_plugin.hpp"

namespace sy::gpu::cuda {
namespace {

class cuda_backend final : public backend {
public:
  explicit cuda_backend(std::vector<std::unique_ptr<cuda_device>> devs) : devs_(std::move(devs)) {}
  backend_kind kind() const noexcept override { return backend_kind::cuda; }
  std::string describe() const override {
    std::string r = "cuda backend, " + std::to_string(devs_.size()) + " device(s):";
    for (const auto& d : devs_)
      r += " " + d->name() + " budget " + std::to_string(d->memory_budget() >> 20) + " MiB;";
    return r;
  }
  int device_count() const noexcept override { return static_cast<int>(devs_.size()); }
  device& dev(int i) override { return *devs_.at(static_cast<std::size_t>(i)); }

  result<pinned_buffer> allocate_pinned(std::size_t bytes) override {
    if (bytes == 0)
      return make_error("memory", "pinned allocation of 0 bytes");
    void* p = nullptr;
    // Portable: usable for async copies to every GPU of this process.
    if (auto e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable); e != cudaSuccess)
      return make_error("memory", "cudaHostAlloc of " + std::to_string(bytes) + " bytes: " +
                                    cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
    return pinned_buffer{p, bytes, [](void* q) { cudaFreeHost(q); }};
  }

  result<std::vector<std::unique_ptr<communicator>>> make_communicators(const std::vector<int>& devices) override {
    std::vector<cuda_device*> ds;
    for (int i : devices) {
      if (i < 0 || i >= device_count())
        return make_error("device", "communicator over device " + std::to_string(i) + ": only " +
                                      std::to_string(device_count()) + " CUDA devices are open");
      for (auto* d : ds)
        if (d->index() == devs_[static_cast<std::size_t>(i)]->index())
          return make_error("device", "communicator lists device " + std::to_string(i) + " twice");
      ds.push_back(devs_[static_cast<std::size_t>(i)].get());
    }
    if (ds.empty())
      return make_error("device", "communicator over no devices");
    return make_nccl_communicators(std::move(ds));
  }

private:
  std::vector<std::unique_ptr<cuda_device>> devs_;
};

void set_error(char* err, std::size_t len, const std::string& message) {
  if (err == nullptr || len == 0)
    return;
  std::snprintf(err, len, "%s", message.c_str());
}

} // namespace
} // namespace sy::gpu::cuda

extern "C" sy::gpu::backend* sy_cuda_create_backend(int abi, const sy::gpu::backend_options* options, char* err,
                                                    std::size_t err_len) {
  using namespace sy::gpu::cuda;
  try {
    if (abi != SY_CUDA_PLUGIN_ABI) {
      set_error(err, err_len, "libsy_cuda.so was built for plugin ABI " + std::to_string(SY_CUDA_PLUGIN_ABI) +
                                ", the caller expects " + std::to_string(abi) + " (stale library?)");
      return nullptr;
    }
    if (options == nullptr || options->devices <= 0) {
      set_error(err, err_len, "the CUDA backend needs a positive device count");
      return nullptr;
    }
    auto count = probe_devices();
    if (!count) {
      set_error(err, err_len, count.err().message);
      return nullptr;
    }
    if (*count < options->devices) {
      set_error(err, err_len, std::to_string(*count) + " GPUs found, " + std::to_string(options->devices) +
                                " requested");
      return nullptr;
    }
    std::vector<std::unique_ptr<cuda_device>> devs;
    for (int i = 0; i < options->devices; ++i) {
      auto d = cuda_device::open(i, options->budget_bytes);
      if (!d) {
        set_error(err, err_len, d.err().message);
        return nullptr;
      }
      devs.push_back(std::move(*d));
    }
    return new cuda_backend(std::move(devs));
  } catch (const std::exception& e) {
    set_error(err, err_len, std::string{"the CUDA backend failed to start: "} + e.what());
  } catch (...) {
    set_error(err, err_len, "the CUDA backend failed to start (unknown exception)");
  }
  return nullptr;
}
