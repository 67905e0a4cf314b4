// Layer norm: one block per row, fp32 two-pass statistics (mean, then the centred sum of squares, which
// avoids the cancellation of E[x^2] - E[x]^2). The row is re-read from global memory for each pass; at
// hidden <= 16k it stays in L1/L2, so the kernel is bound by one DRAM read and one write per element.
#include "gpu/cuda/internal/device_math.cuh"
#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {
namespace {

using internal::from_f32;
using internal::to_f32;

template <class T>
__global__ void __launch_bounds__(1024)
  layer_norm_kernel(const T* in, const T* __restrict__ gamma, const T* __restrict__ beta, T* out,
                    int cols, long long in_stride, long long out_stride, float eps, bool rms) {
  __shared__ float scratch[32];
  const T* x = in + blockIdx.x * in_stride;
  T* y = out + blockIdx.x * out_stride;

  if (rms) { // RMSNorm: x / sqrt(mean(x^2) + eps) * gamma
    float sq = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = to_f32(x[c]);
      sq += v * v;
    }
    const float inv = rsqrtf(internal::block_sum(sq, scratch) / static_cast<float>(cols) + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
      y[c] = from_f32<T>(to_f32(x[c]) * inv * to_f32(gamma[c]));
    return;
  }
  float sum = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    sum += to_f32(x[c]);
  const float mean = internal::block_sum(sum, scratch) / static_cast<float>(cols);

  float sq = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = to_f32(x[c]) - mean;
    sq += d * d;
  }
  const float var = internal::block_sum(sq, scratch) / static_cast<float>(cols);
  const float inv = rsqrtf(var + eps);

  // Every read of x happened before the last barrier inside block_sum, so writing y in place is safe.
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = (to_f32(x[c]) - mean) * inv;
    y[c] = from_f32<T>(v * to_f32(gamma[c]) + to_f32(beta[c]));
  }
}

int threads_for(int cols) {
  // About 4-8 elements per thread, a multiple of 32, between 32 and 1024.
  int t = (cols / 4 + 31) / 32 * 32;
  if (t < 32)
    t = 32;
  if (t > 1024)
    t = 1024;
  return t;
}

} // namespace

cudaError_t invoke_layer_norm(const layer_norm_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  const long long in_stride = p.in_stride != 0 ? p.in_stride : p.cols;
  const long long out_stride = p.out_stride != 0 ? p.out_stride : p.cols;
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    layer_norm_kernel<T><<<static_cast<unsigned>(p.rows), threads_for(p.cols), 0, stream>>>(
      static_cast<const T*>(p.in), static_cast<const T*>(p.gamma), static_cast<const T*>(p.beta),
      static_cast<T*>(p.out), p.cols, in_stride, out_stride, p.eps, p.rms);
    return cudaGetLastError();
  });
}

} // namespace sy::gpu::cuda
