// The paged KV kernels (gpu/ops.hpp: kv_append, paged_attention; layout and step metadata documented
// there). Both find a query row's sequence by binary search over query_start.
//
// kv_append: one block per new token; its threads copy the token's K and V rows of every kv head into
//   the token's slot of its block.
// paged_attention: one block per (query row, query head), 4 warps. The query, pre-scaled by
//   scale*log2(e), sits in shared memory in fp32; warp w walks keys w, w+4, ... of the row's causal range
//   with its lanes over the head dimension (lane owns dims lane, lane+32, ...; a key row is read
//   contiguously), keeping an online softmax (running max, sum, output) in fp32; the four partial
//   results are merged through shared memory at the end. Decode rows (one per sequence) read every key
//   once; a prefill chunk of n rows reads its keys n times (the dense attention kernel is the faster path
//   for a fresh prompt). Limits: head_dim <= 256; heads, tokens <= 65535 * 65535 (grid.y, grid.x).
#include <cmath>

#include "gpu/cuda/internal/device_math.cuh"
#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {
namespace {

using internal::from_f32;
using internal::to_f32;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

struct kv_args {
  void* const* tables;
  const std::int32_t* query_start;
  const std::int32_t* context_lens;
  int seqs, max_blocks, kv_heads, head_dim, block_tokens, layer;
};

/// The sequence whose rows contain `row` (query_start non-decreasing): the last s with query_start[s] <= row
/// and query_start[s+1] > row.
__device__ __forceinline__ int find_sequence(const kv_args& a, int row) {
  int lo = 0, hi = a.seqs - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (a.query_start[mid] <= row)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/// Element offset of the K (which = 0) or V (which = 1) row of kv head g at slot `slot` within a block.
__device__ __forceinline__ long long row_offset(const kv_args& a, int which, int g, int slot) {
  return ((static_cast<long long>(a.layer) * 2 + which) * a.kv_heads + g) * a.block_tokens * a.head_dim +
         static_cast<long long>(slot) * a.head_dim;
}

template <class T>
__global__ void kv_append_kernel(kv_args a, const T* k, const T* v, long long k_stride, long long v_stride) {
  const int row = blockIdx.x;
  const int s = find_sequence(a, row);
  const int n = a.query_start[s + 1] - a.query_start[s];
  const int pos = a.context_lens[s] - n + (row - a.query_start[s]);
  T* block = static_cast<T*>(a.tables[static_cast<long long>(s) * a.max_blocks + pos / a.block_tokens]);
  const int slot = pos % a.block_tokens;
  const int width = a.kv_heads * a.head_dim;
  for (int i = threadIdx.x; i < 2 * width; i += blockDim.x) {
    const int which = i / width;
    const int c = i - which * width;
    const int g = c / a.head_dim;
    const int d = c - g * a.head_dim;
    const T x = which == 0 ? k[row * k_stride + c] : v[row * v_stride + c];
    block[row_offset(a, which, g, slot) + d] = x;
  }
}

template <class T, int kChunks>
__global__ void __launch_bounds__(kThreads)
  paged_attention_kernel(kv_args a, const T* q, T* out, int heads, long long q_stride, long long out_stride,
                         float scale_log2) {
  extern __shared__ float smem[];
  const int d_len = a.head_dim;
  float* qs = smem;                       // [d_len]
  float* acc_s = qs + d_len;              // [kWarps][d_len]
  float* m_s = acc_s + kWarps * d_len;    // [kWarps]
  float* l_s = m_s + kWarps;              // [kWarps]

  const int row = blockIdx.x;
  const int h = blockIdx.y;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int s = find_sequence(a, row);
  const int n = a.query_start[s + 1] - a.query_start[s];
  const int len = a.context_lens[s] - n + (row - a.query_start[s]) + 1; // keys 0..position
  const int g = h / (heads / a.kv_heads);
  void* const* table = a.tables + static_cast<long long>(s) * a.max_blocks;

  for (int d = threadIdx.x; d < d_len; d += blockDim.x)
    qs[d] = to_f32(q[row * q_stride + h * d_len + d]) * scale_log2;
  __syncthreads();

  float m = -INFINITY, l = 0.0f;
  float acc[kChunks];
#pragma unroll
  for (int c = 0; c < kChunks; ++c)
    acc[c] = 0.0f;
  for (int j = warp; j < len; j += kWarps) {
    const T* block = static_cast<const T*>(table[j / a.block_tokens]);
    const int slot = j % a.block_tokens;
    const T* kr = block + row_offset(a, 0, g, slot);
    const T* vr = block + row_offset(a, 1, g, slot);
    float part = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int d = lane + 32 * c;
      if (d < d_len)
        part = fmaf(qs[d], to_f32(kr[d]), part);
    }
    const float score = internal::warp_sum(part);
    const float m_new = fmaxf(m, score);
    const float alpha = exp2f(m - m_new); // 0 on the first key (m = -inf)
    const float p = exp2f(score - m_new);
    l = l * alpha + p;
    m = m_new;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int d = lane + 32 * c;
      acc[c] = acc[c] * alpha + (d < d_len ? p * to_f32(vr[d]) : 0.0f);
    }
  }
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
    const int d = lane + 32 * c;
    if (d < d_len)
      acc_s[warp * d_len + d] = acc[c];
  }
  if (lane == 0) {
    m_s[warp] = m;
    l_s[warp] = l;
  }
  __syncthreads();

  float m_all = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w)
    m_all = fmaxf(m_all, m_s[w]);
  float l_all = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w)
    l_all += m_s[w] == -INFINITY ? 0.0f : l_s[w] * exp2f(m_s[w] - m_all);
  const float inv = l_all > 0.0f ? 1.0f / l_all : 0.0f;
  for (int d = threadIdx.x; d < d_len; d += blockDim.x) {
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w)
      if (m_s[w] != -INFINITY)
        o += acc_s[w * d_len + d] * exp2f(m_s[w] - m_all);
    out[row * out_stride + h * d_len + d] = from_f32<T>(o * inv);
  }
}

