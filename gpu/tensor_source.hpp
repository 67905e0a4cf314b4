#pragma once
// tensor_source: where shard building reads a model's canonical tensors (gpu/weights.hpp) from. Building a
// shard asks for exactly the part of each full tensor that its (stage, rank) holds, converted to the
// shard's dtype, so a source backed by checkpoint files (gpu/hf_checkpoint.hpp) can copy straight from
// the files into the pinned shard without a full-model copy in between.
//
// Thread safety: check() and read() are const and may be called from several threads at once (shards are
// built in parallel); implementations must not mutate shared state without a lock.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gpu/weights.hpp"

namespace sy::gpu {

/// A part of a full canonical tensor: rows [row_begin, row_end) and, of each row, the column segments
/// (begin, count) concatenated in order. A 1-D tensor [n] is one row of n columns.
struct tensor_slice {
  std::int64_t row_begin = 0, row_end = 1;
  std::vector<std::pair<std::int64_t, std::int64_t>> cols;
  std::int64_t rows() const noexcept { return row_end - row_begin; }
  std::int64_t width() const noexcept;                 // sum of the segments' counts
  std::int64_t elements() const noexcept { return rows() * width(); }
  /// The whole of a tensor of `shape` (1-D or 2-D).
  static tensor_slice whole(const std::vector<std::int64_t>& shape);
};

class tensor_source {
public:
  virtual ~tensor_source() = default;
  /// Checks, once before any read, that every canonical tensor of `spec` (weight_tensors(spec)) is there
  /// with its shape, and that nothing the source holds is left unused where that would mean computing
  /// another model. The message names the file and the tensor.
  [[nodiscard]] virtual status check(const model_spec& spec) const = 0;
  /// Writes `s` of canonical tensor `t` into `dst` as `type`, packed row-major (s.rows() x s.width()
  /// elements). Values are rounded to nearest even when narrowing.
  [[nodiscard]] virtual status read(const tensor_desc& t, const tensor_slice& s, dtype type,
                                    std::byte* dst) const = 0;
};

/// A tensor_source over an in-memory weight_set (seeded weights, our own safetensors files). Holds a
/// reference: `w` must outlive it.
class weight_set_source final : public tensor_source {
public:
  explicit weight_set_source(const weight_set& w) : w_(w) {}
  status check(const model_spec& spec) const override;
  status read(const tensor_desc& t, const tensor_slice& s, dtype type, std::byte* dst) const override;

private:
  const weight_set& w_;
};

/// Converts n f32 values to `type` at dst (f32: a copy).
void store_as(dtype type, const float* src, std::size_t n, std::byte* dst) noexcept;

} // namespace sy::gpu
