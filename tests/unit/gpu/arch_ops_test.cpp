// The ops of the architecture options (issue 8) on the cpu backend against plain loops written here:
// activations, RMSNorm, embeddings with token types and positions, grouped-query attention over packed
// variable-length sequences, rotary embeddings (with linear and llama3 scaling), SwiGLU, pooling.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "gpu/backend.hpp"

using namespace sy::gpu;

namespace {

std::unique_ptr<backend> cpu() {
  backend_options o;
  o.kind = backend_kind::cpu;
  o.devices = 1;
  o.budget_bytes = 64 << 20;
  o.cpu_threads = 1;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  return std::move(*b);
}

std::vector<float> random_vec(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 g{seed};
  std::uniform_real_distribution<float> u{-scale, scale};
  std::vector<float> v(n);
  for (auto& x : v)
    x = u(g);
  return v;
}

template <class T>
T* upload(device& d, const std::vector<T>& v) {
  auto buf = d.allocate(std::max<std::size_t>(1, v.size()) * sizeof(T));
  REQUIRE(buf.ok());
  if (!v.empty())
    REQUIRE(d.copy_to_device(buf->data, v.data(), v.size() * sizeof(T), d.compute_stream()).ok());
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  return buf->template as<T>();
}

std::vector<float> download(device& d, const float* p, std::size_t n) {
  std::vector<float> v(n);
  REQUIRE(d.copy_to_host(v.data(), p, n * 4, d.compute_stream()).ok());
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  return v;
}

void require_close(const std::vector<float>& got, const std::vector<float>& want, double tol = 1e-5) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(std::abs(got[i] - want[i]) <= tol * std::max(1.0, std::abs(static_cast<double>(want[i]))));
  }
}

} // namespace

TEST_CASE("bias_act computes gelu_erf, relu and silu like their formulas", "[gpu][cpu][arch]") {
  auto b = cpu();
  auto& d = b->dev(0);
  auto x = random_vec(64, 1, 4.0f);
  for (auto act : {activation::gelu_erf, activation::relu, activation::silu}) {
    float* dx = upload(d, x);
    bias_act_params p;
    p.x = dx;
    p.rows = 8;
    p.cols = 8;
    p.act = act;
    REQUIRE(d.bias_act(p, d.compute_stream()).ok());
    std::vector<float> want;
    for (float v : x) {
      double w = act == activation::relu ? std::max(v, 0.0f)
                 : act == activation::silu ? v / (1 + std::exp(-static_cast<double>(v)))
                                           : 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      want.push_back(static_cast<float>(w));
    }
    require_close(download(d, dx, x.size()), want);
  }
}

TEST_CASE("an RMS norm divides by the root mean square and scales by gamma, without beta", "[gpu][cpu][arch]") {
  auto b = cpu();
  auto& d = b->dev(0);
  const int rows = 3, cols = 16;
  auto x = random_vec(rows * cols, 2), g = random_vec(cols, 3);
  float* dx = upload(d, x);
  float* dy = upload(d, std::vector<float>(rows * cols));
  layer_norm_params p;
  p.in = dx;
  p.out = dy;
  p.gamma = upload(d, g);
  p.rows = rows;
  p.cols = cols;
  p.eps = 1e-6f;
  p.rms = true;
  REQUIRE(d.layer_norm(p, d.compute_stream()).ok());
  std::vector<float> want;
  for (int r = 0; r < rows; ++r) {
    double sq = 0;
    for (int c = 0; c < cols; ++c)
      sq += x[r * cols + c] * x[r * cols + c];
    double inv = 1 / std::sqrt(sq / cols + 1e-6);
    for (int c = 0; c < cols; ++c)
      want.push_back(static_cast<float>(x[r * cols + c] * inv * g[c]));
  }
  require_close(download(d, dy, want.size()), want);
  p.beta = p.gamma;
  auto st = d.layer_norm(p, d.compute_stream());
  REQUIRE_FALSE(st.ok());
  REQUIRE_THAT(st.err().message, Catch::Contains("RMS norm has no beta"));
}

