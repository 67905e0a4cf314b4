#pragma once
// Row-major GEMM of gpu/ops.hpp through cuBLAS (cublasGemmEx, CUBLAS_COMPUTE_32F: fp32 accumulation for
// f16/bf16 inputs, full fp32 for f32 - no TF32, so results match the cpu backend within fp32 rounding),
// followed by the bias/activation epilogue (invoke_bias_act) when the params ask for one.
//
// Row-major C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T, so no data moves.
// All pointers are device memory owned by the caller. A cublasHandle_t is not thread-safe: the caller
// serialises use of one handle (the cuda device does, with its ops mutex). invoke_gemm binds it to `stream`.
#include <cublas_v2.h>

#include "gpu/ops.hpp"

namespace sy::gpu::cuda {

/// Enqueues the GEMM (and its epilogue) on `stream`. Errors: the params' check() message, or "cuda" with
/// cuBLAS's status name. Call with the stream's device current.
[[nodiscard]] status invoke_gemm(cublasHandle_t handle, const gemm_params& p, cudaStream_t stream);

/// The name of a cuBLAS status ("CUBLAS_STATUS_NOT_INITIALIZED", ...).
const char* cublas_status_name(cublasStatus_t s) noexcept;

} // namespace sy::gpu::cuda
