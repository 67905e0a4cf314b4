// The cpu kernels of the architecture options (issue 8): rotary position embeddings, the gated
// activation of SwiGLU, and the per-sequence pooling of the encoder outputs. fp32, plain loops.
#include <algorithm>
#include <cmath>
#include <vector>

#include "gpu/cpu/cpu_kernels.hpp"

namespace sy::gpu::cpu {

float activate(float x, activation act) noexcept {
  float v = x;
  bias_act_rows(&v, nullptr, 1, 1, 1, act);
  return v;
}

void run_rotary(const rotary_params& p) {
  const int half = p.head_dim / 2;
  const int stride = p.stride != 0 ? p.stride : p.heads * p.head_dim;
  std::vector<float> inv(static_cast<std::size_t>(half));
  for (int i = 0; i < half; ++i)
    inv[static_cast<std::size_t>(i)] = static_cast<float>(rotary_inv_freq(p, i));
  auto* x = static_cast<float*>(p.x);
  for (int r = 0; r < p.rows; ++r) {
    float pos = static_cast<float>(p.positions[r]);
    if (p.scaling == rope_scaling_kind::linear)
      pos /= p.factor;
    float* row = x + static_cast<std::size_t>(r) * stride;
    for (int i = 0; i < half; ++i) {
      const float angle = pos * inv[static_cast<std::size_t>(i)];
      const float c = std::cos(angle), s = std::sin(angle);
      for (int h = 0; h < p.heads; ++h) {
        float* v = row + static_cast<std::size_t>(h) * p.head_dim;
        const float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
      }
    }
  }
}

void run_gated_act(const gated_act_params& p) {
  auto* in = static_cast<const float*>(p.in);
  auto* out = static_cast<float*>(p.out);
  for (int r = 0; r < p.rows; ++r) {
    const float* gate = in + static_cast<std::size_t>(r) * 2 * p.cols;
    const float* up = gate + p.cols;
    float* o = out + static_cast<std::size_t>(r) * p.cols;
    for (int c = 0; c < p.cols; ++c)
      o[c] = activate(gate[c], p.act) * up[c];
  }
}

void run_pool(const pool_params& p) {
  auto* in = static_cast<const float*>(p.in);
  auto* out = static_cast<float*>(p.out);
  for (int b = 0; b < p.batch; ++b) {
    const int first = p.seq_starts ? p.seq_starts[b] : b * p.seq;
    const int n = p.seq_starts ? p.seq_starts[b + 1] - first : p.seq;
    float* o = out + static_cast<std::size_t>(b) * p.cols;
    std::fill(o, o + p.cols, 0.0f);
    if (n <= 0)
      continue;
    if (p.kind == pool_kind::mean) {
      for (int t = 0; t < n; ++t) {
        const float* x = in + static_cast<std::size_t>(first + t) * p.cols;
        for (int c = 0; c < p.cols; ++c)
          o[c] += x[c];
      }
      for (int c = 0; c < p.cols; ++c)
        o[c] /= static_cast<float>(n);
    } else {
      const int row = p.kind == pool_kind::first ? first : first + n - 1;
      std::copy_n(in + static_cast<std::size_t>(row) * p.cols, p.cols, o);
    }
    if (p.l2_normalize) {
      float sq = 0.0f;
      for (int c = 0; c < p.cols; ++c)
        sq += o[c] * o[c];
      const float inv = 1.0f / std::max(std::sqrt(sq), 1e-12f);
      for (int c = 0; c < p.cols; ++c)
        o[c] *= inv;
    }
  }
}

} // namespace sy::gpu::cpu
