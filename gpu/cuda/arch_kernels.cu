// The kernels of the architecture options (issue 8): rotary position embeddings (in place on the q and k
// heads of the packed QKV rows), the gated activation of SwiGLU, and per-sequence pooling (first, last or
// mean row, optionally L2-normalised). Semantics: gpu/ops.hpp; fp32 arithmetic, storage in T.
#include "gpu/cuda/internal/device_math.cuh"
#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {
namespace {

using internal::from_f32;
using internal::to_f32;

constexpr int kThreads = 256;

struct rotary_args {
  int rows, heads, half, head_dim;
  long long stride;
  float theta, factor, low_freq_factor, high_freq_factor;
  int original_max;
  rope_scaling_kind scaling;
};

/// inv_freq of pair i (transformers' formula, fp32; llama3 rescaling per wavelength).
__device__ float inv_freq(const rotary_args& a, int i) {
  const float f = 1.0f / powf(a.theta, static_cast<float>(2 * i) / static_cast<float>(a.head_dim));
  if (a.scaling != rope_scaling_kind::llama3)
    return f;
  const float low_wavelen = a.original_max / a.low_freq_factor;
  const float high_wavelen = a.original_max / a.high_freq_factor;
  const float wavelen = 6.283185307179586f / f;
  if (wavelen < high_wavelen)
    return f;
  if (wavelen > low_wavelen)
    return f / a.factor;
  const float smooth = (a.original_max / wavelen - a.low_freq_factor) / (a.high_freq_factor - a.low_freq_factor);
  return (1.0f - smooth) * f / a.factor + smooth * f;
}

template <class T>
__global__ void __launch_bounds__(kThreads)
  rotary_kernel(T* x, const std::int32_t* __restrict__ positions, rotary_args a) {
  const long long n = static_cast<long long>(a.rows) * a.heads * a.half;
  for (long long e = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>(e % a.half);
    const long long rh = e / a.half;
    const int h = static_cast<int>(rh % a.heads);
    const long long r = rh / a.heads;
    float pos = static_cast<float>(positions[r]);
    if (a.scaling == rope_scaling_kind::linear)
      pos /= a.factor;
    const float angle = pos * inv_freq(a, i);
    float s, c;
    sincosf(angle, &s, &c);
    T* v = x + r * a.stride + static_cast<long long>(h) * a.head_dim;
    const float x1 = to_f32(v[i]), x2 = to_f32(v[i + a.half]);
    v[i] = from_f32<T>(x1 * c - x2 * s);
    v[i + a.half] = from_f32<T>(x2 * c + x1 * s);
  }
}

template <class T, activation Act>
__global__ void __launch_bounds__(kThreads)
  gated_kernel(const T* __restrict__ in, T* __restrict__ out, long long rows, int cols) {
  const long long n = rows * cols;
  for (long long e = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = e / cols;
    const int c = static_cast<int>(e - r * cols);
    const T* row = in + r * 2 * cols;
    out[e] = from_f32<T>(internal::activate<Act>(to_f32(row[c])) * to_f32(row[cols + c]));
  }
}

/// One block per sequence; each thread owns columns c = tid, tid + blockDim, ...
template <class T>
__global__ void __launch_bounds__(kThreads)
  pool_kernel(const T* __restrict__ in, T* __restrict__ out, const std::int32_t* __restrict__ starts, int seq,
              int cols, pool_kind kind, bool l2) {
  __shared__ float scratch[32];
  const int b = blockIdx.x;
  const int first = starts != nullptr ? starts[b] : b * seq;
  const int n = starts != nullptr ? starts[b + 1] - first : seq;
  auto value = [&](int c) {
    if (n <= 0)
      return 0.0f;
    if (kind == pool_kind::first)
      return to_f32(in[static_cast<long long>(first) * cols + c]);
    if (kind == pool_kind::last)
      return to_f32(in[static_cast<long long>(first + n - 1) * cols + c]);
    float s = 0.0f;
    for (int t = 0; t < n; ++t)
      s += to_f32(in[static_cast<long long>(first + t) * cols + c]);
    return s / static_cast<float>(n);
  };
  float scale = 1.0f;
  if (l2) {
    float sq = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = value(c);
      sq += v * v;
    }
    scale = 1.0f / fmaxf(sqrtf(internal::block_sum(sq, scratch)), 1e-12f);
  }
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    out[static_cast<long long>(b) * cols + c] = from_f32<T>(value(c) * scale);
}

} // namespace

cudaError_t invoke_rotary(const gpu::rotary_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  const rotary_args a{p.rows,
                      p.heads,
                      p.head_dim / 2,
                      p.head_dim,
                      p.stride != 0 ? p.stride : static_cast<long long>(p.heads) * p.head_dim,
                      p.theta,
                      p.factor,
                      p.low_freq_factor,
                      p.high_freq_factor,
                      p.original_max_positions,
                      p.scaling};
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const long long n = static_cast<long long>(p.rows) * p.heads * (p.head_dim / 2);
    rotary_kernel<T><<<internal::grid_for(n, kThreads), kThreads, 0, stream>>>(static_cast<T*>(p.x), p.positions, a);
    return cudaGetLastError();
  });
}

cudaError_t invoke_gated_act(const gpu::gated_act_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return internal::dispatch_act(p.act, [&](auto act) {
      const long long n = static_cast<long long>(p.rows) * p.cols;
      gated_kernel<T, decltype(act)::value><<<internal::grid_for(n, kThreads), kThreads, 0, stream>>>(
        static_cast<const T*>(p.in), static_cast<T*>(p.out), p.rows, p.cols);
      return cudaGetLastError();
    });
  });
}

cudaError_t invoke_pool(const gpu::pool_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    pool_kernel<T><<<static_cast<unsigned>(p.batch), kThreads, 0, stream>>>(
      static_cast<const T*>(p.in), static_cast<T*>(p.out), p.seq_starts, p.seq, p.cols, p.kind, p.l2_normalize);
    return cudaGetLastError();
  });
}

} // namespace sy::gpu::cuda
