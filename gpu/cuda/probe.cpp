#include "gpu/cuda/probe.hpp"

#include <string>

#include <cuda_runtime_api.h>

namespace sy::gpu::cuda {

result<int> probe_devices() {
  int count = 0; // untouched by cudaGetDeviceCount on failure
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError(); // clear the (non-sticky) error
    return make_error("cuda", "no CUDA device: cudaGetDeviceCount failed: error " +
                                std::to_string(static_cast<int>(e)) + " " + cudaGetErrorName(e) + " (" +
                                cudaGetErrorString(e) + ")");
  }
  if (count <= 0)
    return make_error("cuda", "no CUDA device: cudaGetDeviceCount returned 0 devices");
  return count;
}

} // namespace sy::gpu::cuda
