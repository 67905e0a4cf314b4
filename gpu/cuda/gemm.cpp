#include "gpu/cuda/gemm.hpp"

#include <string>

#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {

const char* cublas_status_name(cublasStatus_t s) noexcept {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

namespace {
cudaDataType_t cuda_type(dtype t) {
  switch (t) {
    case dtype::f32: return CUDA_R_32F;
    case dtype::f16: return CUDA_R_16F;
    case dtype::bf16: return CUDA_R_16BF;
  }
  return CUDA_R_32F;
}
} // namespace

status invoke_gemm(cublasHandle_t handle, const gemm_params& p, cudaStream_t stream) {
  if (auto st = p.check(); !st)
    return st;
  if (auto s = cublasSetStream(handle, stream); s != CUBLAS_STATUS_SUCCESS)
    return make_error("cuda", std::string{"cublasSetStream: "} + cublas_status_name(s));
  const int lda = p.lda != 0 ? p.lda : (p.trans_a ? p.m : p.k);
  const int ldb = p.ldb != 0 ? p.ldb : (p.trans_b ? p.k : p.n);
  const int ldc = p.ldc != 0 ? p.ldc : p.n;
  const cudaDataType_t t = cuda_type(p.type);
  // Column-major view: C^T [n, m] = op(B)^T [n, k] * op(A)^T [k, m]; a row-major matrix with pitch ld is
  // its transpose in column-major with the same ld, so the op flags carry over unchanged.
  const cublasStatus_t s = cublasGemmEx(handle, p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                        p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, p.n, p.m, p.k, &p.alpha, p.b, t,
                                        ldb, p.a, t, lda, &p.beta, p.c, t, ldc, CUBLAS_COMPUTE_32F,
                                        CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS)
    return make_error("cuda", std::string{"cublasGemmEx (m "} + std::to_string(p.m) + ", n " +
                                std::to_string(p.n) + ", k " + std::to_string(p.k) + ", " +
                                std::string{to_string(p.type)} + "): " + cublas_status_name(s));
  if (p.bias == nullptr && p.act == activation::none)
    return {};
  bias_act_params e;
  e.type = p.type;
  e.in = p.c;
  e.out = p.c;
  e.bias = p.bias;
  e.rows = p.m;
  e.cols = p.n;
  e.ld = ldc;
  e.act = p.act;
  if (auto err = invoke_bias_act(e, stream); err != cudaSuccess)
    return make_error("cuda", std::string{"gemm epilogue (bias/activation): "} + cudaGetErrorString(err));
  return {};
}

} // namespace sy::gpu::cuda
