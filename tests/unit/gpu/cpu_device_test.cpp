#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <random>

#include "gpu/backend.hpp"

using namespace sy::gpu;

namespace {

std::unique_ptr<backend> cpu(int devices, std::size_t budget = 64 << 20) {
  backend_options o;
  o.kind = backend_kind::cpu;
  o.devices = devices;
  o.budget_bytes = budget;
  o.cpu_threads = 1;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  return std::move(*b);
}

std::vector<float> random_vec(std::size_t n, unsigned seed) {
  std::mt19937 g{seed};
  std::uniform_real_distribution<float> u{-1, 1};
  std::vector<float> v(n);
  for (auto& x : v)
    x = u(g);
  return v;
}

/// Device memory holding `v`, copied synchronously.
float* upload(device& d, const std::vector<float>& v) {
  auto buf = d.allocate(v.size() * 4);
  REQUIRE(buf.ok());
  REQUIRE(d.copy_to_device(buf->data, v.data(), v.size() * 4, d.compute_stream()).ok());
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  return buf->as<float>();
}

/// A gate: a task that blocks its stream until opened (tests only: real callbacks never block).
struct gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void block() {
    std::unique_lock<std::mutex> l{m};
    cv.wait(l, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> l{m};
      open = true;
    }
    cv.notify_all();
  }
};

} // namespace

TEST_CASE("gemm with transposes, bias and GELU matches a naive loop", "[gpu][cpu]") {
  auto b = cpu(1);
  device& d = b->dev(0);
  const int m = 5, n = 7, k = 6;
  auto a = random_vec(k * m, 1), w = random_vec(n * k, 2), bias = random_vec(n, 3);
  float *da = upload(d, a), *dw = upload(d, w), *db = upload(d, bias);
  std::vector<float> c(m * n);
  float* dc = upload(d, c);
  gemm_params p;
  p.a = da; // A stored [k, m]
  p.b = dw; // B stored [n, k]
  p.c = dc;
  p.bias = db;
  p.m = m;
  p.n = n;
  p.k = k;
  p.trans_a = p.trans_b = true;
  p.act = activation::gelu_tanh;
  REQUIRE(d.gemm(p, d.compute_stream()).ok());
  REQUIRE(d.copy_to_host(c.data(), dc, c.size() * 4, d.compute_stream()).ok());
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      float s = bias[j];
      for (int q = 0; q < k; ++q)
        s += a[q * m + i] * w[j * k + q];
      float g = 0.5f * s * (1 + std::tanh(0.7978845608f * (s + 0.044715f * s * s * s)));
      CHECK(c[i * n + j] == Approx(g).margin(1e-5));
    }
}

TEST_CASE("causal attention matches a naive softmax attention", "[gpu][cpu]") {
  auto b = cpu(1);
  device& d = b->dev(0);
  const int batch = 2, seq = 5, heads = 2, hd = 3, w = heads * hd, stride = 3 * w;
  auto qkv = random_vec(batch * seq * stride, 4);
  float* dq = upload(d, qkv);
  std::vector<float> out(batch * seq * w);
  float* dout = upload(d, out);
  attention_params p;
  p.q = dq;
  p.k = dq + w;
  p.v = dq + 2 * w;
  p.out = dout;
  p.batch = batch;
  p.seq = seq;
  p.heads = heads;
  p.head_dim = hd;
  p.q_stride = p.k_stride = p.v_stride = stride;
  p.causal = true;
  REQUIRE(d.attention(p, d.compute_stream()).ok());
  REQUIRE(d.copy_to_host(out.data(), dout, out.size() * 4, d.compute_stream()).ok());
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  for (int bb = 0; bb < batch; ++bb)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < seq; ++i) {
        auto at = [&](int t, int part, int c) { return qkv[(bb * seq + t) * stride + part * w + h * hd + c]; };
        std::vector<double> s(i + 1);
        double mx = -1e30, sum = 0;
        for (int j = 0; j <= i; ++j) {
          s[j] = 0;
          for (int c = 0; c < hd; ++c)
            s[j] += at(i, 0, c) * at(j, 1, c) / std::sqrt(double(hd));
          mx = std::max(mx, s[j]);
        }
        for (auto& x : s)
          sum += (x = std::exp(x - mx));
        for (int c = 0; c < hd; ++c) {
          double o = 0;
          for (int j = 0; j <= i; ++j)
            o += s[j] / sum * at(j, 2, c);
          CHECK(out[(bb * seq + i) * w + h * hd + c] == Approx(o).margin(1e-5));
        }
      }
}

