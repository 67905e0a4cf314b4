#pragma once
// Strong ids (STYLE.md: never a bare integer whose meaning lives in a comment).
#include <cstdint>
#include <functional>

namespace sy {

template <class Tag, class Rep = std::uint32_t>
struct strong_id {
  Rep value{};
  constexpr bool operator==(const strong_id& o) const { return value == o.value; }
  constexpr bool operator!=(const strong_id& o) const { return value != o.value; }
  constexpr bool operator<(const strong_id& o) const { return value < o.value; }
};

template <class Inspector, class Tag, class Rep>
typename Inspector::result_type inspect(Inspector& f, strong_id<Tag, Rep>& x) {
  return f(x.value);
}

using model_id = strong_id<struct model_tag>;
using gpu_id = strong_id<struct gpu_tag>;
using group_id = strong_id<struct group_tag>;
using node_id = strong_id<struct node_tag>;
using request_id = strong_id<struct request_tag, std::uint64_t>;

} // namespace sy

template <class Tag, class Rep>
struct std::hash<sy::strong_id<Tag, Rep>> {
  std::size_t operator()(const sy::strong_id<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>{}(id.value);
  }
};
