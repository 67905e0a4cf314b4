// The forward pass of one stage on one tensor-parallel rank, enqueued op by op on the compute stream:
// embeddings (stage 0), the transformer layers of every architecture option (pre-/post-LN, LayerNorm or
// RMSNorm, optional biases, grouped-query attention, rotary positions, GELU/ReLU/SwiGLU FFNs), and the
// hand-over to the next stage or to the output (gpu/internal/output.cpp).
#include <algorithm>
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
  auto where = [&] { return "shard (stage " + std::to_string(plan.stage) + ", rank " + std::to_string(plan.rank) + ")"; };
  auto get = [&](const std::string& name, std::size_t& out) -> status {
    const shard_tensor* t = plan.find(name);
    if (!t)
      return make_error("engine", where() + " lacks tensor '" + name + "'");
    out = t->offset;
    return {};
  };
  auto opt = [&](const std::string& name, std::size_t& out, bool present) -> status {
    if (!present) {
      out = absent;
      return {};
    }
    return get(name, out);
  };
  const auto& s = plan.spec;
  const bool norm_bias = s.norm == norm_kind::layer_norm;
  if (plan.has_embeddings) {
    SY_TRY(get("tok_emb", o.tok_emb));
    SY_TRY(opt("pos_emb", o.pos_emb, s.positions == position_kind::learned));
    SY_TRY(opt("tok_type_emb", o.type_emb, s.type_vocab > 0));
    SY_TRY(opt("emb_ln.weight", o.emb_ln_w, s.embed_norm));
    SY_TRY(opt("emb_ln.bias", o.emb_ln_b, s.embed_norm && norm_bias));
  }
  for (int i = plan.first_layer; i < plan.end_layer; ++i) {
    std::string p = "layers." + std::to_string(i) + ".";
    layer_offsets l{};
    SY_TRY(get(p + "ln1.weight", l.ln1_w));
    SY_TRY(opt(p + "ln1.bias", l.ln1_b, norm_bias));
    SY_TRY(get(p + "attn.qkv.weight", l.qkv_w));
    SY_TRY(opt(p + "attn.qkv.bias", l.qkv_b, s.qkv_bias));
    SY_TRY(get(p + "attn.out.weight", l.out_w));
    SY_TRY(opt(p + "attn.out.bias", l.out_b, s.attn_out_bias));
    SY_TRY(get(p + "ln2.weight", l.ln2_w));
    SY_TRY(opt(p + "ln2.bias", l.ln2_b, norm_bias));
    SY_TRY(get(p + "ffn.in.weight", l.in_w));
    SY_TRY(opt(p + "ffn.in.bias", l.in_b, s.ffn_bias));
    SY_TRY(get(p + "ffn.out.weight", l.fout_w));
    SY_TRY(opt(p + "ffn.out.bias", l.fout_b, s.ffn_bias));
    o.layers.push_back(l);
  }
  if (plan.has_head) {
    SY_TRY(opt("ln_f.weight", o.lnf_w, s.final_norm));
    SY_TRY(opt("ln_f.bias", o.lnf_b, s.final_norm && norm_bias));
    if (s.kind == arch::decoder) {
      if (s.tied_head) {
        o.head_transposed = true;
        if (const shard_tensor* t = plan.find("head.tied")) {
          o.head_w = t->offset;
        } else if (const shard_tensor* e = plan.find("tok_emb")) {
          o.head_w = e->offset + static_cast<std::size_t>(plan.out_begin) * s.hidden * dtype_size(plan.type);
        } else {
          return make_error("engine", where() + " has a tied head but neither 'head.tied' nor 'tok_emb'");
        }
      } else {
        SY_TRY(get("head.weight", o.head_w));
      }
      SY_TRY(opt("head.bias", o.head_b, s.head_bias));
    } else {
      SY_TRY(opt("pool.weight", o.head_w, s.pooler));
      SY_TRY(opt("pool.bias", o.head_b, s.pooler));
    }
  }
  return o;
}

workspace_layout plan_workspace(const shard_plan& plan, dtype type, int batch, int seq, output_kind out) {
  const auto& s = plan.spec;
  std::size_t t = static_cast<std::size_t>(batch) * seq, e = dtype_size(type);
  const std::size_t h = s.hidden, d = static_cast<std::size_t>(s.head_dim_or_default());
  const std::size_t qw = static_cast<std::size_t>(plan.local_heads) * d;
  const std::size_t kw = static_cast<std::size_t>(plan.local_kv_heads) * d;
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
  w.qkv = take(t * (qw + 2 * kw) * e);
  w.attn = take(t * qw * e);
  w.tmp = plan.layout.tp > 1 ? take(t * h * e) : 0;
  w.ffn = take(t * fl * e);
  w.gate = s.ffn_act == ffn_kind::silu_gated ? take(t * 2 * fl * e) : 0;
  w.tokens = take(t * sizeof(std::int32_t));
  w.meta = take((2 * t + batch + 1) * sizeof(std::int32_t));
  const bool per_token = out == output_kind::logits_all || out == output_kind::hidden;
  const std::size_t rows = per_token ? t : static_cast<std::size_t>(batch);
  const std::size_t elems = std::max<std::size_t>(1, rows * std::max(cols, h));
  w.head = plan.has_head ? take(elems * e) : 0;
  w.head_f32 = plan.has_head && type != dtype::f32 ? take(elems * 4) : 0;
  w.total = std::max<std::size_t>(off, 256);
  return w;
}

