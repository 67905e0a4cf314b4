#include "gpu/shard.hpp"

#include <cstring>

namespace sy::gpu {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::size_t align256(std::size_t n) {
  return (n + 255) / 256 * 256;
}

/// Which part of a full tensor a rank holds: rows [row_begin, row_end) and, of each row, the column
/// segments (begin, count) concatenated.
struct slice {
  std::int64_t row_begin = 0, row_end = 0;
  std::vector<std::pair<std::int64_t, std::int64_t>> cols;
};

slice slice_of(const std::string& name, const std::vector<std::int64_t>& full, const shard_plan& p) {
  const auto& s = p.spec;
  std::int64_t tp = p.layout.tp, r = p.rank, h = s.hidden, d = s.hidden / s.heads;
  std::int64_t qw = p.local_heads * d, fw = p.local_ffn;
  slice sl;
  std::int64_t rows = full.size() == 2 ? full[0] : 1, cols = full.size() == 2 ? full[1] : full[0];
  sl.row_begin = 0;
  sl.row_end = rows;
  sl.cols = {{0, cols}};
  if (tp == 1)
    return sl;
  if (ends_with(name, "attn.qkv.weight") || ends_with(name, "attn.qkv.bias")) {
    sl.cols = {{r * qw, qw}, {h + r * qw, qw}, {2 * h + r * qw, qw}};
  } else if (ends_with(name, "attn.out.weight")) {
    sl.row_begin = r * qw;
    sl.row_end = (r + 1) * qw;
  } else if (ends_with(name, "ffn.in.weight") || ends_with(name, "ffn.in.bias")) {
    sl.cols = {{r * fw, fw}};
  } else if (ends_with(name, "ffn.out.weight")) {
    sl.row_begin = r * fw;
    sl.row_end = (r + 1) * fw;
  } else if (name == "head.weight" || name == "head.bias" || name == "pool.weight" || name == "pool.bias") {
    sl.cols = {{p.out_begin, p.out_end - p.out_begin}};
  }
  (void)tp;
  return sl;
}

} // namespace

result<parallel_layout> even_layout(const model_spec& spec, int tp, int pp) {
  if (pp <= 0 || pp > spec.layers)
    return make_error("layout", "model '" + spec.name + "': pipeline degree " + std::to_string(pp) +
                                  " must be in [1, layers = " + std::to_string(spec.layers) + "]");
  parallel_layout l;
  l.tp = tp;
  l.stage_bounds.push_back(0);
  int base = spec.layers / pp, extra = spec.layers % pp;
  for (int s = 0; s < pp; ++s)
    l.stage_bounds.push_back(l.stage_bounds.back() + base + (s < extra ? 1 : 0));
  if (auto st = validate_layout(spec, l); !st)
    return st.err();
  return l;
}

status validate_layout(const model_spec& spec, const parallel_layout& l) {
  std::string m = "model '" + spec.name + "': ";
  if (l.tp <= 0)
    return make_error("layout", m + "tensor-parallel degree must be positive, found " + std::to_string(l.tp));
  if (spec.heads % l.tp != 0)
    return make_error("layout", m + "heads (" + std::to_string(spec.heads) + ") must be divisible by the " +
                                  "tensor-parallel degree " + std::to_string(l.tp));
  if (spec.ffn % l.tp != 0)
    return make_error("layout", m + "ffn (" + std::to_string(spec.ffn) + ") must be divisible by the " +
                                  "tensor-parallel degree " + std::to_string(l.tp));
  if (l.stage_bounds.size() < 2 || l.stage_bounds.front() != 0 || l.stage_bounds.back() != spec.layers)
    return make_error("layout", m + "stage bounds must start at 0 and end at layers = " +
                                  std::to_string(spec.layers));
  for (std::size_t i = 1; i < l.stage_bounds.size(); ++i)
    if (l.stage_bounds[i] <= l.stage_bounds[i - 1])
      return make_error("layout", m + "stage " + std::to_string(i - 1) + " has no layers (bounds must increase)");
  return {};
}

const shard_tensor* shard_plan::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name)
      return &t;
  return nullptr;
}

