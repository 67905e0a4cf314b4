#pragma once
// A small JSON reader and string escaper for the HTTP ingress and the replay outputs (Debian 12 ships no
// C++ JSON library in our stack). Reads RFC 8259 JSON into a json_value tree; errors name the byte offset
// and what was expected. Value types; any thread.
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "messages/result.hpp"

namespace sy::actors {

struct json_value {
  enum kind_t { null, boolean, number, string, array, object } kind = null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<json_value> items;
  std::map<std::string, json_value> members;

  const json_value* find(const std::string& key) const {
    auto it = members.find(key);
    return it == members.end() ? nullptr : &it->second;
  }
  const char* kind_name() const;
};

/// Parses a whole document (max nesting depth 32).
result<json_value> parse_json(std::string_view text);

/// `"..."` with JSON escapes.
std::string json_quote(std::string_view s);

/// A number as JSON (non-finite values become null).
std::string json_number(double v);

} // namespace sy::actors
