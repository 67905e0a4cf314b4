#include "actors/json.hpp"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace sy::actors {
namespace {

struct parser {
  std::string_view s;
  std::size_t i = 0;
  std::string err;

  bool fail(const std::string& what) {
    if (err.empty()) {
      std::string found = i < s.size() ? fmt::format("'{}'", s[i]) : "end of input";
      err = fmt::format("at byte {}: expected {}, found {}", i, what, found);
    }
    return false;
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
      ++i;
  }
  bool lit(std::string_view w) {
    if (s.substr(i, w.size()) != w)
      return fail(fmt::format("'{}'", w));
    i += w.size();
    return true;
  }
  bool str(std::string& out) {
    if (i >= s.size() || s[i] != '"')
      return fail("'\"'");
    ++i;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (static_cast<unsigned char>(c) < 0x20)
        return --i, fail("no control character inside a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i >= s.size())
        return fail("an escape");
      char e = s[i++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (i + 4 > s.size())
            return fail("4 hex digits");
          unsigned cp = 0;
          for (int k = 0; k < 4; ++k) {
            char h = s[i++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= unsigned(h - '0');
            else if (h >= 'a' && h <= 'f') cp |= unsigned(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') cp |= unsigned(h - 'A' + 10);
            else return --i, fail("a hex digit");
          }
          // UTF-8 encode (surrogate pairs are kept as separate code points; names here are ASCII).
          if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          } else {
            out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
          }
          break;
        }
        default: return --i, fail("a valid escape");
      }
    }
    if (i >= s.size())
      return fail("'\"' closing the string");
    ++i;
    return true;
  }
  bool number(double& out) {
    std::size_t start = i;
    if (i < s.size() && s[i] == '-')
      ++i;
    if (i >= s.size() || !(s[i] >= '0' && s[i] <= '9'))
      return fail("a digit");
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                            s[i] == '+' || s[i] == '-'))
      ++i;
    std::string tok(s.substr(start, i - start));
    char* end = nullptr;
    out = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size()) {
      i = start;
      return fail("a number");
    }
    return true;
  }
  bool value(json_value& v, int depth) {
    if (depth > 32)
      return fail("nesting depth at most 32");
    ws();
    if (i >= s.size())
      return fail("a value");
    char c = s[i];
    if (c == '{') {
      v.kind = json_value::object;
      ++i;
      ws();
      if (i < s.size() && s[i] == '}')
        return ++i, true;
      for (;;) {
        ws();
        std::string key;
        if (!str(key))
          return false;
        ws();
        if (i >= s.size() || s[i] != ':')
          return fail("':'");
        ++i;
        json_value m;
        if (!value(m, depth + 1))
          return false;
        v.members[key] = std::move(m);
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == '}')
          return ++i, true;
        return fail("',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = json_value::array;
      ++i;
      ws();
      if (i < s.size() && s[i] == ']')
        return ++i, true;
      for (;;) {
        json_value m;
        if (!value(m, depth + 1))
          return false;
        v.items.push_back(std::move(m));
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == ']')
          return ++i, true;
        return fail("',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = json_value::string;
      return str(v.str);
    }
    if (c == 't') {
      v.kind = json_value::boolean;
      v.b = true;
      return lit("true");
    }
    if (c == 'f') {
      v.kind = json_value::boolean;
      return lit("false");
    }
    if (c == 'n')
      return lit("null");
    v.kind = json_value::number;
    return number(v.num);
  }
};

} // namespace

const char* json_value::kind_name() const {
  switch (kind) {
    case null: return "null";
    case boolean: return "boolean";
    case number: return "number";
    case string: return "string";
    case array: return "array";
    case object: return "object";
  }
  return "unknown";
}

result<json_value> parse_json(std::string_view text) {
  parser p;
  p.s = text;
  json_value v;
  if (!p.value(v, 0))
    return make_error("json", p.err);
  p.ws();
  if (p.i != text.size()) {
    p.fail("end of input");
    return make_error("json", p.err);
  }
  return v;
}

std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          out.push_back(c);
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v))
    return "null";
  return fmt::format("{}", v);
}

} // namespace sy::actors
