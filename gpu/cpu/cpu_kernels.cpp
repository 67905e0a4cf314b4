#include "gpu/cpu/cpu_kernels.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace sy::gpu::cpu {

namespace {

inline float gelu_tanh(float x) {
  constexpr float k = 0.7978845608028654f; // sqrt(2/pi)
  return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

inline float gelu_erf(float x) {
  return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f));
}

inline float silu(float x) {
  return x / (1.0f + std::exp(-x));
}

inline int packed(int stride, int cols) {
  return stride == 0 ? cols : stride;
}

} // namespace

void bias_act_rows(float* x, const float* bias, int rows, int cols, int ld, activation act) {
  for (int r = 0; r < rows; ++r) {
    float* row = x + static_cast<std::size_t>(r) * ld;
    if (bias)
      for (int c = 0; c < cols; ++c)
        row[c] += bias[c];
    switch (act) {
      case activation::none: break;
      case activation::gelu_tanh:
        for (int c = 0; c < cols; ++c)
          row[c] = gelu_tanh(row[c]);
        break;
      case activation::tanh:
        for (int c = 0; c < cols; ++c)
          row[c] = std::tanh(row[c]);
        break;
      case activation::gelu_erf:
        for (int c = 0; c < cols; ++c)
          row[c] = gelu_erf(row[c]);
        break;
      case activation::relu:
        for (int c = 0; c < cols; ++c)
          row[c] = std::max(row[c], 0.0f);
        break;
      case activation::silu:
        for (int c = 0; c < cols; ++c)
          row[c] = silu(row[c]);
        break;
    }
  }
}

void run_gemm(const gemm_params& p) {
  int a_cols = p.trans_a ? p.m : p.k, b_cols = p.trans_b ? p.k : p.n;
  int lda = packed(p.lda, a_cols), ldb = packed(p.ldb, b_cols), ldc = packed(p.ldc, p.n);
  auto* c = static_cast<float*>(p.c);
  auto* bias = static_cast<const float*>(p.bias);
  float beta = p.beta;
  bool bias_done = false;
  if (bias && beta == 0.0f) {
    // Pre-fill C with the bias and accumulate onto it: saves a pass over C.
    for (int r = 0; r < p.m; ++r)
      std::memcpy(c + static_cast<std::size_t>(r) * ldc, bias, sizeof(float) * p.n);
    beta = 1.0f;
    bias_done = true;
  }
  cblas_sgemm(CblasRowMajor, p.trans_a ? CblasTrans : CblasNoTrans, p.trans_b ? CblasTrans : CblasNoTrans, p.m,
              p.n, p.k, p.alpha, static_cast<const float*>(p.a), lda, static_cast<const float*>(p.b), ldb, beta,
              c, ldc);
  if ((bias && !bias_done) || p.act != activation::none)
    bias_act_rows(c, bias_done ? nullptr : bias, p.m, p.n, ldc, p.act);
}

void run_embedding(const embedding_params& p) {
  auto* out = static_cast<float*>(p.out);
  auto* tok = static_cast<const float*>(p.tok_emb);
  auto* pos = static_cast<const float*>(p.pos_emb);
  auto* types = static_cast<const float*>(p.type_emb);
  for (int b = 0; b < p.batch; ++b)
    for (int t = 0; t < p.seq; ++t) {
      std::size_t row = static_cast<std::size_t>(b) * p.seq + t;
      int id = std::clamp(p.tokens[row], 0, p.vocab - 1);
      const float* e = tok + static_cast<std::size_t>(id) * p.hidden;
      float* o = out + row * p.hidden;
      if (pos) {
        int at = p.positions ? std::clamp(p.positions[row], 0, p.max_seq - 1) : t;
        const float* q = pos + static_cast<std::size_t>(at) * p.hidden;
        for (int c = 0; c < p.hidden; ++c)
          o[c] = e[c] + q[c];
      } else {
        std::memcpy(o, e, sizeof(float) * static_cast<std::size_t>(p.hidden));
      }
      if (types) {
        int ty = p.token_types ? std::clamp(p.token_types[row], 0, p.type_vocab - 1) : 0;
        const float* y = types + static_cast<std::size_t>(ty) * p.hidden;
        for (int c = 0; c < p.hidden; ++c)
          o[c] += y[c];
      }
    }
}

