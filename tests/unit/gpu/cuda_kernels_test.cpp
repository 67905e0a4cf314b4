// Each CUDA op (gpu/cuda/) against the cpu backend's op on random inputs, in f32, f16 and bf16 (fp32
// accumulation): the cuda result, converted back to f32, must be within the dtype's tolerance of the cpu
// result. Plus the device mechanics: budget, stream-ordered frees, events between streams, host callbacks.
// Label gpu; exits 77 (skipped) without a CUDA device.
#include <atomic>
#include <functional>
#include <memory>

#include "cuda_test_util.hpp"
#include "gpu/backend.hpp"
#include "gpu/cuda_plugin.hpp"

using namespace sy;
using namespace sy::gpu;
using namespace sy::gpu::test;

namespace {

void gemm_cases(harness& h) {
  struct shape {
    int m, n, k;
    bool ta, tb;
    int pad;
    bool bias;
    activation act;
  };
  for (auto s : {shape{37, 96, 64, false, false, 0, false, activation::none},
                 shape{5, 200, 128, false, true, 0, true, activation::gelu_tanh},
                 shape{64, 48, 33, true, false, 8, true, activation::none},
                 shape{17, 31, 256, true, true, 3, false, activation::tanh}}) {
    const int a_rows = s.ta ? s.k : s.m, a_cols = s.ta ? s.m : s.k;
    const int b_rows = s.tb ? s.n : s.k, b_cols = s.tb ? s.k : s.n;
    const int lda = a_cols + s.pad, ldb = b_cols + s.pad;
    auto a = random_values(static_cast<std::size_t>(a_rows) * lda, 1.0f, 1);
    auto b = random_values(static_cast<std::size_t>(b_rows) * ldb, 1.0f / std::sqrt(float(s.k)), 2);
    auto bias = random_values(static_cast<std::size_t>(s.n), 0.5f, 3);
    const std::string name = "gemm m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" +
                             std::to_string(s.k) + (s.ta ? " A^T" : "") + (s.tb ? " B^T" : "") +
                             (s.pad ? " padded" : "") + (s.bias ? " +bias" : "") + " act=" +
                             std::to_string(static_cast<int>(s.act));
    h.compare(name, {a, b, bias}, static_cast<std::size_t>(s.m) * s.n,
              [s, lda, ldb](device& d, dtype t, const std::vector<void*>& in, void* out) {
                gemm_params p;
                p.a = in[0];
                p.b = in[1];
                p.bias = s.bias ? in[2] : nullptr;
                p.c = out;
                p.m = s.m;
                p.n = s.n;
                p.k = s.k;
                p.lda = lda;
                p.ldb = ldb;
                p.trans_a = s.ta;
                p.trans_b = s.tb;
                p.act = s.act;
                p.type = t;
                return d.gemm(p, d.compute_stream());
              });
  }
}

void embedding_cases(harness& h) {
  const int batch = 3, seq = 17, hidden = 64, vocab = 100, max_seq = 32;
  auto tok = random_values(static_cast<std::size_t>(vocab) * hidden, 1.0f, 4);
  auto pos = random_values(static_cast<std::size_t>(max_seq) * hidden, 1.0f, 5);
  std::vector<std::int32_t> tokens;
  for (int i = 0; i < batch * seq; ++i)
    tokens.push_back((i * 37 + 11) % vocab);
  h.compare("embedding", {tok, pos}, static_cast<std::size_t>(batch) * seq * hidden,
            [&](device& d, dtype t, const std::vector<void*>& in, void* out) -> status {
              auto ids = d.allocate(tokens.size() * 4);
              if (!ids)
                return ids.err();
              if (auto st = d.copy_to_device(ids->data, tokens.data(), tokens.size() * 4, d.compute_stream()); !st)
                return st;
              embedding_params p;
              p.tokens = ids->as<std::int32_t>();
              p.tok_emb = in[0];
              p.pos_emb = in[1];
              p.out = out;
              p.batch = batch;
              p.seq = seq;
              p.hidden = hidden;
              p.vocab = vocab;
              p.max_seq = max_seq;
              p.type = t;
              auto st = d.embedding(p, d.compute_stream());
              (void)d.synchronize(d.compute_stream()); // tokens are a stack vector
              d.free(*ids);
              return st;
            });
}

void norm_and_elementwise_cases(harness& h) {
  for (int cols : {64, 80, 768, 3000}) {
    const int rows = 6;
    auto x = random_values(static_cast<std::size_t>(rows) * 3 * cols, 2.0f, 6);
    for (auto& v : x)
      v += 0.7f; // a non-zero mean
    auto gamma = random_values(static_cast<std::size_t>(cols), 1.0f, 7);
    auto beta = random_values(static_cast<std::size_t>(cols), 0.5f, 8);
    // Gathers every third row (in_stride = 3*cols), as the last-token norm of a decoder does.
    h.compare("layer_norm strided cols=" + std::to_string(cols), {x, gamma, beta},
              static_cast<std::size_t>(rows) * cols,
              [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
                layer_norm_params p;
                p.in = in[0];
                p.gamma = in[1];
                p.beta = in[2];
                p.out = out;
                p.rows = rows;
                p.cols = cols;
                p.in_stride = 3 * cols;
                p.type = t;
                return d.layer_norm(p, d.compute_stream());
              });
  }
  const int rows = 7, cols = 300;
  auto x = random_values(static_cast<std::size_t>(rows) * cols, 3.0f, 9);
  auto bias = random_values(static_cast<std::size_t>(cols), 1.0f, 10);
  for (auto act : {activation::none, activation::gelu_tanh, activation::tanh})
    h.compare("bias_act act=" + std::to_string(static_cast<int>(act)), {bias}, x.size(),
              [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
                bias_act_params p;
                p.x = out;
                p.bias = in[0];
                p.rows = rows;
                p.cols = cols;
                p.act = act;
                p.type = t;
                return d.bias_act(p, d.compute_stream());
              },
              &x);
  auto a = random_values(1000, 1.0f, 11), b = random_values(1000, 1.0f, 12);
  h.compare("add", {a, b}, a.size(), [](device& d, dtype t, const std::vector<void*>& in, void* out) {
    add_params p;
    p.a = in[0];
    p.b = in[1];
    p.out = out;
    p.count = 1000;
    p.type = t;
    return d.add(p, d.compute_stream());
  });
}

void attention_cases(harness& h) {
  struct shape {
    int batch, seq, heads, head_dim;
  };
  for (auto s : {shape{1, 1, 2, 16}, shape{2, 33, 3, 16}, shape{2, 100, 2, 64}, shape{1, 70, 2, 80},
                 shape{1, 129, 1, 128}, shape{1, 40, 1, 256}})
    for (bool causal : {true, false}) {
      const int width = s.heads * s.head_dim;
      const std::size_t tokens = static_cast<std::size_t>(s.batch) * s.seq;
      // Packed QKV rows [q | k | v], as the QKV GEMM writes them.
      auto qkv = random_values(tokens * 3 * width, 2.0f, 13);
      const std::string name = std::string{"attention "} + (causal ? "causal" : "bidirectional") + " batch=" +
                               std::to_string(s.batch) + " seq=" + std::to_string(s.seq) + " heads=" +
                               std::to_string(s.heads) + " head_dim=" + std::to_string(s.head_dim);
      h.compare(name, {qkv}, tokens * width,
                [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
                  auto* base = static_cast<char*>(in[0]);
                  const std::size_t el = dtype_size(t);
                  attention_params p;
                  p.q = base;
                  p.k = base + el * width;
                  p.v = base + 2 * el * width;
                  p.q_stride = p.k_stride = p.v_stride = 3 * width;
                  p.out = out;
                  p.batch = s.batch;
                  p.seq = s.seq;
                  p.heads = s.heads;
                  p.head_dim = s.head_dim;
                  p.causal = causal;
                  p.type = t;
                  return d.attention(p, d.compute_stream());
                });
    }
}

void device_mechanics(device& d, tally& t) {
  // Budget: an allocation over the budget fails with "memory" and changes nothing.
  const std::size_t before = d.memory_used();
  auto too_big = d.allocate(d.memory_budget() - before + 1);
  t.check(!too_big.ok() && too_big.err().category == "memory" && d.memory_used() == before,
          "an allocation over the budget fails with a memory error and leaves the used bytes unchanged");
  // Stream-ordered free: counted until the stream reaches it.
  auto buf = d.allocate(1 << 20);
  t.check(buf.ok() && d.memory_used() == before + (1 << 20), "an allocation counts its bytes as used");
  if (!buf)
    return;
  t.require(d.free_after(*buf, d.compute_stream()), "free_after");
  t.require(d.synchronize(d.compute_stream()), "synchronize");
  t.check(d.memory_used() == before, "free_after releases the bytes once the stream has passed it");

  // A copy on the copy stream, an event, the compute stream waits on it on the device, then computes.
  const std::size_t n = 3u << 20; // spans several copy chunks
  auto host = random_values(n, 1.0f, 14);
  auto src = d.allocate(n * 4), dst = d.allocate(n * 4);
  auto e = d.create_event();
  if (!src || !dst || !e) {
    t.check(false, "allocations and an event for the copy/wait check");
    return;
  }
  t.require(d.copy_to_device(src->data, host.data(), n * 4, d.copy_stream()), "copy_to_device");
  t.require(d.record(*e, d.copy_stream()), "record");
  t.require(d.wait(d.compute_stream(), *e), "wait");
  add_params p;
  p.a = src->data;
  p.b = src->data;
  p.out = dst->data;
  p.count = n;
  p.type = dtype::f32;
  t.require(d.add(p, d.compute_stream()), "add after the wait");
  std::atomic<int> calls{0};
  t.require(d.on_complete(d.compute_stream(), [&calls] { calls++; }), "on_complete");
  std::vector<float> back(n);
  t.require(d.copy_to_host(back.data(), dst->data, n * 4, d.compute_stream()), "copy_to_host");
  t.require(d.synchronize(d.compute_stream()), "synchronize");
  bool same = true;
  for (std::size_t i = 0; i < n; ++i)
    same = same && back[i] == 2 * host[i];
  t.check(same, "compute that waits on a copy's event sees the copied data (3 Mi floats, chunked copy)");
  t.check(calls.load() == 1, "the host callback ran exactly once after the stream's work");
  auto q = d.query(*e);
  t.check(q.ok() && *q, "the event reports completion");
  d.destroy_event(*e);
  d.free(*src);
  d.free(*dst);
  t.check(d.health().ok(), "the device is healthy after all checks");
}

} // namespace

int main() {
  if (int rc = skip_without_device(); rc != 0)
    return rc;
  tally t;
  backend_options o;
  o.kind = backend_kind::cuda;
  o.devices = 1;
  o.budget_bytes = std::size_t{1} << 30;
  char err[512] = {0};
  std::unique_ptr<backend> gpu{sy_cuda_create_backend(SY_CUDA_PLUGIN_ABI, &o, err, sizeof err)};
  if (!gpu) {
    std::printf("FAIL cuda backend: %s\n", err);
    return 1;
  }
  backend_options co;
  co.kind = backend_kind::cpu;
  co.devices = 1;
  co.cpu_threads = 1;
  auto cpu = make_cpu_backend(co);
  if (!cpu) {
    std::printf("FAIL cpu backend: %s\n", cpu.err().to_string().c_str());
    return 1;
  }
  std::printf("%s\n", gpu->describe().c_str());
  harness h{(*cpu)->dev(0), gpu->dev(0), t};
  gemm_cases(h);
  embedding_cases(h);
  norm_and_elementwise_cases(h);
  attention_cases(h);
  device_mechanics(gpu->dev(0), t);
  return t.exit_code();
}
