// The CUDA ops of the architecture options (issue 8) against the cpu backend's, in f32, f16 and bf16:
// the new activations (bias_act and GEMM epilogue), RMSNorm, embeddings with token types and per-row
// positions, grouped-query attention over packed variable-length sequences, rotary embeddings (plain,
// linear, llama3), the SwiGLU gate, pooling. Label gpu; exits 77 (skipped) without a CUDA device.
#include <memory>

#include "cuda_test_util.hpp"
#include "gpu/backend.hpp"
#include "gpu/cuda_plugin.hpp"

using namespace sy;
using namespace sy::gpu;
using namespace sy::gpu::test;

namespace {

/// int32 device copy of `v` on d, for the duration of one synchronous op call.
struct ints {
  device& d;
  device_buffer buf;
  ints(device& dev, const std::vector<std::int32_t>& v) : d(dev) {
    auto b = d.allocate(v.size() * 4);
    if (b) {
      buf = *b;
      (void)d.copy_to_device(buf.data, v.data(), v.size() * 4, d.compute_stream());
    }
  }
  ~ints() {
    (void)d.synchronize(d.compute_stream());
    if (buf)
      d.free(buf);
  }
  const std::int32_t* ptr() const { return buf.as<const std::int32_t>(); }
};

status synced(device& d, status st) {
  if (!st)
    return st;
  return d.synchronize(d.compute_stream());
}

void activation_cases(harness& h) {
  for (auto act : {activation::gelu_erf, activation::relu, activation::silu}) {
    const std::string n = act == activation::gelu_erf ? "gelu_erf" : act == activation::relu ? "relu" : "silu";
    auto x = random_values(37 * 19, 4.0f, 21), bias = random_values(19, 1.0f, 22);
    h.compare("bias_act " + n, {bias}, x.size(),
              [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
                bias_act_params p;
                p.x = out;
                p.bias = in[0];
                p.rows = 37;
                p.cols = 19;
                p.act = act;
                p.type = t;
                return d.bias_act(p, d.compute_stream());
              },
              &x);
    auto a = random_values(24 * 40, 1.0f, 23), w = random_values(40 * 33, 0.3f, 24);
    h.compare("gemm epilogue " + n, {a, w, bias}, 24 * 33, [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
      gemm_params p;
      p.a = in[0];
      p.b = in[1];
      p.c = out;
      p.bias = in[2];
      p.m = 24;
      p.n = 33;
      p.k = 40;
      p.act = act;
      p.type = t;
      return d.gemm(p, d.compute_stream());
    });
  }
}

void norm_and_embedding_cases(harness& h) {
  for (int cols : {64, 384, 1000}) {
    auto x = random_values(5 * cols, 2.0f, 31), g = random_values(cols, 1.0f, 32);
    h.compare("rms_norm cols=" + std::to_string(cols), {x, g}, 5 * cols,
              [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
                layer_norm_params p;
                p.in = in[0];
                p.out = out;
                p.gamma = in[1];
                p.rows = 5;
                p.cols = cols;
                p.eps = 1e-6f;
                p.rms = true;
                p.type = t;
                return d.layer_norm(p, d.compute_stream());
              });
  }
  const int hd = 48, vocab = 30, max_seq = 20, types = 2;
  auto tok = random_values(vocab * hd, 1.0f, 33), pos = random_values(max_seq * hd, 1.0f, 34),
       ty = random_values(types * hd, 1.0f, 35);
  std::vector<std::int32_t> ids{3, 29, 0, 7, 7, 12, 1}, positions{0, 1, 2, 0, 1, 2, 3}, tt{0, 0, 1, 0, 1, 1, 0};
  for (bool with_pos : {true, false})
    h.compare(std::string{"embedding with token types, per-row positions"} + (with_pos ? "" : ", no position table"),
              {tok, pos, ty}, ids.size() * hd, [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
                ints di{d, ids}, dp{d, positions}, dt{d, tt};
                embedding_params p;
                p.tokens = di.ptr();
                p.tok_emb = in[0];
                p.pos_emb = with_pos ? in[1] : nullptr;
                p.positions = dp.ptr();
                p.type_emb = in[2];
                p.token_types = dt.ptr();
                p.type_vocab = types;
                p.out = out;
                p.batch = 1;
                p.seq = static_cast<int>(ids.size());
                p.hidden = hd;
                p.vocab = vocab;
                p.max_seq = max_seq;
                p.type = t;
                return synced(d, d.embedding(p, d.compute_stream()));
              });
}

void attention_cases(harness& h) {
  struct shape {
    int heads, kv_heads, head_dim;
    std::vector<std::int32_t> starts;
  };
  for (const auto& s : {shape{4, 2, 16, {0, 3, 40, 41}}, shape{8, 1, 64, {0, 70, 75}}, shape{6, 3, 128, {0, 33}},
                        shape{2, 2, 32, {0, 1, 2, 36}}})
    for (bool causal : {true, false}) {
      const int qw = s.heads * s.head_dim, kw = s.kv_heads * s.head_dim, stride = qw + 2 * kw;
      const int batch = static_cast<int>(s.starts.size()) - 1, T = s.starts.back();
      int longest = 0;
      for (int b = 0; b < batch; ++b)
        longest = std::max(longest, s.starts[b + 1] - s.starts[b]);
      auto qkv = random_values(static_cast<std::size_t>(T) * stride, 2.0f, 41);
      const std::string name = std::string{"packed GQA attention "} + (causal ? "causal" : "bidirectional") +
                               " heads=" + std::to_string(s.heads) + " kv_heads=" + std::to_string(s.kv_heads) +
                               " head_dim=" + std::to_string(s.head_dim) + " sequences=" + std::to_string(batch);
      auto starts = s.starts;
      h.compare(name, {qkv}, static_cast<std::size_t>(T) * qw,
                [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
                  ints ds{d, starts};
                  auto* base = static_cast<char*>(in[0]);
                  const std::size_t el = dtype_size(t);
                  attention_params p;
                  p.q = base;
                  p.k = base + el * qw;
                  p.v = base + el * (qw + kw);
                  p.q_stride = p.k_stride = p.v_stride = stride;
                  p.out_stride = qw;
                  p.out = out;
                  p.batch = batch;
                  p.seq = longest;
                  p.heads = s.heads;
                  p.kv_heads = s.kv_heads;
                  p.seq_starts = ds.ptr();
                  p.head_dim = s.head_dim;
                  p.causal = causal;
                  p.type = t;
                  return synced(d, d.attention(p, d.compute_stream()));
                });
    }
}

void rotary_gate_pool_cases(harness& h) {
  std::vector<std::int32_t> positions{0, 1, 2, 3, 100, 5, 0, 2047};
  for (auto sc : {rope_scaling_kind::none, rope_scaling_kind::linear, rope_scaling_kind::llama3}) {
    const int rows = 8, heads = 6, hd = 64, stride = heads * hd + 2 * 64;
    auto x = random_values(static_cast<std::size_t>(rows) * stride, 1.0f, 51);
    h.compare("rotary scaling=" + std::to_string(static_cast<int>(sc)), {}, x.size(),
              [=](device& d, dtype t, const std::vector<void*>&, void* out) {
                ints dp{d, positions};
                rotary_params p;
                p.x = out;
                p.positions = dp.ptr();
                p.rows = rows;
                p.heads = heads;
                p.head_dim = hd;
                p.stride = stride;
                p.theta = 500000.0f;
                p.scaling = sc;
                p.factor = 8.0f;
                p.original_max_positions = 256;
                p.type = t;
                return synced(d, d.rotary(p, d.compute_stream()));
              },
              &x);
  }
  auto g = random_values(9 * 2 * 70, 4.0f, 52);
  h.compare("gated_act silu", {g}, 9 * 70, [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
    gated_act_params p;
    p.in = in[0];
    p.out = out;
    p.rows = 9;
    p.cols = 70;
    p.type = t;
    return d.gated_act(p, d.compute_stream());
  });
  std::vector<std::int32_t> starts{0, 1, 9, 30};
  auto rows = random_values(30 * 300, 1.0f, 53);
  for (auto kind : {pool_kind::first, pool_kind::last, pool_kind::mean})
    for (bool l2 : {false, true})
      h.compare("pool kind=" + std::to_string(static_cast<int>(kind)) + (l2 ? " l2" : ""), {rows}, 3 * 300,
                [=](device& d, dtype t, const std::vector<void*>& in, void* out) {
                  ints ds{d, starts};
                  pool_params p;
                  p.in = in[0];
                  p.out = out;
                  p.seq_starts = ds.ptr();
                  p.batch = 3;
                  p.cols = 300;
                  p.kind = kind;
                  p.l2_normalize = l2;
                  p.type = t;
                  return synced(d, d.pool(p, d.compute_stream()));
                });
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
  activation_cases(h);
  norm_and_embedding_cases(h);
  attention_cases(h);
  rotary_gate_pool_cases(h);
  return t.exit_code();
}