kv_args args_of(const gpu::paged_kv& kv) {
  return kv_args{kv.block_tables, kv.query_start, kv.context_lens, kv.seqs,   kv.max_blocks,
                 kv.kv_heads,     kv.head_dim,    kv.block_tokens, kv.layer};
}

template <class T, int kChunks>
cudaError_t launch_attention(const gpu::paged_attention_params& p, cudaStream_t stream) {
  const kv_args a = args_of(p.kv);
  const int d = p.kv.head_dim;
  const long long width = static_cast<long long>(p.heads) * d;
  const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(d));
  const std::size_t smem = sizeof(float) * (static_cast<std::size_t>(d) * (1 + kWarps) + 2 * kWarps);
  const dim3 grid(static_cast<unsigned>(p.kv.tokens), static_cast<unsigned>(p.heads));
  paged_attention_kernel<T, kChunks><<<grid, kThreads, smem, stream>>>(
    a, static_cast<const T*>(p.q), static_cast<T*>(p.out), p.heads, p.q_stride != 0 ? p.q_stride : width,
    p.out_stride != 0 ? p.out_stride : width, scale * 1.4426950408889634f);
  return cudaGetLastError();
}

} // namespace

cudaError_t invoke_kv_append(const gpu::kv_append_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  const kv_args a = args_of(p.kv);
  const long long width = static_cast<long long>(p.kv.kv_heads) * p.kv.head_dim;
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    kv_append_kernel<T><<<static_cast<unsigned>(p.kv.tokens), kThreads, 0, stream>>>(
      a, static_cast<const T*>(p.k), static_cast<const T*>(p.v), p.k_stride != 0 ? p.k_stride : width,
      p.v_stride != 0 ? p.v_stride : width);
    return cudaGetLastError();
  });
}

cudaError_t invoke_paged_attention(const gpu::paged_attention_params& p, cudaStream_t stream) {
  if (!p.check() || p.kv.head_dim > 256)
    return cudaErrorInvalidValue;
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (p.kv.head_dim <= 32)
      return launch_attention<T, 1>(p, stream);
    if (p.kv.head_dim <= 64)
      return launch_attention<T, 2>(p, stream);
    if (p.kv.head_dim <= 128)
      return launch_attention<T, 4>(p, stream);
    return launch_attention<T, 8>(p, stream);
  });
}

} // namespace sy::gpu::cuda
