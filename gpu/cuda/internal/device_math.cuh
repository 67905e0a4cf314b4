#pragma once
// Device-side helpers shared by the .cu files of gpu/cuda/ (private): element type conversions, warp and
// block reductions, and the dtype -> C++ type dispatch used by the launchers.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <type_traits>

#include "gpu/model_spec.hpp"
#include "gpu/ops.hpp"

namespace sy::gpu::cuda::internal {

template <class T>
__device__ __forceinline__ float to_f32(T x);
template <>
__device__ __forceinline__ float to_f32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ float to_f32<__half>(__half x) {
  return __half2float(x);
}
template <>
__device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <class T>
__device__ __forceinline__ T from_f32(float x);
template <>
__device__ __forceinline__ float from_f32<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

/// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
/// `scratch` is 32 floats of shared memory; the call ends with a barrier so scratch can be reused.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  float total = lane < warps ? scratch[lane] : 0.0f;
  total = warp_sum(total);
  __syncthreads();
  return total;
}

template <class T>
struct type_tag {
  using type = T;
};

/// Calls f(type_tag<T>{}) with T = float, __half or __nv_bfloat16 for t.
template <class F>
cudaError_t dispatch(dtype t, F&& f) {
  switch (t) {
    case dtype::f32: return f(type_tag<float>{});
    case dtype::f16: return f(type_tag<__half>{});
    case dtype::bf16: return f(type_tag<__nv_bfloat16>{});
  }
  return cudaErrorInvalidValue;
}

/// The element-wise activations of gpu/ops.hpp, in fp32 (Act a compile-time constant).
template <activation Act>
__device__ __forceinline__ float activate(float v) {
  if constexpr (Act == activation::gelu_tanh) {
    constexpr float k_sqrt_2_over_pi = 0.7978845608028654f;
    return 0.5f * v * (1.0f + tanhf(k_sqrt_2_over_pi * (v + 0.044715f * v * v * v)));
  } else if constexpr (Act == activation::tanh) {
    return tanhf(v);
  } else if constexpr (Act == activation::gelu_erf) {
    return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
  } else if constexpr (Act == activation::relu) {
    return fmaxf(v, 0.0f);
  } else if constexpr (Act == activation::silu) {
    return v / (1.0f + expf(-v));
  } else {
    return v;
  }
}

/// Calls f(std::integral_constant<activation, A>{}) for the runtime activation a.
template <class F>
cudaError_t dispatch_act(activation a, F&& f) {
  switch (a) {
    case activation::none: return f(std::integral_constant<activation, activation::none>{});
    case activation::gelu_tanh: return f(std::integral_constant<activation, activation::gelu_tanh>{});
    case activation::tanh: return f(std::integral_constant<activation, activation::tanh>{});
    case activation::gelu_erf: return f(std::integral_constant<activation, activation::gelu_erf>{});
    case activation::relu: return f(std::integral_constant<activation, activation::relu>{});
    case activation::silu: return f(std::integral_constant<activation, activation::silu>{});
  }
  return cudaErrorInvalidValue;
}

/// Grid size for a grid-stride loop over n items with `threads` threads per block: enough blocks to fill
/// an H100 several times over, never more than needed.
inline unsigned grid_for(long long n, int threads) {
  long long blocks = (n + threads - 1) / threads;
  const long long cap = 132LL * 32; // SMs * resident blocks, generous
  if (blocks > cap)
    blocks = cap;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

} // namespace sy::gpu::cuda::internal
