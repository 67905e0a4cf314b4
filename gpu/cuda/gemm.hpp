#pragma once
// Row-major GEMM through cuBLAS (cublasGemmEx, CUBLAS_COMPUTE_32F: fp32 accumulation for f16/bf16 inputs,
// full fp32 for f32 - no TF32, so results match the cpu backend within fp32 rounding).
//
//   c[m, n] = alpha * op(a) * op(b) + beta * c
//   op(a) is [m, k]: a is [m, k] (row pitch lda) or, with trans_a, [k, m] (row pitch lda); likewise b.
//
// All pointers are device memory owned by the caller. A cublasHandle_t is not thread-safe: each handle is
// used by one thread (the owner of the stream it is bound to). invoke_gemm binds the handle to `stream`.
#include <cublas_v2.h>

#include "gpu/model_spec.hpp"

namespace sy::gpu::cuda {

struct gemm_params {
  dtype type = dtype::f16; // of a, b and c
  bool trans_a = false;
  bool trans_b = false;
  int m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int lda = 0; // 0 means the packed pitch (k, or m with trans_a)
  const void* b = nullptr;
  int ldb = 0; // 0 means the packed pitch (n, or k with trans_b)
  void* c = nullptr;
  int ldc = 0; // 0 means n
  float alpha = 1.0f;
  float beta = 0.0f;
  [[nodiscard]] status check() const;
};

/// Enqueues the GEMM on `stream`. Errors: "kernel" for bad params, "cuda" with cuBLAS's status name.
[[nodiscard]] status invoke_gemm(cublasHandle_t handle, const gemm_params& p, cudaStream_t stream);

/// A short name of a cuBLAS status ("CUBLAS_STATUS_NOT_INITIALIZED", ...).
const char* cublas_status_name(cublasStatus_t s) noexcept;

} // namespace sy::gpu::cuda
