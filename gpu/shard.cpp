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

/// Which part of the full tensor `name` (shape `full`) rank p.rank holds.
tensor_slice slice_of(const std::string& name, const std::vector<std::int64_t>& full, const shard_plan& p) {
  const auto& s = p.spec;
  const std::int64_t r = p.rank, d = p.head_dim, f = s.ffn;
  const std::int64_t qw = static_cast<std::int64_t>(p.local_heads) * d, kw = static_cast<std::int64_t>(p.local_kv_heads) * d;
  const std::int64_t hq = static_cast<std::int64_t>(s.heads) * d, hk = static_cast<std::int64_t>(s.kv_heads_or_heads()) * d;
  const std::int64_t fw = p.local_ffn;
  tensor_slice sl = tensor_slice::whole(full);
  if (name == "head.weight" || name == "head.bias" || name == "pool.weight" || name == "pool.bias") {
    sl.cols = {{p.out_begin, p.out_end - p.out_begin}};
    return sl;
  }
  if (p.layout.tp == 1)
    return sl;
  if (ends_with(name, "attn.qkv.weight") || ends_with(name, "attn.qkv.bias")) {
    sl.cols = {{r * qw, qw}, {hq + r * kw, kw}, {hq + hk + r * kw, kw}};
  } else if (ends_with(name, "attn.out.weight")) {
    sl.row_begin = r * qw;
    sl.row_end = (r + 1) * qw;
  } else if (ends_with(name, "ffn.in.weight") || ends_with(name, "ffn.in.bias")) {
    if (s.ffn_act == ffn_kind::silu_gated)
      sl.cols = {{r * fw, fw}, {f + r * fw, fw}};
    else
      sl.cols = {{r * fw, fw}};
  } else if (ends_with(name, "ffn.out.weight")) {
    sl.row_begin = r * fw;
    sl.row_end = (r + 1) * fw;
  }
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
  if (spec.kv_heads_or_heads() % l.tp != 0)
    return make_error("layout", m + "key/value heads (" + std::to_string(spec.kv_heads_or_heads()) +
                                  ") must be divisible by the tensor-parallel degree " + std::to_string(l.tp) +
                                  " (tensor parallelism splits the kv heads)");
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
  p.local_kv_heads = spec.kv_heads_or_heads() / layout.tp;
  p.head_dim = spec.head_dim_or_default();
  p.local_ffn = spec.ffn / layout.tp;
  p.out_dim = spec.kind == arch::decoder ? spec.vocab : spec.hidden;
  p.out_begin = static_cast<int>(static_cast<std::int64_t>(p.out_dim) * rank / layout.tp);
  p.out_end = static_cast<int>(static_cast<std::int64_t>(p.out_dim) * (rank + 1) / layout.tp);
  p.type = type;
  std::size_t offset = 0;
  auto add = [&](const std::string& name, const tensor_desc& d, tensor_slice sl) {
    shard_tensor t;
    t.name = name;
    t.source = d.name;
    t.full_shape = d.shape;
    t.shape = d.shape.size() == 2 ? std::vector<std::int64_t>{sl.rows(), sl.width()}
                                  : std::vector<std::int64_t>{sl.width()};
    t.slice = std::move(sl);
    t.offset = offset;
    t.bytes = static_cast<std::size_t>(t.slice.elements()) * dtype_size(type);
    offset = align256(offset + t.bytes);
    p.tensors.push_back(std::move(t));
  };
  const bool tied = spec.kind == arch::decoder && spec.tied_head;
  for (const auto& d : weight_tensors(spec)) {
    bool take = false;
    if (d.name == "tok_emb" || d.name == "pos_emb" || d.name == "tok_type_emb" || d.name.rfind("emb_ln.", 0) == 0) {
      take = p.has_embeddings;
    } else if (d.name.rfind("layers.", 0) == 0) {
      int layer = std::stoi(d.name.substr(7));
      take = layer >= p.first_layer && layer < p.end_layer;
    } else {
      take = p.has_head;
    }
    if (take)
      add(d.name, d, slice_of(d.name, d.shape, p));
    if (d.name == "tok_emb" && tied && p.has_head && !p.has_embeddings) {
      tensor_slice sl = tensor_slice::whole(d.shape);
      sl.row_begin = p.out_begin;
      sl.row_end = p.out_end;
      add("head.tied", d, std::move(sl));
    }
  }
  p.bytes = std::max<std::size_t>(offset, 256);
  return p;
}

result<std::shared_ptr<const host_shard>> build_host_shard(const shard_plan& plan, const tensor_source& source,
                                                           backend& b) {
  auto buf = b.allocate_pinned(plan.bytes);
  if (!buf)
    return buf.err();
  // Each tensor's bytes are written once by the source; only the alignment gaps between them are zeroed
  // (zeroing the whole buffer first would touch every page twice: half the load time of a large shard).
  std::size_t end = 0;
  for (const auto& t : plan.tensors) {
    std::memset(buf->data() + end, 0, t.offset - end);
    tensor_desc d{t.source, t.full_shape};
    if (auto st = source.read(d, t.slice, plan.type, buf->data() + t.offset); !st)
      return st.err();
    end = t.offset + t.bytes;
  }
  std::memset(buf->data() + end, 0, plan.bytes - end);
  auto shard = std::make_shared<host_shard>();
  shard->plan = plan;
  shard->data = std::move(*buf);
  return std::shared_ptr<const host_shard>{std::move(shard)};
}

result<std::shared_ptr<const host_shard>> build_host_shard(const shard_plan& plan, const weight_set& weights,
                                                           backend& b) {
  if (auto st = check_weights(plan.spec, weights); !st)
    return st.err();
  return build_host_shard(plan, weight_set_source{weights}, b);
}

} // namespace sy::gpu
