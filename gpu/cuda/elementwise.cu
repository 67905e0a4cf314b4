// Memory-bound kernels: embedding lookup, bias + activation, residual add. Grid-stride loops over all
// elements; fp32 arithmetic, storage in T.
#include "gpu/cuda/internal/device_math.cuh"
#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {
namespace {

using internal::from_f32;
using internal::to_f32;

constexpr int kThreads = 256;

template <class T>
__global__ void __launch_bounds__(kThreads)
  embedding_kernel(const std::int32_t* __restrict__ tokens, const T* __restrict__ tok_table,
                   const T* __restrict__ pos_table, T* __restrict__ out, long long rows, int seq, int hidden,
                   int vocab, int pos_offset, const std::int32_t* __restrict__ positions, int max_seq,
                   const T* __restrict__ type_table, const std::int32_t* __restrict__ token_types,
                   int type_vocab) {
  const long long n = rows * hidden;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long row = i / hidden;
    const int c = static_cast<int>(i - row * hidden);
    const int tok = tokens[row];
    float v = 0.0f;
    if (tok >= 0 && tok < vocab) {
      v = to_f32(tok_table[static_cast<long long>(tok) * hidden + c]);
      if (pos_table != nullptr) {
        const int pos = positions != nullptr ? min(max(positions[row], 0), max_seq - 1)
                                             : pos_offset + static_cast<int>(row % seq);
        v += to_f32(pos_table[static_cast<long long>(pos) * hidden + c]);
      }
      if (type_table != nullptr) {
        const int ty = token_types != nullptr ? min(max(token_types[row], 0), type_vocab - 1) : 0;
        v += to_f32(type_table[static_cast<long long>(ty) * hidden + c]);
      }
    }
    out[i] = from_f32<T>(v);
  }
}

template <class T, activation Act>
__global__ void __launch_bounds__(kThreads)
  bias_act_kernel(const T* in, const T* __restrict__ bias, T* out, long long rows, int cols, long long ld) {
  // `in` and `out` may alias: each element is read once and written once by the same thread, so no
  // __restrict__ on them.
  const long long n = rows * cols;
  for (long long e = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long r = e / cols;
    const int c = static_cast<int>(e - r * cols);
    const long long i = r * ld + c;
    float v = to_f32(in[i]);
    if (bias != nullptr)
      v += to_f32(bias[c]);
    v = internal::activate<Act>(v);
    out[i] = from_f32<T>(v);
  }
}

template <class S, class D>
__global__ void __launch_bounds__(kThreads)
  convert_kernel(const S* __restrict__ src, D* __restrict__ dst, long long n) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    dst[i] = from_f32<D>(to_f32(src[i]));
}

template <class T>
__global__ void __launch_bounds__(kThreads)
  residual_add_kernel(const T* a, const T* b, const T* __restrict__ bias, T* out, long long rows, int cols) {
  const long long n = rows * cols;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    float v = to_f32(a[i]) + to_f32(b[i]);
    if (bias != nullptr)
      v += to_f32(bias[i % cols]);
    out[i] = from_f32<T>(v);
  }
}

} // namespace

cudaError_t invoke_embedding(const embedding_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  const long long rows = static_cast<long long>(p.batch) * p.seq;
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    embedding_kernel<T><<<internal::grid_for(rows * p.hidden, kThreads), kThreads, 0, stream>>>(
      p.tokens, static_cast<const T*>(p.tok_table), static_cast<const T*>(p.pos_table), static_cast<T*>(p.out),
      rows, p.seq, p.hidden, p.vocab, p.pos_offset, p.positions, p.max_seq, static_cast<const T*>(p.type_table),
      p.token_types, p.type_vocab);
    return cudaGetLastError();
  });
}

cudaError_t invoke_bias_act(const bias_act_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const auto* in = static_cast<const T*>(p.in);
    const auto* bias = static_cast<const T*>(p.bias);
    auto* out = static_cast<T*>(p.out);
    const unsigned grid = internal::grid_for(p.rows * p.cols, kThreads);
    const long long ld = p.ld != 0 ? p.ld : p.cols;
    return internal::dispatch_act(p.act, [&](auto act) {
      bias_act_kernel<T, decltype(act)::value><<<grid, kThreads, 0, stream>>>(in, bias, out, p.rows, p.cols, ld);
      return cudaGetLastError();
    });
  });
}

cudaError_t invoke_bias_add(bias_act_params p, cudaStream_t stream) {
  p.act = activation::none;
  return invoke_bias_act(p, stream);
}

cudaError_t invoke_bias_gelu(bias_act_params p, cudaStream_t stream) {
  p.act = activation::gelu_tanh;
  return invoke_bias_act(p, stream);
}

cudaError_t invoke_bias_tanh(bias_act_params p, cudaStream_t stream) {
  p.act = activation::tanh;
  return invoke_bias_act(p, stream);
}

cudaError_t invoke_residual_add(const residual_add_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    residual_add_kernel<T><<<internal::grid_for(p.rows * p.cols, kThreads), kThreads, 0, stream>>>(
      static_cast<const T*>(p.a), static_cast<const T*>(p.b), static_cast<const T*>(p.bias),
      static_cast<T*>(p.out), p.rows, p.cols);
    return cudaGetLastError();
  });
}

cudaError_t invoke_convert(const convert_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  if (p.src_type == p.dst_type) {
    if (p.src == p.dst)
      return cudaSuccess;
    return cudaMemcpyAsync(p.dst, p.src, static_cast<std::size_t>(p.count) * dtype_size(p.src_type),
                           cudaMemcpyDeviceToDevice, stream);
  }
  return internal::dispatch(p.src_type, [&](auto src_tag) {
    using S = typename decltype(src_tag)::type;
    return internal::dispatch(p.dst_type, [&](auto dst_tag) {
      using D = typename decltype(dst_tag)::type;
      convert_kernel<S, D><<<internal::grid_for(p.count, kThreads), kThreads, 0, stream>>>(
        static_cast<const S*>(p.src), static_cast<D*>(p.dst), p.count);
      return cudaGetLastError();
    });
  });
}

} // namespace sy::gpu::cuda