batch_meta make_batch_meta(const forward_request& r) {
  batch_meta m;
  m.seqs = r.batch;
  m.packed = !r.seq_lens.empty();
  m.tokens = static_cast<int>(total_tokens(r));
  m.host.assign(static_cast<std::size_t>(2 * m.tokens + m.seqs + 1), 0);
  std::int32_t* pos = m.host.data();
  std::int32_t* starts = pos + m.tokens;
  std::int32_t* types = starts + m.seqs + 1;
  int row = 0;
  for (int b = 0; b < m.seqs; ++b) {
    const int len = m.packed ? r.seq_lens[static_cast<std::size_t>(b)] : r.seq;
    starts[b] = row;
    for (int t = 0; t < len; ++t)
      pos[row + t] = t;
    row += len;
    m.longest = std::max(m.longest, len);
  }
  starts[m.seqs] = row;
  if (r.token_types)
    std::copy(r.token_types, r.token_types + m.tokens, types);
  return m;
}

status enqueue_forward(const stage_model& m, int rank, device& dev, communicator& comm, const forward_request& r,
                       device_buffer ws, device_activation* out_act, const batch_meta* meta,
                       const step_context* step) {
  const shard_plan& p = m.shards[static_cast<std::size_t>(rank)]->plan;
  const shard_offsets& o = m.offsets[static_cast<std::size_t>(rank)];
  const auto& spec = p.spec;
  const dtype type = m.type;
  const std::size_t e = dtype_size(type);
  const stream s = dev.compute_stream();
  auto* wbase = static_cast<std::byte*>(m.weights[static_cast<std::size_t>(rank)].data);
  auto W = [&](std::size_t off) { return off == absent ? nullptr : static_cast<const void*>(wbase + off); };
  auto* base = static_cast<std::byte*>(ws.data);
  const workspace_layout wl = step ? step->ws : plan_workspace(p, type, r.batch, r.seq, r.out_kind);
  void* x = base + wl.x;
  void* ln = base + wl.ln;
  void* qkv = base + wl.qkv;
  void* attn = base + wl.attn;
  void* tmp = base + wl.tmp;
  void* ffn = base + wl.ffn;
  void* gate = base + wl.gate;
  const int tp = p.layout.tp, T = step ? step->tokens : meta->tokens, h = spec.hidden, d = p.head_dim;
  const int qw = p.local_heads * d, kw = p.local_kv_heads * d, qkv_cols = qw + 2 * kw, fl = p.local_ffn;
  const bool packed = !step && meta->packed;

  // The weights may still be on their way (load on the copy stream): wait on the device, not the host.
  SY_TRY(dev.wait(s, m.loaded[static_cast<std::size_t>(rank)]));
  // Sequence layout: positions, starts and token types (one copy; the host side lives until done).
  auto* positions = reinterpret_cast<std::int32_t*>(base + wl.meta);
  const std::int32_t* starts = packed ? positions + T : nullptr;
  if (!step)
    SY_TRY(dev.copy_to_device(positions, meta->host.data(), meta->host.size() * sizeof(std::int32_t), s));
  else
    positions = const_cast<std::int32_t*>(step->positions);

  auto norm = [&](const void* in, void* out, std::size_t g, std::size_t b, int rows, int in_stride) {
    layer_norm_params lp;
    lp.in = in;
    lp.out = out;
    lp.gamma = W(g);
    lp.beta = W(b);
    lp.rows = rows;
    lp.cols = h;
    lp.in_stride = in_stride;
    lp.eps = spec.norm_eps;
    lp.rms = spec.norm == norm_kind::rms_norm;
    lp.type = type;
    return dev.layer_norm(lp, s);
  };

  if (p.has_embeddings) {
    auto* tokens = reinterpret_cast<std::int32_t*>(base + wl.tokens);
    SY_TRY(dev.copy_to_device(tokens, r.tokens, static_cast<std::size_t>(T) * sizeof(std::int32_t), s));
    if (step && o.pos_emb != absent) {
      SY_TRY(enqueue_step_embedding(*step, dev, s, tokens, W(o.tok_emb), W(o.pos_emb), x, spec, type));
    } else {
      embedding_params ep;
      ep.tokens = tokens;
      ep.tok_emb = W(o.tok_emb);
      ep.pos_emb = W(o.pos_emb);
      ep.out = x;
      ep.batch = packed || step ? 1 : r.batch;
      ep.seq = packed || step ? T : r.seq;
      ep.hidden = h;
      ep.vocab = spec.vocab;
      ep.max_seq = spec.max_seq;
      ep.positions = packed ? positions : nullptr;
      ep.type_emb = W(o.type_emb);
      ep.type_vocab = spec.type_vocab;
      ep.token_types = !step && r.token_types && o.type_emb != absent ? positions + T + meta->seqs + 1 : nullptr;
      ep.type = type;
      SY_TRY(dev.embedding(ep, s));
    }
    if (o.emb_ln_w != absent)
      SY_TRY(norm(x, x, o.emb_ln_w, o.emb_ln_b, T, 0));
  } else if (const auto& a = r.input_activation) {
    // The previous stage's output by handle: its forward completed, so the source is ready.
    SY_TRY(dev.copy_from_peer(x, a->owner(), a->data(), static_cast<std::size_t>(T) * h * e, s));
  } else {
    SY_TRY(dev.copy_to_device(x, r.input, static_cast<std::size_t>(T) * h * e, s));
  }

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

  const bool pre = spec.pre_norm, gated = spec.ffn_act == ffn_kind::silu_gated;
  for (std::size_t li = 0; li < o.layers.size(); ++li) {
    const auto& l = o.layers[li];
    // Attention: pre-LN x += attn(ln1(x)); post-LN x = ln1(x + attn(x)).
    if (pre)
      SY_TRY(norm(x, ln, l.ln1_w, l.ln1_b, T, 0));
    SY_TRY(gemm(pre ? ln : x, l.qkv_w, W(l.qkv_b), qkv, T, qkv_cols, h, 0.0f, activation::none));
    auto* q = static_cast<std::byte*>(qkv);
    auto* k = q + static_cast<std::size_t>(qw) * e;
    auto* v = k + static_cast<std::size_t>(kw) * e;
    if (spec.positions == position_kind::rotary) { // q and k heads are adjacent: one call rotates both
      rotary_params rp = rotary_for(spec);
      rp.x = q;
      rp.positions = positions;
      rp.rows = T;
      rp.heads = p.local_heads + p.local_kv_heads;
      rp.stride = qkv_cols;
      rp.type = type;
      SY_TRY(dev.rotary(rp, s));
    }
    if (step) { // kv_append + paged attention over the rank's cache
      SY_TRY(enqueue_step_attention(*step, dev, s, static_cast<int>(li), q, k, v, qkv_cols, attn, qw, p.local_heads,
                                    type));
    } else {
      attention_params at;
      at.q = q;
      at.k = k;
      at.v = v;
      at.out = attn;
      at.batch = r.batch;
      at.seq = packed ? meta->longest : r.seq;
      at.heads = p.local_heads;
      at.kv_heads = p.local_kv_heads == p.local_heads ? 0 : p.local_kv_heads;
      at.seq_starts = starts;
      at.head_dim = d;
      at.q_stride = at.k_stride = at.v_stride = qkv_cols;
      at.out_stride = qw;
      at.causal = spec.kind == arch::decoder;
      at.type = type;
      SY_TRY(dev.attention(at, s));
    }
    SY_TRY(row_split(attn, l.out_w, l.out_b, qw));
    if (!pre)
      SY_TRY(norm(x, x, l.ln1_w, l.ln1_b, T, 0));
    // FFN: pre-LN x += ffn(ln2(x)); post-LN x = ln2(x + ffn(x)). SwiGLU: down(silu(gate) * up).
    if (pre)
      SY_TRY(norm(x, ln, l.ln2_w, l.ln2_b, T, 0));
    const void* f_in = pre ? ln : x;
    if (gated) {
      SY_TRY(gemm(f_in, l.in_w, W(l.in_b), gate, T, 2 * fl, h, 0.0f, activation::none));
      gated_act_params gp;
      gp.in = gate;
      gp.out = ffn;
      gp.rows = T;
      gp.cols = fl;
      gp.act = activation::silu;
      gp.type = type;
      SY_TRY(dev.gated_act(gp, s));
    } else {
      SY_TRY(gemm(f_in, l.in_w, W(l.in_b), ffn, T, fl, h, 0.0f, ffn_activation(spec.ffn_act)));
    }
    SY_TRY(row_split(ffn, l.fout_w, l.fout_b, fl));
    if (!pre)
      SY_TRY(norm(x, x, l.ln2_w, l.ln2_b, T, 0));
  }

  if (!p.has_head) {
    if (rank == 0 && out_act) // every rank holds the same x after the all-reduces
      SY_TRY(dev.copy_on_device(out_act->data(), x, static_cast<std::size_t>(T) * h * e, s));
    else if (rank == 0)
      SY_TRY(dev.copy_to_host(r.output, x, static_cast<std::size_t>(T) * h * e, s));
    return {};
  }
  output_args oa{&p, &o, wbase, rank, type, step ? step->seqs : r.batch, T, r.seq, starts, step,
                 step ? output_kind::logits_last : r.out_kind};
  return enqueue_output(oa, dev, s, wl, base, x, r.output);
}

} // namespace sy::gpu::internal