void run_layer_norm(const layer_norm_params& p) {
  int is = packed(p.in_stride, p.cols), os = packed(p.out_stride, p.cols);
  auto* in = static_cast<const float*>(p.in);
  auto* out = static_cast<float*>(p.out);
  auto* g = static_cast<const float*>(p.gamma);
  auto* bt = static_cast<const float*>(p.beta);
  for (int r = 0; r < p.rows; ++r) {
    const float* x = in + static_cast<std::size_t>(r) * is;
    float* y = out + static_cast<std::size_t>(r) * os;
    if (p.rms) { // x / sqrt(mean(x^2) + eps) * gamma
      float sq = 0.0f;
      for (int c = 0; c < p.cols; ++c)
        sq += x[c] * x[c];
      float inv = 1.0f / std::sqrt(sq / static_cast<float>(p.cols) + p.eps);
      for (int c = 0; c < p.cols; ++c)
        y[c] = x[c] * inv * g[c];
      continue;
    }
    float sum = 0.0f;
    for (int c = 0; c < p.cols; ++c)
      sum += x[c];
    float mean = sum / static_cast<float>(p.cols);
    float var = 0.0f;
    for (int c = 0; c < p.cols; ++c) {
      float d = x[c] - mean;
      var += d * d;
    }
    var /= static_cast<float>(p.cols);
    float inv = 1.0f / std::sqrt(var + p.eps);
    for (int c = 0; c < p.cols; ++c)
      y[c] = (x[c] - mean) * inv * g[c] + bt[c];
  }
}

void run_bias_act(const bias_act_params& p) {
  bias_act_rows(static_cast<float*>(p.x), static_cast<const float*>(p.bias), p.rows, p.cols, p.cols, p.act);
}

void run_add(const add_params& p) {
  auto* o = static_cast<float*>(p.out);
  auto* a = static_cast<const float*>(p.a);
  auto* b = static_cast<const float*>(p.b);
  for (std::size_t i = 0; i < p.count; ++i)
    o[i] = a[i] + b[i];
}

void run_attention(const attention_params& p) {
  int w = p.heads * p.head_dim, kvh = p.kv_heads > 0 ? p.kv_heads : p.heads, kw = kvh * p.head_dim;
  int qs = packed(p.q_stride, w), ks = packed(p.k_stride, kw), vs = packed(p.v_stride, kw),
      os = packed(p.out_stride, w);
  const int group = p.heads / kvh;
  float scale = p.scale != 0.0f ? p.scale : 1.0f / std::sqrt(static_cast<float>(p.head_dim));
  thread_local std::vector<float> scores;
  scores.resize(static_cast<std::size_t>(p.seq) * p.seq);
  auto* q = static_cast<const float*>(p.q);
  auto* k = static_cast<const float*>(p.k);
  auto* v = static_cast<const float*>(p.v);
  auto* out = static_cast<float*>(p.out);
  const int d = p.head_dim;
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < p.heads; ++h) {
      std::size_t row0 = static_cast<std::size_t>(b) * p.seq;
      int n = p.seq;
      if (p.seq_starts) {
        row0 = static_cast<std::size_t>(p.seq_starts[b]);
        n = std::clamp(p.seq_starts[b + 1] - p.seq_starts[b], 0, p.seq);
        if (n == 0)
          continue;
      }
      const int g = h / group;
      const float* qb = q + row0 * qs + static_cast<std::size_t>(h) * d;
      const float* kb = k + row0 * ks + static_cast<std::size_t>(g) * d;
      const float* vb = v + row0 * vs + static_cast<std::size_t>(g) * d;
      float* ob = out + row0 * os + static_cast<std::size_t>(h) * d;
      float* s = scores.data();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, d, scale, qb, qs, kb, ks, 0.0f, s, n);
      for (int i = 0; i < n; ++i) {
        float* row = s + static_cast<std::size_t>(i) * n;
        int len = p.causal ? i + 1 : n;
        float mx = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < len; ++j)
          mx = std::max(mx, row[j]);
        float sum = 0.0f;
        for (int j = 0; j < len; ++j) {
          row[j] = std::exp(row[j] - mx);
          sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < len; ++j)
          row[j] *= inv;
        for (int j = len; j < n; ++j)
          row[j] = 0.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, n, 1.0f, s, n, vb, vs, 0.0f, ob, os);
    }
}

} // namespace sy::gpu::cpu
