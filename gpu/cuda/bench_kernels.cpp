// sy_cuda_bench: times the CUDA ops on one GPU for transformer-layer shapes and prints one line per op:
// shape, dtype, microseconds (median over reps of the wall time from enqueue to the completion of an event
// recorded after the op, so it includes one launch) and achieved TFLOP/s or GB/s. Inputs are zeros.
// Numbers only, no asserts. Usage: sy_cuda_bench [reps]
// Exits 77 with the reason when there is no CUDA device.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "gpu/cuda/kernels.hpp"
#include "gpu/cuda/probe.hpp"
#include "gpu/cuda_plugin.hpp"

using namespace sy::gpu;

namespace {

void* alloc(device& d, std::size_t bytes) {
  auto b = d.allocate(bytes);
  if (!b) {
    std::fprintf(stderr, "allocation failed: %s\n", b.err().to_string().c_str());
    std::exit(1);
  }
  cudaMemset(b->data, 0, bytes);
  return b->data;
}

} // namespace

int main(int argc, char** argv) {
  auto n = cuda::probe_devices();
  if (!n) {
    std::printf("SKIPPED: %s\n", n.err().message.c_str());
    return 77;
  }
  const int reps = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  backend_options o;
  o.kind = backend_kind::cuda;
  o.devices = 1;
  char err[512] = {0};
  std::unique_ptr<backend> b{sy_cuda_create_backend(SY_CUDA_PLUGIN_ABI, &o, err, sizeof err)};
  if (!b) {
    std::printf("cuda backend: %s\n", err);
    return 1;
  }
  device& d = b->dev(0);
  std::printf("%s\n", b->describe().c_str());
  stream cs = d.compute_stream();
  struct shape {
    const char* model;
    int hidden, heads, tokens, seq;
  };
  for (auto sh : {shape{"bert-1.3b", 2048, 32, 2048, 512}, shape{"bert-6.7b", 4096, 32, 2048, 2048},
                  shape{"gpt-100m", 768, 12, 1024, 1024}})
    for (dtype t : {dtype::f16, dtype::bf16}) {
      const std::size_t el = dtype_size(t);
      const int h = sh.hidden, T = sh.tokens, f = 4 * h, hd = h / sh.heads;
      void* x = alloc(d, std::size_t(T) * f * el);
      void* w = alloc(d, std::size_t(h) * f * el);
      void* y = alloc(d, std::size_t(T) * f * el);
      void* qkv = alloc(d, std::size_t(T) * 3 * h * el);
      void* g = alloc(d, std::size_t(f) * el);
      auto host_timer = [&](const std::function<void()>& enqueue) {
        // Wall time of reps enqueues + one synchronisation, per rep (includes launch overhead).
        for (int i = 0; i < 2; ++i)
          enqueue();
        (void)d.synchronize(cs);
        std::vector<double> ts;
        for (int i = 0; i < reps; ++i) {
          auto e0 = d.create_event().value();
          auto e1 = d.create_event().value();
          auto t0 = std::chrono::steady_clock::now();
          (void)d.record(e0, cs);
          enqueue();
          (void)d.record(e1, cs);
          (void)d.synchronize(e1);
          ts.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
          d.destroy_event(e0);
          d.destroy_event(e1);
        }
        std::sort(ts.begin(), ts.end());
        return ts[ts.size() / 2];
      };
      gemm_params gp;
      gp.a = x;
      gp.b = w;
      gp.c = y;
      gp.m = T;
      gp.n = f;
      gp.k = h;
      gp.type = t;
      gp.bias = g;
      gp.act = activation::gelu_tanh;
      double us = host_timer([&] { (void)d.gemm(gp, cs); });
      std::printf("%-10s %-4s ffn_in gemm+bias+gelu  [%d x %d x %d]  %9.1f us  %7.1f TFLOP/s\n", sh.model,
                  std::string{to_string(t)}.c_str(), T, f, h, us, 2.0 * T * f * h / us / 1e6);
      layer_norm_params ln;
      ln.in = x;
      ln.out = y;
      ln.gamma = g;
      ln.beta = g;
      ln.rows = T;
      ln.cols = h;
      ln.type = t;
      us = host_timer([&] { (void)d.layer_norm(ln, cs); });
      std::printf("%-10s %-4s layer_norm             [%d x %d]  %9.1f us  %7.1f GB/s\n", sh.model,
                  std::string{to_string(t)}.c_str(), T, h, us, 2.0 * T * h * el / us / 1e3);
      for (bool causal : {true, false}) {
        attention_params ap;
        ap.q = qkv;
        ap.k = static_cast<char*>(qkv) + h * el;
        ap.v = static_cast<char*>(qkv) + 2 * h * el;
        ap.q_stride = ap.k_stride = ap.v_stride = 3 * h;
        ap.out = y;
        ap.batch = T / sh.seq;
        ap.seq = sh.seq;
        ap.heads = sh.heads;
        ap.head_dim = hd;
        ap.causal = causal;
        ap.type = t;
        us = host_timer([&] { (void)d.attention(ap, cs); });
        const double flops = 4.0 * ap.batch * sh.seq * double(sh.seq) * h * (causal ? 0.5 : 1.0);
        std::printf("%-10s %-4s attention %-13s [b %d, seq %d, heads %d, d %d]  %9.1f us  %7.1f TFLOP/s\n",
                    sh.model, std::string{to_string(t)}.c_str(), causal ? "causal" : "bidirectional", ap.batch,
                    sh.seq, sh.heads, hd, us, flops / us / 1e6);
      }
      for (void* p : {x, w, y, qkv, g})
        d.free(device_buffer{p, 0});
    }
  return d.health().ok() ? 0 : 1;
}