TEST_CASE("embeddings add token types and each row's own position", "[gpu][cpu][arch]") {
  auto b = cpu();
  auto& d = b->dev(0);
  const int h = 4, vocab = 5, max_seq = 6, types = 2;
  auto tok = random_vec(vocab * h, 4), pos = random_vec(max_seq * h, 5), ty = random_vec(types * h, 6);
  std::vector<std::int32_t> ids{1, 4, 0, 2, 3}, positions{0, 1, 2, 0, 1}, tt{0, 1, 1, 0, 1};
  float* out = upload(d, std::vector<float>(ids.size() * h));
  embedding_params p;
  p.tokens = upload(d, ids);
  p.tok_emb = upload(d, tok);
  p.pos_emb = upload(d, pos);
  p.positions = upload(d, positions);
  p.type_emb = upload(d, ty);
  p.token_types = upload(d, tt);
  p.type_vocab = types;
  p.out = out;
  p.batch = 1;
  p.seq = 5;
  p.hidden = h;
  p.vocab = vocab;
  p.max_seq = max_seq;
  REQUIRE(d.embedding(p, d.compute_stream()).ok());
  std::vector<float> want;
  for (std::size_t r = 0; r < ids.size(); ++r)
    for (int c = 0; c < h; ++c)
      want.push_back(tok[ids[r] * h + c] + pos[positions[r] * h + c] + ty[tt[r] * h + c]);
  require_close(download(d, out, want.size()), want);
  // No position table (rotary models), no types: the token rows alone.
  p.pos_emb = nullptr;
  p.type_emb = nullptr;
  p.token_types = nullptr;
  REQUIRE(d.embedding(p, d.compute_stream()).ok());
  want.clear();
  for (std::size_t r = 0; r < ids.size(); ++r)
    for (int c = 0; c < h; ++c)
      want.push_back(tok[ids[r] * h + c]);
  require_close(download(d, out, want.size()), want);
}

TEST_CASE("grouped-query attention over packed sequences equals per-sequence naive attention", "[gpu][cpu][arch]") {
  auto b = cpu();
  auto& d = b->dev(0);
  const int heads = 4, kvh = 2, hd = 8, qw = heads * hd, kw = kvh * hd, stride = qw + 2 * kw;
  std::vector<std::int32_t> starts{0, 3, 8, 9}; // lengths 3, 5, 1
  const int T = 9, longest = 5;
  for (bool causal : {true, false}) {
    auto qkv = random_vec(T * stride, causal ? 7 : 8);
    float* dq = upload(d, qkv);
    float* out = upload(d, std::vector<float>(T * qw, -7.0f));
    attention_params p;
    p.q = dq;
    p.k = dq + qw;
    p.v = dq + qw + kw;
    p.out = out;
    p.batch = 3;
    p.seq = longest;
    p.heads = heads;
    p.kv_heads = kvh;
    p.head_dim = hd;
    p.seq_starts = upload(d, starts);
    p.q_stride = p.k_stride = p.v_stride = stride;
    p.out_stride = qw;
    p.causal = causal;
    REQUIRE(d.attention(p, d.compute_stream()).ok());
    std::vector<float> want(T * qw);
    for (int s = 0; s < 3; ++s)
      for (int h = 0; h < heads; ++h) {
        const int g = h / (heads / kvh);
        for (int i = starts[s]; i < starts[s + 1]; ++i) {
          const int last = causal ? i : starts[s + 1] - 1;
          std::vector<double> w;
          double mx = -1e30, sum = 0;
          for (int j = starts[s]; j <= last; ++j) {
            double dot = 0;
            for (int c = 0; c < hd; ++c)
              dot += qkv[i * stride + h * hd + c] * qkv[j * stride + qw + g * hd + c];
            w.push_back(dot / std::sqrt(static_cast<double>(hd)));
            mx = std::max(mx, w.back());
          }
          for (auto& x : w)
            sum += (x = std::exp(x - mx));
          for (int c = 0; c < hd; ++c) {
            double acc = 0;
            for (int j = starts[s]; j <= last; ++j)
              acc += w[j - starts[s]] / sum * qkv[j * stride + qw + kw + g * hd + c];
            want[i * qw + h * hd + c] = static_cast<float>(acc);
          }
        }
      }
    require_close(download(d, out, want.size()), want, 1e-4);
  }
}

