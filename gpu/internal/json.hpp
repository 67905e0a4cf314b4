#pragma once
// A minimal JSON value, parser and writer for the safetensors header (nlohmann is not available). Objects
// keep their key order. Numbers keep their text so that 64-bit integers (data offsets) are exact.
// Value type; thread-compatible.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "messages/result.hpp"

namespace sy::gpu::json {

struct value {
  enum class type { null, boolean, number, string, array, object };
  type kind = type::null;
  bool b = false;
  std::string text; // number text or string contents
  std::vector<value> items;
  std::vector<std::pair<std::string, value>> members;

  const value* find(const std::string& key) const;
  /// The number as an exact int64, if it is an integer literal in range.
  std::optional<std::int64_t> as_int64() const;
  static value make_string(std::string s);
  static value make_int(std::int64_t v);
};

/// Parses a complete JSON document; errors name the byte offset and what was expected ("json" category).
result<value> parse(const std::string& text);
/// Compact serialization.
std::string write(const value& v);
std::string type_name(value::type t);

} // namespace sy::gpu::json
