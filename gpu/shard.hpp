#pragma once
// Sharding of one model by (stage, tensor rank), identical on every backend.
//
// Pipeline stages: stage s owns layers [stage_bounds[s], stage_bounds[s+1]); stage 0 also holds the
// embeddings, the last stage ln_f and the head (decoder) or pooler (encoder).
// Tensor parallel (Megatron): with tp ranks and d = head_dim, rank r holds query heads [r*H/tp, (r+1)*H/tp)
// and key/value heads [r*K/tp, (r+1)*K/tp) (K = kv_heads; GQA keeps each query head with its kv head):
//   qkv.weight/bias  column split: the rank's q columns, then its k and v columns  [h, (H+2K)d/tp]
//   attn.out.weight  row split: the rows of its heads                              [Hd/tp, h]
//   ffn.in.weight/bias column split (SwiGLU: the rank's gate columns, then its up  [h, f/tp] ([h, 2f/tp])
//                    columns)
//   ffn.out.weight   row split                                                     [f/tp, h]
//   attn.out.bias, ffn.out.bias: replicated; only rank 0 adds it (in its GEMM epilogue), so that the
//   all-reduce that follows the row-split GEMM sums it exactly once
//   layer norms, embeddings: replicated on every rank.
//   head/pooler: column split over ranks in contiguous ranges [out_begin, out_end) (vocab need not divide);
//   each rank computes its slice of the output. A tied head (spec.tied_head) reads the token embedding
//   transposed: rows [out_begin, out_end) of tok_emb where the shard holds tok_emb (stage 0 is also the last
//   stage), else a tensor "head.tied" = those rows of tok_emb ([out_end - out_begin, h]).
// A shard is one contiguous host buffer (pinned) in the device dtype, laid out as its tensors in order,
// each at a 256-byte aligned offset, so that a load is one chunked copy.
//
// Value types; plan_shard/build_host_shard are thread-safe.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpu/backend.hpp"
#include "gpu/model_spec.hpp"
#include "gpu/tensor_source.hpp"
#include "gpu/weights.hpp"

namespace sy::gpu {

/// How a model is cut: tp ranks per stage, stage boundaries over layers.
struct parallel_layout {
  int tp = 1;
  std::vector<int> stage_bounds; // stages + 1 increasing entries, first 0, last spec.layers
  int stages() const noexcept { return static_cast<int>(stage_bounds.size()) - 1; }
};

/// pp stages with layers split as evenly as possible (earlier stages get the extra layers).
result<parallel_layout> even_layout(const model_spec& spec, int tp, int pp);
/// tp >= 1, heads % tp == 0, kv_heads % tp == 0, ffn % tp == 0, bounds valid, every stage has >= 1 layer.
status validate_layout(const model_spec& spec, const parallel_layout& layout);

struct shard_tensor {
  std::string name;                 // name within the shard: the canonical name, or "head.tied"
  std::string source;               // the canonical tensor (gpu/weights.hpp) it is a slice of
  std::vector<std::int64_t> full_shape; // the canonical tensor's shape
  tensor_slice slice;               // which part of it this shard holds
  std::vector<std::int64_t> shape;  // the local (sharded) shape
  std::size_t offset = 0;           // bytes from the start of the shard buffer
  std::size_t bytes = 0;
};

/// What (stage, rank) of a model holds.
struct shard_plan {
  model_spec spec;
  parallel_layout layout;
  int stage = 0, rank = 0;
  int first_layer = 0, end_layer = 0; // [first, end)
  bool has_embeddings = false, has_head = false;
  int local_heads = 0, local_kv_heads = 0, local_ffn = 0;
  int head_dim = 0;                   // spec.head_dim_or_default()
  int out_begin = 0, out_end = 0;     // head/pooler output columns of this rank (last stage)
  int out_dim = 0;                    // full output width: vocab (decoder) or hidden (encoder)
  dtype type = dtype::f32;            // storage (= compute) dtype of the shard
  std::vector<shard_tensor> tensors;
  std::size_t bytes = 0;              // total buffer size
  const shard_tensor* find(const std::string& name) const;
};

result<shard_plan> plan_shard(const model_spec& spec, const parallel_layout& layout, int stage, int rank,
                              dtype type);

/// A shard's weights in one contiguous pinned host buffer.
struct host_shard {
  shard_plan plan;
  pinned_buffer data;
};

/// Reads the shard's slices from `source` straight into one pinned buffer in plan.type. The caller checks
/// the source once (source.check(spec)) before building the shards of a model.
result<std::shared_ptr<const host_shard>> build_host_shard(const shard_plan& plan, const tensor_source& source,
                                                           backend& b);
/// The same over an in-memory weight_set, checked against the spec first.
result<std::shared_ptr<const host_shard>> build_host_shard(const shard_plan& plan, const weight_set& weights,
                                                           backend& b);

} // namespace sy::gpu
