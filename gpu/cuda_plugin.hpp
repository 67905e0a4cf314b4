#pragma once
// The contract between sy_gpu (which dlopens) and libsy_cuda.so (gpu/cuda/, which implements it): the
// library exports exactly these extern "C" symbols. Both sides are built by the same compiler from the same
// tree, so C++ types cross the boundary; the ABI version guards against a stale library.
//
// sy_cuda_create_backend(abi, options, err, err_len):
//   abi      must equal SY_CUDA_PLUGIN_ABI, else the plugin returns null with a message;
//   options  kind is cuda; devices = how many GPUs (error if fewer exist); budget_bytes as in backend.hpp;
//   err      on failure: a NUL-terminated reason of at most err_len bytes (e.g. "cudaGetDeviceCount failed:
//            error 35 (insufficient driver)", "0 GPUs found, 2 requested");
//   returns  a new backend (ownership passes to the caller, who deletes it with `delete`), or null.
// The library is never unloaded (objects it created may outlive any handle of ours).
#include <cstddef>

#include "gpu/backend.hpp"

#define SY_CUDA_PLUGIN_ABI 3 // 2: device::copy_from_peer; 3: rotary, gated_act, pool and the op options of issue 8
#define SY_CUDA_PLUGIN_FACTORY "sy_cuda_create_backend"

extern "C" {
using sy_cuda_create_backend_fn = sy::gpu::backend* (*)(int abi, const sy::gpu::backend_options* options,
                                                         char* err, std::size_t err_len);
sy::gpu::backend* sy_cuda_create_backend(int abi, const sy::gpu::backend_options* options, char* err,
                                         std::size_t err_len);
}
