#pragma once
// The one JSON implementation of switchyard (Debian 12 ships no C++ JSON library in our stack): a value tree,
// a reader with precise errors, a writer, and the two helpers for hand-built documents (quote, number).
// Used by the safetensors header (gpu/), the profile database (policies/), the HTTP ingress (actors/) and
// the replay outputs (apps/).
// - Objects keep their member order (duplicate names: `get` returns the first).
// - Numbers are doubles, and parsed numbers also keep their text, so that 64-bit integers (safetensors data
//   offsets) are exact through `as_int64`.
// - Errors (category "json") name line, column and byte offset, what was expected and what was found:
//   "line 1, column 7 (byte 6): expected a value, found '}'".
// Value types; no shared state; any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "messages/result.hpp"

namespace sy::json {

class value {
public:
  enum class kind { null, boolean, number, string, array, object };
  using array_t = std::vector<value>;
  using object_t = std::vector<std::pair<std::string, value>>;

  value() = default;
  value(bool b) : kind_(kind::boolean), bool_(b) {}
  value(double d) : kind_(kind::number), num_(d) {}
  value(int i) : kind_(kind::number), num_(i) {}
  /// Exact: the integer's text is kept, so `as_int64` and `write` reproduce it beyond 2^53.
  value(std::int64_t i);
  value(std::string s) : kind_(kind::string), str_(std::move(s)) {}
  value(const char* s) : kind_(kind::string), str_(s) {}
  static value make_array() { value v; v.kind_ = kind::array; return v; }
  static value make_object() { value v; v.kind_ = kind::object; return v; }
  /// A number with its literal text (the reader uses it); `text` must be a valid JSON number.
  static value make_number(double d, std::string text);

  kind type() const { return kind_; }
  bool is_null() const { return kind_ == kind::null; }
  bool is_bool() const { return kind_ == kind::boolean; }
  bool is_number() const { return kind_ == kind::number; }
  bool is_string() const { return kind_ == kind::string; }
  bool is_array() const { return kind_ == kind::array; }
  bool is_object() const { return kind_ == kind::object; }
  bool as_bool() const { return bool_; }
  double as_number() const { return num_; }
  /// The number as an exact int64 when it is an integer literal in range (or was built from an int64).
  std::optional<std::int64_t> as_int64() const;
  const std::string& as_string() const { return str_; }
  const array_t& as_array() const { return arr_; }
  array_t& as_array() { return arr_; }
  const object_t& as_object() const { return obj_; }

  /// Object member lookup; nullptr when absent or not an object.
  const value* get(std::string_view key) const;
  /// Appends (object) a member; returns *this for chaining.
  value& set(std::string key, value v);
  /// Appends (array) an element; returns *this for chaining.
  value& push(value v);

private:
  kind kind_ = kind::null;
  bool bool_ = false;
  double num_ = 0;
  std::string str_; // string contents, or a number's literal text (may be empty for computed numbers)
  array_t arr_;
  object_t obj_;
};

/// "null", "boolean", "number", "string", "array", "object".
const char* kind_name(value::kind k);

/// Parses one complete document; nesting deeper than `max_depth` is an error.
result<value> parse(std::string_view text, int max_depth = 64);
/// Compact when indent < 0, else pretty-printed with `indent` spaces; doubles print as the shortest text that
/// reads back exactly, integers without exponent (int64 exactly), non-finite numbers as null (JSON has no
/// inf/nan).
std::string write(const value& v, int indent = -1);

/// `"..."` with JSON escapes, for documents written by hand.
std::string quote(std::string_view s);
/// A number as JSON text, as `write` prints it.
std::string number(double v);

} // namespace sy::json
