// Softmax attention with an online (streaming) softmax, one block per (query tile, head, batch).
//
// A block holds kQTile = 32 queries (8 warps x 4 rows) in shared memory, pre-scaled by scale*log2(e) and
// converted to fp32, then streams the keys and values in tiles of 32 through shared memory. For each key
// tile, lane j of a warp computes the scores of key j against the warp's 4 rows (one K read serves 4 rows),
// the warp reduces max and sum with shuffles (fp32, base-2 exponentials), rescales its running output and
// accumulates P*V with lanes split over the head dimension (lane owns dims lane, lane+32, ...). Memory:
// every K/V element is read once per 32 queries; scores never touch global memory. Causal blocks stop at
// their last query, so a decoder does about half the work of an encoder.
#include <cmath>

#include "gpu/cuda/internal/device_math.cuh"
#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {
namespace {

using internal::from_f32;
using internal::to_f32;

constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 4;
constexpr int kQTile = kWarps * kRowsPerWarp; // queries per block
constexpr int kKTile = 32;                    // keys per tile = warp width
constexpr int kThreads = kWarps * 32;

struct attention_args {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  const std::int32_t* seq_lens;
  const std::int32_t* seq_starts; // packed variable-length sequences, or null
  int seq, heads, head_dim;
  int group; // query heads per key/value head
  long long q_stride, k_stride, v_stride, out_stride;
  float scale_log2; // scale * log2(e)
};

/// kChunks = head-dimension values per lane (head_dim <= 32 * kChunks).
template <class T, int kChunks, bool kCausal>
__global__ void __launch_bounds__(kThreads) attention_kernel(attention_args a) {
  extern __shared__ float smem[];
  const int d_len = a.head_dim;
  const int k_pitch = d_len + 1;     // odd pitch: lane j reading row j hits distinct banks
  constexpr int v_pitch = kChunks * 32; // padded with zeros, so the P*V loop needs no bounds check
  float* qs = smem;                      // [kQTile][d_len]
  float* ks = qs + kQTile * d_len;       // [kKTile][k_pitch]
  float* vs = ks + kKTile * k_pitch;     // [kKTile][v_pitch]

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int q0 = blockIdx.x * kQTile;
  const int h = blockIdx.y;
  const int b = blockIdx.z;
  int len = a.seq;
  long long row0 = static_cast<long long>(b) * a.seq;
  if (a.seq_lens != nullptr)
    len = min(max(a.seq_lens[b], 0), a.seq);
  if (a.seq_starts != nullptr) {
    row0 = a.seq_starts[b];
    len = min(max(a.seq_starts[b + 1] - a.seq_starts[b], 0), a.seq);
  }
  const int rows_out = a.seq_starts != nullptr ? len : a.seq; // packed: never touch the next sequence
  const int g = h / a.group;

  const T* q = static_cast<const T*>(a.q) + row0 * a.q_stride + h * d_len;
  const T* k = static_cast<const T*>(a.k) + row0 * a.k_stride + g * d_len;
  const T* v = static_cast<const T*>(a.v) + row0 * a.v_stride + g * d_len;
  T* out = static_cast<T*>(a.out) + row0 * a.out_stride + h * d_len;

  for (int i = tid; i < kQTile * d_len; i += kThreads) {
    const int r = i / d_len;
    const int d = i - r * d_len;
    const int row = q0 + r;
    qs[i] = row < len ? to_f32(q[row * a.q_stride + d]) * a.scale_log2 : 0.0f;
  }

  float acc[kRowsPerWarp][kChunks];
  float m[kRowsPerWarp];
  float l[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c)
      acc[r][c] = 0.0f;
  }

  const int first_row = q0 + warp * kRowsPerWarp;
  const int kv_end = kCausal ? min(len, q0 + kQTile) : len;
  for (int k0 = 0; k0 < kv_end; k0 += kKTile) {
    __syncthreads(); // previous tile fully consumed (and, first time, qs written)
    for (int i = tid; i < kKTile * v_pitch; i += kThreads) {
      const int j = i / v_pitch;
      const int d = i - j * v_pitch;
      const int key = k0 + j;
      const bool in = key < kv_end && d < d_len;
      if (d < d_len)
        ks[j * k_pitch + d] = in ? to_f32(k[key * a.k_stride + d]) : 0.0f;
      vs[i] = in ? to_f32(v[key * a.v_stride + d]) : 0.0f;
    }
    __syncthreads();

    // Scores of key k0+lane against the warp's rows (log2 domain).
    float s[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r)
      s[r] = 0.0f;
    const float* krow = ks + lane * k_pitch;
    const float* qrow = qs + warp * kRowsPerWarp * d_len;
    for (int d = 0; d < d_len; ++d) {
      const float kv = krow[d];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r)
        s[r] = fmaf(qrow[r * d_len + d], kv, s[r]);
    }

