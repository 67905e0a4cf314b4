#pragma once
// Device discovery without assumptions: on a machine without a GPU (or driver), cudaGetDeviceCount returns
// an error (35, cudaErrorInsufficientDriver, or 100, cudaErrorNoDevice) and leaves its out-parameter
// untouched. Any thread.
#include "messages/result.hpp"

namespace sy::gpu::cuda {

/// The number of CUDA devices (>= 1), or a "cuda" error with the precise reason, e.g.
/// "no CUDA device: cudaGetDeviceCount failed: error 35 cudaErrorInsufficientDriver (CUDA driver version
/// is insufficient for CUDA runtime version)" or "no CUDA device: cudaGetDeviceCount returned 0 devices".
result<int> probe_devices();

} // namespace sy::gpu::cuda
