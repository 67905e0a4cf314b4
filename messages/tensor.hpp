#pragma once
// messages::tensor: a tensor as it travels in messages (DESIGN.md §7): raw bytes + element type + shape,
// never vector<float> (CAF 0.17 serializes that slowly). A plain value type, owned by whoever holds it;
// any thread. Row-major, densely packed: bytes.size() == element_size(type) * product(shape).
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace sy::messages {

enum class element_type : std::uint8_t { f32, f16, bf16, i32 };

inline std::size_t element_size(element_type t) noexcept {
  return t == element_type::f16 || t == element_type::bf16 ? 2 : 4;
}

inline const char* to_string(element_type t) noexcept {
  switch (t) {
    case element_type::f32: return "f32";
    case element_type::f16: return "f16";
    case element_type::bf16: return "bf16";
    case element_type::i32: return "i32";
  }
  return "?";
}

struct tensor {
  element_type type = element_type::f32;
  std::vector<std::int64_t> shape;
  std::vector<char> bytes;
  /// Process-local only, never serialized: activations left on a device by the stage that computed them
  /// (a gpu::device_activation; `bytes` is then empty). A stage sets it only when the next stage runs in the
  /// same process; the next stage reads it on its device and drops it when its forward completed.
  std::shared_ptr<const void> device_data;

  std::int64_t elements() const {
    std::int64_t n = 1;
    for (auto d : shape)
      n *= d;
    return shape.empty() ? 0 : n;
  }
  /// True when bytes.size() matches type and shape (or the data is on a device and bytes is empty).
  bool consistent() const {
    if (device_data)
      return bytes.empty();
    return static_cast<std::int64_t>(bytes.size())
           == elements() * static_cast<std::int64_t>(element_size(type));
  }
  /// A packed f32 tensor copied from `data`.
  static tensor from_f32(const float* data, std::vector<std::int64_t> shape) {
    tensor t;
    t.type = element_type::f32;
    t.shape = std::move(shape);
    t.bytes.resize(static_cast<std::size_t>(t.elements()) * sizeof(float));
    if (!t.bytes.empty())
      std::memcpy(t.bytes.data(), data, t.bytes.size());
    return t;
  }
  /// The elements as floats (only for type f32; empty otherwise).
  std::vector<float> to_f32() const {
    std::vector<float> out;
    if (type != element_type::f32)
      return out;
    out.resize(bytes.size() / sizeof(float));
    if (!out.empty())
      std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
    return out;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tensor& x) {
  return f(x.type, x.shape, x.bytes);
}

} // namespace sy::messages