result<shard_plan> plan_shard(const model_spec& spec, const parallel_layout& layout, int stage, int rank,
                              dtype type) {
  if (auto st = spec.validate(); !st)
    return st.err();
  if (auto st = validate_layout(spec, layout); !st)
    return st.err();
  if (stage < 0 || stage >= layout.stages() || rank < 0 || rank >= layout.tp)
    return make_error("layout", "shard (stage " + std::to_string(stage) + ", rank " + std::to_string(rank) +
                                  ") outside " + std::to_string(layout.stages()) + " stages x " +
                                  std::to_string(layout.tp) + " ranks");
  shard_plan p;
  p.spec = spec;
  p.layout = layout;
  p.stage = stage;
  p.rank = rank;
  p.first_layer = layout.stage_bounds[stage];
  p.end_layer = layout.stage_bounds[stage + 1];
  p.has_embeddings = stage == 0;
  p.has_head = stage == layout.stages() - 1;
  p.local_heads = spec.heads / layout.tp;
  p.local_ffn = spec.ffn / layout.tp;
  p.out_dim = spec.kind == arch::decoder ? spec.vocab : spec.hidden;
  p.out_begin = static_cast<int>(static_cast<std::int64_t>(p.out_dim) * rank / layout.tp);
  p.out_end = static_cast<int>(static_cast<std::int64_t>(p.out_dim) * (rank + 1) / layout.tp);
  p.type = type;
  std::size_t offset = 0;
  for (const auto& d : weight_tensors(spec)) {
    bool take = false;
    if (d.name == "tok_emb" || d.name == "pos_emb") {
      take = p.has_embeddings;
    } else if (d.name.rfind("layers.", 0) == 0) {
      int layer = std::stoi(d.name.substr(7));
      take = layer >= p.first_layer && layer < p.end_layer;
    } else {
      take = p.has_head;
    }
    if (!take)
      continue;
    slice sl = slice_of(d.name, d.shape, p);
    std::int64_t cols = 0;
    for (auto [b, c] : sl.cols)
      cols += c;
    shard_tensor t;
    t.name = d.name;
    t.shape = d.shape.size() == 2 ? std::vector<std::int64_t>{sl.row_end - sl.row_begin, cols}
                                  : std::vector<std::int64_t>{cols};
    t.offset = offset;
    t.bytes = static_cast<std::size_t>((sl.row_end - sl.row_begin) * cols) * dtype_size(type);
    offset = align256(offset + t.bytes);
    p.tensors.push_back(std::move(t));
  }
  p.bytes = std::max<std::size_t>(offset, 256);
  return p;
}

result<std::shared_ptr<const host_shard>> build_host_shard(const shard_plan& plan, const weight_set& weights,
                                                           backend& b) {
  if (auto st = check_weights(plan.spec, weights); !st)
    return st.err();
  auto buf = b.allocate_pinned(plan.bytes);
  if (!buf)
    return buf.err();
  std::memset(buf->data(), 0, plan.bytes);
  for (const auto& t : plan.tensors) {
    const host_tensor* full = weights.find(t.name);
    slice sl = slice_of(t.name, full->shape, plan);
    std::int64_t full_cols = full->shape.size() == 2 ? full->shape[1] : full->shape[0];
    std::byte* dst = buf->data() + t.offset;
    std::size_t esize = dtype_size(plan.type);
    std::size_t k = 0;
    for (std::int64_t r = sl.row_begin; r < sl.row_end; ++r)
      for (auto [c0, n] : sl.cols) {
        const float* src = full->values.data() + r * full_cols + c0;
        if (plan.type == dtype::f32) {
          std::memcpy(dst + k * esize, src, static_cast<std::size_t>(n) * 4);
        } else {
          for (std::int64_t i = 0; i < n; ++i) {
            std::uint16_t h = plan.type == dtype::f16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
            std::memcpy(dst + (k + static_cast<std::size_t>(i)) * esize, &h, 2);
          }
        }
        k += static_cast<std::size_t>(n);
      }
  }
  auto shard = std::make_shared<host_shard>();
  shard->plan = plan;
  shard->data = std::move(*buf);
  return std::shared_ptr<const host_shard>{std::move(shard)};
}

} // namespace sy::gpu
