#include "gpu/tensor_source.hpp"

#include <cstring>

namespace sy::gpu {

std::int64_t tensor_slice::width() const noexcept {
  std::int64_t n = 0;
  for (auto [b, c] : cols)
    n += c;
  return n;
}

tensor_slice tensor_slice::whole(const std::vector<std::int64_t>& shape) {
  tensor_slice s;
  s.row_end = shape.size() == 2 ? shape[0] : 1;
  s.cols = {{0, shape.empty() ? 0 : shape.back()}};
  return s;
}

void store_as(dtype type, const float* src, std::size_t n, std::byte* dst) noexcept {
  if (type == dtype::f32) {
    std::memcpy(dst, src, n * 4);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::uint16_t h = type == dtype::f16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
    std::memcpy(dst + i * 2, &h, 2);
  }
}

status weight_set_source::check(const model_spec& spec) const {
  return check_weights(spec, w_);
}

status weight_set_source::read(const tensor_desc& t, const tensor_slice& s, dtype type, std::byte* dst) const {
  const host_tensor* full = w_.find(t.name);
  if (!full)
    return make_error("weights", "missing tensor '" + t.name + "'");
  const std::int64_t full_cols = full->shape.size() == 2 ? full->shape[1] : full->shape[0];
  const std::int64_t full_rows = full->shape.size() == 2 ? full->shape[0] : 1;
  if (s.row_begin < 0 || s.row_end > full_rows)
    return make_error("weights", "tensor '" + t.name + "': rows outside the tensor");
  const std::size_t e = dtype_size(type);
  std::size_t k = 0;
  for (std::int64_t r = s.row_begin; r < s.row_end; ++r)
    for (auto [c0, n] : s.cols) {
      if (c0 < 0 || c0 + n > full_cols)
        return make_error("weights", "tensor '" + t.name + "': columns outside the tensor");
      store_as(type, full->values.data() + r * full_cols + c0, static_cast<std::size_t>(n), dst + k * e);
      k += static_cast<std::size_t>(n);
    }
  return {};
}

} // namespace sy::gpu
