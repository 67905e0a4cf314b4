// The cpu backend's paged KV kernels (gpu/ops.hpp: kv_append, paged_attention), fp32. They read the step's
// metadata (query_start, context_lens, block tables) at run time, on the stream worker, like a GPU kernel
// reads device memory; inconsistent metadata throws, which the device turns into its sticky error.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu/cpu/cpu_kernels.hpp"

namespace sy::gpu::cpu {

namespace {

/// Sequence s's rows [first, first + n) and its context length, validated against the layout (the device
/// prefixes the op's name to the message).
struct seq_rows {
  int first, n, context;
};

seq_rows rows_of(const paged_kv& kv, int s) {
  int first = kv.query_start[s], end = kv.query_start[s + 1], ctx = kv.context_lens[s];
  int n = end - first;
  if (first < 0 || n < 0 || end > kv.tokens || ctx < n || ctx > kv.max_context ||
      ctx > kv.max_blocks * kv.block_tokens)
    throw std::runtime_error("sequence " + std::to_string(s) + " has rows [" +
                             std::to_string(first) + ", " + std::to_string(end) + ") of " +
                             std::to_string(kv.tokens) + " and context " + std::to_string(ctx) +
                             " (max_context " + std::to_string(kv.max_context) + ", capacity " +
                             std::to_string(kv.max_blocks * kv.block_tokens) + ")");
  return {first, n, ctx};
}

/// The K (which = 0) or V (which = 1) row of kv head g at position pos of sequence s.
inline float* kv_row(const paged_kv& kv, int s, int pos, int which, int g) {
  void* block = kv.block_tables[static_cast<std::size_t>(s) * kv.max_blocks + pos / kv.block_tokens];
  if (block == nullptr)
    throw std::runtime_error("paged kv: sequence " + std::to_string(s) + " has no block for position " +
                             std::to_string(pos));
  std::size_t row = ((static_cast<std::size_t>(kv.layer) * 2 + which) * kv.kv_heads + g) * kv.block_tokens +
                    pos % kv.block_tokens;
  return static_cast<float*>(block) + row * kv.head_dim;
}

inline int packed(int stride, int cols) {
  return stride == 0 ? cols : stride;
}

} // namespace

void run_kv_append(const kv_append_params& p) {
  const paged_kv& kv = p.kv;
  int w = kv.kv_heads * kv.head_dim;
  int ks = packed(p.k_stride, w), vs = packed(p.v_stride, w);
  auto* k = static_cast<const float*>(p.k);
  auto* v = static_cast<const float*>(p.v);
  std::size_t row_bytes = sizeof(float) * kv.head_dim;
  for (int s = 0; s < kv.seqs; ++s) {
    seq_rows r = rows_of(kv, s);
    for (int i = 0; i < r.n; ++i) {
      int pos = r.context - r.n + i;
      std::size_t row = static_cast<std::size_t>(r.first + i);
      for (int g = 0; g < kv.kv_heads; ++g) {
        std::memcpy(kv_row(kv, s, pos, 0, g), k + row * ks + static_cast<std::size_t>(g) * kv.head_dim, row_bytes);
        std::memcpy(kv_row(kv, s, pos, 1, g), v + row * vs + static_cast<std::size_t>(g) * kv.head_dim, row_bytes);
      }
    }
  }
}

void run_paged_attention(const paged_attention_params& p) {
  const paged_kv& kv = p.kv;
  const int d = kv.head_dim, group = p.heads / kv.kv_heads;
  const int qs = packed(p.q_stride, p.heads * d), os = packed(p.out_stride, p.heads * d);
  const float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(d));
  auto* q = static_cast<const float*>(p.q);
  auto* out = static_cast<float*>(p.out);
  thread_local std::vector<float> scores;
  thread_local std::vector<const float*> keys, values;
  for (int s = 0; s < kv.seqs; ++s) {
    seq_rows r = rows_of(kv, s);
    if (r.n == 0)
      continue;
    scores.resize(static_cast<std::size_t>(r.context));
    keys.resize(static_cast<std::size_t>(r.context));
    values.resize(static_cast<std::size_t>(r.context));
    for (int g = 0; g < kv.kv_heads; ++g) {
      // Resolve the row addresses of this sequence's keys and values once per kv head.
      for (int j = 0; j < r.context; ++j) {
        keys[j] = kv_row(kv, s, j, 0, g);
        values[j] = kv_row(kv, s, j, 1, g);
      }
      for (int h = g * group; h < (g + 1) * group; ++h)
        for (int i = 0; i < r.n; ++i) {
          std::size_t row = static_cast<std::size_t>(r.first + i);
          const float* qr = q + row * qs + static_cast<std::size_t>(h) * d;
          float* o = out + row * os + static_cast<std::size_t>(h) * d;
          int len = r.context - r.n + i + 1; // causal: keys 0..position
          float mx = -std::numeric_limits<float>::infinity();
          for (int j = 0; j < len; ++j) {
            const float* kr = keys[j];
            float dot = 0.0f;
            for (int c = 0; c < d; ++c)
              dot += qr[c] * kr[c];
            scores[j] = dot * scale;
            mx = std::max(mx, scores[j]);
          }
          float sum = 0.0f;
          for (int j = 0; j < len; ++j) {
            scores[j] = std::exp(scores[j] - mx);
            sum += scores[j];
          }
          float inv = 1.0f / sum;
          std::fill(o, o + d, 0.0f);
          for (int j = 0; j < len; ++j) {
            const float pj = scores[j] * inv;
            const float* vr = values[j];
            for (int c = 0; c < d; ++c)
              o[c] += pj * vr[c];
          }
        }
    }
  }
}

} // namespace sy::gpu::cpu