TEST_CASE("an allocation over the budget fails with a clear error and changes nothing", "[gpu][cpu]") {
  auto b = cpu(1, 1 << 20);
  device& d = b->dev(0);
  auto first = d.allocate(600 << 10);
  REQUIRE(first.ok());
  auto used = d.memory_used();
  auto second = d.allocate(600 << 10);
  REQUIRE_FALSE(second.ok());
  CHECK(second.err().category == "memory");
  CHECK(second.err().message.find("budget 1048576 bytes") != std::string::npos);
  CHECK(d.memory_used() == used);
  d.free(*first);
  CHECK(d.memory_used() == 0);
  CHECK(d.allocate(600 << 10).ok());
}

TEST_CASE("a stream waiting on another stream's event runs after it, without blocking the host", "[gpu][cpu]") {
  auto b = cpu(1);
  device& d = b->dev(0);
  gate g;
  std::vector<int> order;
  std::mutex m;
  auto note = [&](int x) {
    std::lock_guard<std::mutex> l{m};
    order.push_back(x);
  };
  auto ev = d.create_event();
  REQUIRE(ev.ok());
  REQUIRE(d.on_complete(d.copy_stream(), [&] { g.block(); note(1); }).ok());
  REQUIRE(d.record(*ev, d.copy_stream()).ok());
  REQUIRE(d.wait(d.compute_stream(), *ev).ok()); // returns at once although the copy stream is blocked
  REQUIRE(d.on_complete(d.compute_stream(), [&] { note(2); }).ok());
  CHECK_FALSE(*d.query(*ev));
  g.release();
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  CHECK(*d.query(*ev));
  CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("all-reduce sums across four device threads", "[gpu][cpu]") {
  auto b = cpu(4);
  auto comms = b->make_communicators({0, 1, 2, 3});
  REQUIRE(comms.ok());
  const std::size_t n = 1001;
  std::vector<float*> bufs;
  for (int r = 0; r < 4; ++r) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
      v[i] = static_cast<float>(r * 1000 + i);
    bufs.push_back(upload(b->dev(r), v));
  }
  for (int r = 0; r < 4; ++r)
    REQUIRE((*comms)[r]->all_reduce_sum(bufs[r], n, dtype::f32, b->dev(r).compute_stream()).ok());
  for (int r = 0; r < 4; ++r) {
    REQUIRE(b->dev(r).synchronize(b->dev(r).compute_stream()).ok());
    for (std::size_t i = 0; i < n; i += 97)
      CHECK(bufs[r][i] == static_cast<float>(6000 + 4 * i));
  }
  CHECK_FALSE(b->make_communicators({0, 0}).ok());
}

TEST_CASE("the cpu backend refuses f16 compute with an error", "[gpu][cpu]") {
  auto b = cpu(1);
  device& d = b->dev(0);
  std::vector<float> v(4);
  float* x = upload(d, v);
  add_params p;
  p.out = x;
  p.a = x;
  p.b = x;
  p.count = 4;
  p.type = dtype::f16;
  auto st = d.add(p, d.compute_stream());
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().message.find("f32 only") != std::string::npos);
}

TEST_CASE("auto backend selection falls back to cpu without a CUDA plugin", "[gpu][cpu]") {
  ::setenv("SWITCHYARD_CUDA_PLUGIN", "/nonexistent/libsy_cuda.so", 1);
  auto b = open_devices(backend_kind::automatic, 2, 1 << 20);
  REQUIRE(b.ok());
  // On a machine with the plugin and a GPU this picks cuda; either way it must open 2 devices.
  CHECK((*b)->device_count() == 2);
  auto c = open_devices(backend_kind::cpu, 0, 0);
  CHECK_FALSE(c.ok());
}
