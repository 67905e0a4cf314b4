#pragma once
// A small JSON value, reader and writer for the profile database (policies/ only; private to the folder).
// Numbers are doubles (integers up to 2^53 are exact, enough for byte counts). Objects keep insertion
// order. The reader reports errors with line and column. Value type; no shared state; any thread.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "messages/result.hpp"

namespace sy::policies::internal {

class json_value {
public:
  enum class kind { null, boolean, number, string, array, object };
  using array_t = std::vector<json_value>;
  using object_t = std::vector<std::pair<std::string, json_value>>;

  json_value() = default;
  json_value(bool b) : kind_(kind::boolean), bool_(b) {}
  json_value(double d) : kind_(kind::number), num_(d) {}
  json_value(int i) : kind_(kind::number), num_(i) {}
  json_value(std::int64_t i) : kind_(kind::number), num_(static_cast<double>(i)) {}
  json_value(std::string s) : kind_(kind::string), str_(std::move(s)) {}
  json_value(const char* s) : kind_(kind::string), str_(s) {}
  static json_value make_array() { json_value v; v.kind_ = kind::array; return v; }
  static json_value make_object() { json_value v; v.kind_ = kind::object; return v; }

  kind type() const { return kind_; }
  bool is_null() const { return kind_ == kind::null; }
  bool is_number() const { return kind_ == kind::number; }
  bool is_string() const { return kind_ == kind::string; }
  bool is_array() const { return kind_ == kind::array; }
  bool is_object() const { return kind_ == kind::object; }
  bool as_bool() const { return bool_; }
  double as_number() const { return num_; }
  const std::string& as_string() const { return str_; }
  const array_t& as_array() const { return arr_; }
  array_t& as_array() { return arr_; }
  const object_t& as_object() const { return obj_; }

  /// Object member lookup; nullptr when absent or not an object.
  const json_value* get(const std::string& key) const;
  /// Appends (object) a member; returns *this for chaining.
  json_value& set(std::string key, json_value v);
  /// Appends (array) an element.
  json_value& push(json_value v);

private:
  kind kind_ = kind::null;
  bool bool_ = false;
  double num_ = 0;
  std::string str_;
  array_t arr_;
  object_t obj_;
};

/// Human name of a kind ("number", "array", ...), for error messages.
const char* kind_name(json_value::kind k);

/// Parses one JSON document; errors name line and column ("json: line 3, column 7: expected ...").
result<json_value> parse_json(const std::string& text);
/// Compact when indent < 0, else pretty-printed with `indent` spaces; numbers round-trip (%.17g).
std::string write_json(const json_value& v, int indent = -1);

} // namespace sy::policies::internal