TEST_CASE("rotary embeddings rotate each half-pair by position times the scaled frequency", "[gpu][cpu][arch]") {
  auto b = cpu();
  auto& d = b->dev(0);
  const int rows = 4, heads = 3, hd = 8, half = hd / 2, stride = heads * hd + 5;
  std::vector<std::int32_t> positions{0, 1, 7, 3};
  for (auto scaling : {rope_scaling_kind::none, rope_scaling_kind::linear, rope_scaling_kind::llama3}) {
    auto x = random_vec(rows * stride, 9);
    float* dx = upload(d, x);
    rotary_params p;
    p.x = dx;
    p.positions = upload(d, positions);
    p.rows = rows;
    p.heads = heads;
    p.head_dim = hd;
    p.stride = stride;
    p.theta = 500.0f;
    p.scaling = scaling;
    p.factor = 4.0f;
    p.original_max_positions = 64;
    REQUIRE(d.rotary(p, d.compute_stream()).ok());
    auto want = x;
    for (int r = 0; r < rows; ++r)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < half; ++i) {
          double f = 1 / std::pow(500.0, 2.0 * i / hd), pos = positions[r];
          if (scaling == rope_scaling_kind::linear)
            pos /= 4;
          if (scaling == rope_scaling_kind::llama3) { // Llama 3.1: low 1, high 4, original 64
            double wl = 2 * M_PI / f;
            if (wl > 64.0)
              f /= 4;
            else if (wl >= 16.0) {
              double smooth = (64.0 / wl - 1) / (4 - 1);
              f = (1 - smooth) * f / 4 + smooth * f;
            }
          }
          double a = pos * f;
          float* v = &want[r * stride + h * hd];
          const float* o = &x[r * stride + h * hd];
          v[i] = static_cast<float>(o[i] * std::cos(a) - o[i + half] * std::sin(a));
          v[i + half] = static_cast<float>(o[i + half] * std::cos(a) + o[i] * std::sin(a));
        }
    require_close(download(d, dx, want.size()), want, 1e-5); // untouched columns past the heads too
  }
}

TEST_CASE("the gated activation multiplies silu of the gate columns by the up columns", "[gpu][cpu][arch]") {
  auto b = cpu();
  auto& d = b->dev(0);
  const int rows = 3, cols = 5;
  auto in = random_vec(rows * 2 * cols, 10, 3.0f);
  float* out = upload(d, std::vector<float>(rows * cols));
  gated_act_params p;
  p.in = upload(d, in);
  p.out = out;
  p.rows = rows;
  p.cols = cols;
  REQUIRE(d.gated_act(p, d.compute_stream()).ok());
  std::vector<float> want;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      double g = in[r * 2 * cols + c];
      want.push_back(static_cast<float>(g / (1 + std::exp(-g)) * in[r * 2 * cols + cols + c]));
    }
  require_close(download(d, out, want.size()), want);
}

TEST_CASE("pooling takes each sequence's first, last or mean row, optionally L2-normalized", "[gpu][cpu][arch]") {
  auto b = cpu();
  auto& d = b->dev(0);
  const int cols = 6;
  std::vector<std::int32_t> starts{0, 2, 7}; // lengths 2 and 5
  auto in = random_vec(7 * cols, 11);
  float* out = upload(d, std::vector<float>(2 * cols));
  for (auto kind : {pool_kind::first, pool_kind::last, pool_kind::mean})
    for (bool l2 : {false, true}) {
      pool_params p;
      p.in = upload(d, in);
      p.out = out;
      p.seq_starts = upload(d, starts);
      p.batch = 2;
      p.cols = cols;
      p.kind = kind;
      p.l2_normalize = l2;
      REQUIRE(d.pool(p, d.compute_stream()).ok());
      std::vector<float> want;
      for (int s = 0; s < 2; ++s) {
        std::vector<double> v(cols, 0.0);
        for (int c = 0; c < cols; ++c) {
          if (kind == pool_kind::first)
            v[c] = in[starts[s] * cols + c];
          else if (kind == pool_kind::last)
            v[c] = in[(starts[s + 1] - 1) * cols + c];
          else {
            for (int t = starts[s]; t < starts[s + 1]; ++t)
              v[c] += in[t * cols + c];
            v[c] /= starts[s + 1] - starts[s];
          }
        }
        double n = 0;
        for (double x : v)
          n += x * x;
        for (double x : v)
          want.push_back(static_cast<float>(l2 ? x / std::sqrt(n) : x));
      }
      INFO("kind " << static_cast<int>(kind) << " l2 " << l2);
      require_close(download(d, out, want.size()), want);
    }
}
