#pragma once
// inspect() support for std::optional members of message structs (CAF 0.17 only knows caf::optional).
// Usage inside an inspect(): f(..., messages::optional_field(x.slo), ...). Any thread.
#include <optional>
#include <type_traits>

namespace sy::messages {

template <class T>
struct optional_field_ref {
  std::optional<T>& ref;
};

template <class T>
optional_field_ref<T> optional_field(std::optional<T>& x) {
  return {x};
}

template <class Inspector, class T>
typename std::enable_if<Inspector::reads_state, typename Inspector::result_type>::type
inspect(Inspector& f, optional_field_ref<T>& x) {
  bool has = x.ref.has_value();
  T value = has ? *x.ref : T{};
  return f(has, value);
}

template <class Inspector, class T>
typename std::enable_if<Inspector::writes_state, typename Inspector::result_type>::type
inspect(Inspector& f, optional_field_ref<T>& x) {
  bool has = false;
  T value{};
  auto res = f(has, value);
  if (has)
    x.ref = std::move(value);
  else
    x.ref.reset();
  return res;
}

} // namespace sy::messages
