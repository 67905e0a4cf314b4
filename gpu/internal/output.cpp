// The last stage's output: the rows a request asks for (each sequence's last or first row, every row, or
// each sequence's mean), the final norm where the model has one, then the head (decoder logits), the
// pooler (encoder), or the hidden states themselves; converted to f32 and copied to the host.
#include "gpu/internal/stage_model.hpp"

namespace sy::gpu::internal {

namespace {
#define SY_TRY(expr)             \
  do {                           \
    if (auto st_ = (expr); !st_) \
      return st_.err();          \
  } while (false)

bool uses_head(output_kind k) {
  return k == output_kind::logits_last || k == output_kind::logits_all || k == output_kind::pooler;
}
} // namespace

status enqueue_output(const output_args& a, device& dev, stream s, const workspace_layout& wl, std::byte* base,
                      void* x, void* host_out) {
  const shard_plan& p = *a.plan;
  const shard_offsets& o = *a.offsets;
  const auto& spec = p.spec;
  const int h = spec.hidden;
  const std::size_t e = dtype_size(a.type);
  const output_kind kind = a.kind;
  if (!uses_head(kind) && a.rank != 0)
    return {}; // every rank holds the same x; rank 0 writes the hidden states
  auto W = [&](std::size_t off) { return off == absent ? nullptr : static_cast<const void*>(a.weights + off); };
  void* ln = base + wl.ln;
  void* head = base + wl.head;
  const bool final_norm = o.lnf_w != absent;
  auto norm = [&](const void* in, void* out, int rows, int in_stride) {
    layer_norm_params lp;
    lp.in = in;
    lp.out = out;
    lp.gamma = W(o.lnf_w);
    lp.beta = W(o.lnf_b);
    lp.rows = rows;
    lp.cols = h;
    lp.in_stride = in_stride;
    lp.eps = spec.norm_eps;
    lp.rms = spec.norm == norm_kind::rms_norm;
    lp.type = a.type;
    return dev.layer_norm(lp, s);
  };
  auto pool = [&](pool_kind k, const void* in, void* out, bool l2) {
    pool_params pp;
    pp.in = in;
    pp.out = out;
    pp.seq_starts = a.starts;
    pp.batch = a.seqs;
    pp.seq = a.seq;
    pp.cols = h;
    pp.kind = k;
    pp.l2_normalize = l2;
    pp.type = a.type;
    return dev.pool(pp, s);
  };

  // 1. The rows: src [rows, h].
  const void* src = x;
  int rows = a.seqs;
  switch (kind) {
    case output_kind::logits_last:
    case output_kind::pooler:
    case output_kind::cls: {
      const bool first = kind != output_kind::logits_last;
      if (a.step) { // the rows of the sequences' last new tokens, gathered, normalised in place
        SY_TRY(enqueue_step_last_rows(*a.step, dev, s, x, ln, h, a.type));
        if (final_norm)
          SY_TRY(norm(ln, ln, rows, 0));
      } else if (!a.starts && final_norm) { // gather and normalise in one strided pass
        const std::size_t at = first ? 0 : static_cast<std::size_t>(a.seq - 1) * h * e;
        SY_TRY(norm(static_cast<std::byte*>(x) + at, ln, rows, a.seq * h));
      } else {
        SY_TRY(pool(first ? pool_kind::first : pool_kind::last, x, ln, false));
        if (final_norm)
          SY_TRY(norm(ln, ln, rows, 0));
      }
      src = ln;
      break;
    }
    case output_kind::logits_all:
    case output_kind::hidden:
      rows = a.tokens;
      if (final_norm) {
        SY_TRY(norm(x, ln, rows, 0));
        src = ln;
      }
      break;
    case output_kind::mean:
    case output_kind::mean_normalized:
      if (final_norm) {
        SY_TRY(norm(x, ln, a.tokens, 0));
        src = ln;
      }
      SY_TRY(pool(pool_kind::mean, src, head, kind == output_kind::mean_normalized));
      src = head;
      break;
  }

  // 2. Head / pooler (columns [out_begin, out_end) of this rank), or the hidden states as they are.
  int cols = h, pitch = h, col0 = 0;
  if (uses_head(kind)) {
    cols = p.out_end - p.out_begin;
    pitch = p.out_dim;
    col0 = p.out_begin;
    if (cols == 0)
      return {};
    gemm_params g;
    g.a = src;
    g.b = W(o.head_w);
    g.c = head;
    g.bias = W(o.head_b);
    g.m = rows;
    g.n = cols;
    g.k = h;
    g.trans_b = o.head_transposed; // tied: rows [out_begin, out_end) of tok_emb, [cols, h]
    g.act = kind == output_kind::pooler ? activation::tanh : activation::none;
    g.type = a.type;
    SY_TRY(dev.gemm(g, s));
    src = head;
  }
  if (a.type != dtype::f32) {
    convert_params cp;
    cp.src = src;
    cp.dst = base + wl.head_f32;
    cp.count = static_cast<std::size_t>(rows) * cols;
    cp.src_type = a.type;
    cp.dst_type = dtype::f32;
    SY_TRY(dev.convert(cp, s));
    src = base + wl.head_f32;
  }
  auto* out = static_cast<float*>(host_out) + col0;
  return dev.copy_to_host_2d(out, static_cast<std::size_t>(pitch) * 4, src, static_cast<std::size_t>(cols) * 4,
                             static_cast<std::size_t>(cols) * 4, static_cast<std::size_t>(rows), s);
}

} // namespace sy::gpu::internal
