#pragma once
// sy::result<T>: a value or a precise error message, returned across library boundaries instead of
// throwing (STYLE.md: no exceptions across actor or library boundaries). Thread-compatible value type.
#include <string>
#include <utility>
#include <variant>

namespace sy {

/// An error: a category (stable, for tests and metrics) and a human message that names what was expected
/// and what was found.
struct error {
  std::string category; // e.g. "config", "weights", "memory", "cuda", "solver"
  std::string message;
  std::string to_string() const { return category + ": " + message; }
};

template <class T>
class [[nodiscard]] result {
public:
  result(T value) : v_(std::move(value)) {}
  result(error e) : v_(std::move(e)) {}
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const error& err() const { return std::get<1>(v_); }

private:
  std::variant<T, error> v_;
};

/// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
public:
  result() = default;
  result(error e) : e_(std::move(e)), ok_(false) {}
  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const error& err() const { return e_; }

private:
  error e_;
  bool ok_ = true;
};

using status = result<void>;

inline error make_error(std::string category, std::string message) {
  return error{std::move(category), std::move(message)};
}

} // namespace sy
