// The forward pass of one stage on one tensor-parallel rank, enqueued op by op on the compute stream.
#include <cmath>

#include "gpu/internal/stage_model.hpp"

namespace sy::gpu::internal {

namespace {

std::size_t align256(std::size_t n) {
  return (n + 255) / 256 * 256;
}

#define SY_TRY(expr)             \
  do {                           \
    if (auto st_ = (expr); !st_) \
      return st_.err();          \
  } while (false)

} // namespace

result<shard_offsets> resolve_offsets(const shard_plan& plan) {
  shard_offsets o;
  auto get = [&](const std::string& name, std::size_t& out) -> status {
    const shard_tensor* t = plan.find(name);
    if (!t)
      return make_error("engine", "shard (stage " + std::to_string(plan.stage) + ", rank " +
                                    std::to_string(plan.rank) + ") lacks tensor '" + name + "'");
    out = t->offset;
    return {};
  };
  if (plan.has_embeddings) {
    SY_TRY(get("tok_emb", o.tok_emb));
    SY_TRY(get("pos_emb", o.pos_emb));
  }
  for (int i = plan.first_layer; i < plan.end_layer; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    layer_offsets l{};
    SY_TRY(get(p + "ln1.weight", l.ln1_w));
    SY_TRY(get(p + "ln1.bias", l.ln1_b));
    SY_TRY(get(p + "attn.qkv.weight", l.qkv_w));
    SY_TRY(get(p + "attn.qkv.bias", l.qkv_b));
    SY_TRY(get(p + "attn.out.weight", l.out_w));
    SY_TRY(get(p + "attn.out.bias", l.out_b));
    SY_TRY(get(p + "ln2.weight", l.ln2_w));
    SY_TRY(get(p + "ln2.bias", l.ln2_b));
    SY_TRY(get(p + "ffn.in.weight", l.in_w));
    SY_TRY(get(p + "ffn.in.bias", l.in_b));
    SY_TRY(get(p + "ffn.out.weight", l.fout_w));
    SY_TRY(get(p + "ffn.out.bias", l.fout_b));
    o.layers.push_back(l);
  }
  if (plan.has_head) {
    SY_TRY(get("ln_f.weight", o.lnf_w));
    SY_TRY(get("ln_f.bias", o.lnf_b));
    bool dec = plan.spec.kind == arch::decoder;
    SY_TRY(get(dec ? "head.weight" : "pool.weight", o.head_w));
    SY_TRY(get(dec ? "head.bias" : "pool.bias", o.head_b));
  }
  return o;
}

workspace_layout plan_workspace(const shard_plan& plan, dtype type, int batch, int seq) {
  const auto& s = plan.spec;
  std::size_t t = static_cast<std::size_t>(batch) * seq, e = dtype_size(type);
  std::size_t h = s.hidden, qw = static_cast<std::size_t>(plan.local_heads) * (s.hidden / s.heads);
  std::size_t fl = plan.local_ffn, cols = static_cast<std::size_t>(plan.out_end - plan.out_begin);
  workspace_layout w{};
  std::size_t off = 0;
  auto take = [&](std::size_t bytes) {
    std::size_t at = off;
    off = align256(off + bytes);
    return at;
  };
  w.x = take(t * h * e);
  w.ln = take(t * h * e);
  w.qkv = take(t * 3 * qw * e);
  w.attn = take(t * qw * e);
  w.tmp = plan.layout.tp > 1 ? take(t * h * e) : 0;
  w.ffn = take(t * fl * e);
  w.tokens = take(t * sizeof(std::int32_t));
  w.head = plan.has_head ? take(std::max<std::size_t>(1, batch * cols) * e) : 0;
  w.head_f32 = plan.has_head && type != dtype::f32 ? take(std::max<std::size_t>(1, batch * cols) * 4) : 0;
  w.total = std::max<std::size_t>(off, 256);
  return w;
}

status enqueue_forward(const stage_model& m, int rank, device& dev, communicator& comm, const forward_request& r,
                       device_buffer ws, device_activation* out_act, const step_context* step) {
  const shard_plan& p = m.shards[static_cast<std::size_t>(rank)]->plan;
  const shard_offsets& o = m.offsets[static_cast<std::size_t>(rank)];
  const auto& spec = p.spec;
  const dtype type = m.type;
  const std::size_t e = dtype_size(type);
  const stream s = dev.compute_stream();
  auto* wbase = static_cast<std::byte*>(m.weights[static_cast<std::size_t>(rank)].data);
  auto W = [&](std::size_t off) { return static_cast<const void*>(wbase + off); };
  auto* base = static_cast<std::byte*>(ws.data);
  const workspace_layout wl = step ? step->ws : plan_workspace(p, type, r.batch, r.seq);
  void* x = base + wl.x;
  void* ln = base + wl.ln;
  void* qkv = base + wl.qkv;
  void* attn = base + wl.attn;
  void* tmp = base + wl.tmp;
  void* ffn = base + wl.ffn;
  const int tp = p.layout.tp, T = step ? step->tokens : r.batch * r.seq, h = spec.hidden, d = spec.hidden / spec.heads;
  const int out_rows = step ? step->seqs : r.batch; // last stage: one output row per sequence
  const int qw = p.local_heads * d, fl = p.local_ffn;

  // The weights may still be on their way (load on the copy stream): wait on the device, not the host.
  SY_TRY(dev.wait(s, m.loaded[static_cast<std::size_t>(rank)]));
  if (p.has_embeddings) {
    auto* tokens = reinterpret_cast<std::int32_t*>(base + wl.tokens);
    SY_TRY(dev.copy_to_device(tokens, r.tokens, static_cast<std::size_t>(T) * sizeof(std::int32_t), s));
    if (step) {
      SY_TRY(enqueue_step_embedding(*step, dev, s, tokens, W(o.tok_emb), W(o.pos_emb), x, spec, type));
    } else {
      embedding_params ep;
      ep.tokens = tokens;
      ep.tok_emb = W(o.tok_emb);
      ep.pos_emb = W(o.pos_emb);
      ep.out = x;
      ep.batch = r.batch;
      ep.seq = r.seq;
      ep.hidden = h;
      ep.vocab = spec.vocab;
      ep.max_seq = spec.max_seq;
      ep.type = type;
      SY_TRY(dev.embedding(ep, s));
    }
  } else if (const auto& a = r.input_activation) {
    // The previous stage's output by handle: its forward completed, so the source is ready.
    SY_TRY(dev.copy_from_peer(x, a->owner(), a->data(), static_cast<std::size_t>(T) * h * e, s));
  } else {
    SY_TRY(dev.copy_to_device(x, r.input, static_cast<std::size_t>(T) * h * e, s));
  }

  auto norm = [&](const void* in, void* out, std::size_t g, std::size_t b, int rows, int in_stride) {
    layer_norm_params lp;
    lp.in = in;
    lp.out = out;
    lp.gamma = W(g);
    lp.beta = W(b);
    lp.rows = rows;
    lp.cols = h;
    lp.in_stride = in_stride;
    lp.type = type;
    return dev.layer_norm(lp, s);
  };
  auto gemm = [&](const void* a, std::size_t w, const void* bias, void* c, int m_, int n, int k, float beta,
                  activation act) {
    gemm_params g;
    g.a = a;
    g.b = W(w);
    g.c = c;
    g.bias = bias;
    g.m = m_;
    g.n = n;
    g.k = k;
    g.beta = beta;
    g.act = act;
    g.type = type;
    return dev.gemm(g, s);
  };
  // Row-split projection [T, k] x [k, h] added onto the residual x: with tp = 1 straight into x (beta 1);
  // otherwise each rank's partial sum into tmp (bias on rank 0 only), all-reduce, x += tmp.
  auto row_split = [&](const void* a, std::size_t w, std::size_t bias, int k) -> status {
    if (tp == 1)
      return gemm(a, w, W(bias), x, T, h, k, 1.0f, activation::none);
    SY_TRY(gemm(a, w, rank == 0 ? W(bias) : nullptr, tmp, T, h, k, 0.0f, activation::none));
    SY_TRY(comm.all_reduce_sum(tmp, static_cast<std::size_t>(T) * h, type, s));
    add_params ap;
    ap.out = x;
    ap.a = x;
    ap.b = tmp;
    ap.count = static_cast<std::size_t>(T) * h;
    ap.type = type;
    return dev.add(ap, s);
  };

  for (std::size_t li = 0; li < o.layers.size(); ++li) {
    const auto& l = o.layers[li];
    SY_TRY(norm(x, ln, l.ln1_w, l.ln1_b, T, 0));
    SY_TRY(gemm(ln, l.qkv_w, W(l.qkv_b), qkv, T, 3 * qw, h, 0.0f, activation::none));
    auto* q = static_cast<std::byte*>(qkv);
    if (step) { // kv_append + paged attention over the rank's cache
      SY_TRY(enqueue_step_attention(*step, dev, s, static_cast<int>(li), q, q + static_cast<std::size_t>(qw) * e,
                                    q + static_cast<std::size_t>(2 * qw) * e, 3 * qw, attn, qw, p.local_heads, type));
    } else {
      attention_params at;
      at.q = q;
      at.k = q + static_cast<std::size_t>(qw) * e;
      at.v = q + static_cast<std::size_t>(2 * qw) * e;
      at.out = attn;
      at.batch = r.batch;
      at.seq = r.seq;
      at.heads = p.local_heads;
      at.head_dim = d;
      at.q_stride = at.k_stride = at.v_stride = 3 * qw;
      at.out_stride = qw;
      at.causal = spec.kind == arch::decoder;
      at.type = type;
      SY_TRY(dev.attention(at, s));
    }
    SY_TRY(row_split(attn, l.out_w, l.out_b, qw));
    SY_TRY(norm(x, ln, l.ln2_w, l.ln2_b, T, 0));
    SY_TRY(gemm(ln, l.in_w, W(l.in_b), ffn, T, fl, h, 0.0f, activation::gelu_tanh));
    SY_TRY(row_split(ffn, l.fout_w, l.fout_b, fl));
  }

  if (!p.has_head) {
    if (rank == 0 && out_act) // every rank holds the same x after the all-reduces
      SY_TRY(dev.copy_on_device(out_act->data(), x, static_cast<std::size_t>(T) * h * e, s));
    else if (rank == 0)
      SY_TRY(dev.copy_to_host(r.output, x, static_cast<std::size_t>(T) * h * e, s));
    return {};
  }
  // ln_f on the rows that matter only: the last token (decoder) or the first (encoder) of each sequence.
  const bool dec = spec.kind == arch::decoder;
  const void* first_row = static_cast<std::byte*>(x) + (dec ? static_cast<std::size_t>(r.seq - 1) * h * e : 0);
  if (step) { // the rows of the sequences' last new tokens, gathered, normalised in place
    SY_TRY(enqueue_step_last_rows(*step, dev, s, x, ln, h, type));
    SY_TRY(norm(ln, ln, o.lnf_w, o.lnf_b, out_rows, 0));
  } else {
    SY_TRY(norm(first_row, ln, o.lnf_w, o.lnf_b, r.batch, r.seq * h));
  }
  const int cols = p.out_end - p.out_begin;
  if (cols == 0)
    return {};
  void* head = base + wl.head;
  SY_TRY(gemm(ln, o.head_w, W(o.head_b), head, out_rows, cols, h, 0.0f, dec ? activation::none : activation::tanh));
  if (type != dtype::f32) {
    convert_params cp;
    cp.src = head;
    cp.dst = base + wl.head_f32;
    cp.count = static_cast<std::size_t>(out_rows) * cols;
    cp.src_type = type;
    cp.dst_type = dtype::f32;
    SY_TRY(dev.convert(cp, s));
    head = base + wl.head_f32;
  }
  auto* out = static_cast<float*>(r.output) + p.out_begin;
  return dev.copy_to_host_2d(out, static_cast<std::size_t>(p.out_dim) * 4, head, static_cast<std::size_t>(cols) * 4,
                             static_cast<std::size_t>(cols) * 4, static_cast<std::size_t>(out_rows), s);
}

} // namespace sy::gpu::internal