    const int key = k0 + lane;
    float p[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int row = first_row + r;
      const bool visible = row < len && key < kv_end && (!kCausal || key <= row);
      const float sr = visible ? s[r] : -INFINITY;
      const float tile_max = internal::warp_max(sr);
      if (tile_max == -INFINITY) { // warp-uniform: nothing visible in this tile for this row
        p[r] = 0.0f;
        continue;
      }
      const float m_new = fmaxf(m[r], tile_max);
      const float alpha = exp2f(m[r] - m_new); // 0 on the first visible tile (m = -inf)
      p[r] = visible ? exp2f(sr - m_new) : 0.0f;
      l[r] = l[r] * alpha + internal::warp_sum(p[r]);
      m[r] = m_new;
#pragma unroll
      for (int c = 0; c < kChunks; ++c)
        acc[r][c] *= alpha;
    }

    // acc[r][c] += sum_j p_j(row r) * v[j][lane + 32c]
#pragma unroll 4
    for (int j = 0; j < kKTile; ++j) {
      float vv[kChunks];
#pragma unroll
      for (int c = 0; c < kChunks; ++c)
        vv[c] = vs[j * v_pitch + lane + 32 * c];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const float pj = __shfl_sync(0xffffffffu, p[r], j);
#pragma unroll
        for (int c = 0; c < kChunks; ++c)
          acc[r][c] = fmaf(pj, vv[c], acc[r][c]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int row = first_row + r;
    if (row >= rows_out)
      break;
    const float inv = (row < len && l[r] > 0.0f) ? 1.0f / l[r] : 0.0f;
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int d = lane + 32 * c;
      if (d < d_len)
        out[row * a.out_stride + d] = from_f32<T>(acc[r][c] * inv);
    }
  }
}

template <class T, int kChunks>
cudaError_t launch(const attention_params& p, const attention_args& a, cudaStream_t stream) {
  const std::size_t smem =
    sizeof(float) * (static_cast<std::size_t>(kQTile) * p.head_dim + kKTile * (p.head_dim + 1) + kKTile * kChunks * 32);
  const dim3 grid((p.seq + kQTile - 1) / kQTile, p.heads, p.batch);
  auto kernel = p.causal ? attention_kernel<T, kChunks, true> : attention_kernel<T, kChunks, false>;
  if (smem > 48 * 1024) {
    // Opt in to more than 48 KiB of dynamic shared memory (per function and device; cheap to repeat).
    if (auto e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(smem));
        e != cudaSuccess)
      return e;
  }
  kernel<<<grid, kThreads, smem, stream>>>(a);
  return cudaGetLastError();
}

} // namespace

cudaError_t invoke_attention(const attention_params& p, cudaStream_t stream) {
  if (!p.check())
    return cudaErrorInvalidValue;
  const long long width = static_cast<long long>(p.heads) * p.head_dim;
  const int kv_heads = p.kv_heads > 0 ? p.kv_heads : p.heads;
  const long long kv_width = static_cast<long long>(kv_heads) * p.head_dim;
  const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  const attention_args a{p.q,
                         p.k,
                         p.v,
                         p.out,
                         p.seq_lens,
                         p.seq_starts,
                         p.seq,
                         p.heads,
                         p.head_dim,
                         p.heads / kv_heads,
                         p.q_stride != 0 ? p.q_stride : width,
                         p.k_stride != 0 ? p.k_stride : kv_width,
                         p.v_stride != 0 ? p.v_stride : kv_width,
                         p.out_stride != 0 ? p.out_stride : width,
                         scale * 1.4426950408889634f};
  return internal::dispatch(p.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (p.head_dim <= 32)
      return launch<T, 1>(p, a, stream);
    if (p.head_dim <= 64)
      return launch<T, 2>(p, a, stream);
    if (p.head_dim <= 128)
      return launch<T, 4>(p, a, stream);
    return launch<T, 8>(p, a, stream);
  });
}

} // namespace sy::gpu::cuda
