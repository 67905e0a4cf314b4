#include "gpu/internal/json.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace sy::gpu::json {

const value* value::find(const std::string& key) const {
  for (const auto& [k, v] : members)
    if (k == key)
      return &v;
  return nullptr;
}

std::optional<std::int64_t> value::as_int64() const {
  if (kind != type::number || text.empty())
    return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i)
    if (!(std::isdigit(static_cast<unsigned char>(text[i])) || (i == 0 && text[i] == '-')))
      return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0')
    return std::nullopt;
  return static_cast<std::int64_t>(v);
}

value value::make_string(std::string s) {
  value v;
  v.kind = type::string;
  v.text = std::move(s);
  return v;
}

value value::make_int(std::int64_t i) {
  value v;
  v.kind = type::number;
  v.text = std::to_string(i);
  return v;
}

std::string type_name(value::type t) {
  switch (t) {
    case value::type::null: return "null";
    case value::type::boolean: return "a boolean";
    case value::type::number: return "a number";
    case value::type::string: return "a string";
    case value::type::array: return "an array";
    case value::type::object: return "an object";
  }
  return "?";
}

namespace {

constexpr int max_depth = 64;

struct parser {
  const std::string& s;
  std::size_t pos = 0;
  std::string err;

  bool fail(const std::string& what) {
    if (err.empty()) {
      std::string found = pos < s.size() ? "'" + std::string(1, s[pos]) + "'" : "end of input";
      err = "bad JSON at byte " + std::to_string(pos) + ": expected " + what + ", found " + found;
    }
    return false;
  }
  void ws() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
      ++pos;
  }
  bool lit(const char* word, value& out, value::type t, bool b) {
    std::string w{word};
    if (s.compare(pos, w.size(), w) != 0)
      return fail("a JSON value");
    pos += w.size();
    out.kind = t;
    out.b = b;
    return true;
  }
  bool hex4(unsigned& cp) {
    if (pos + 4 > s.size())
      return fail("4 hex digits");
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s[pos++];
      cp <<= 4;
      if (c >= '0' && c <= '9') cp |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') cp |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') cp |= static_cast<unsigned>(c - 'A' + 10);
      else { --pos; return fail("a hex digit"); }
    }
    return true;
  }
  static void utf8(std::string& o, unsigned cp) {
    if (cp < 0x80) {
      o += static_cast<char>(cp);
    } else if (cp < 0x800) {
      o += static_cast<char>(0xC0 | (cp >> 6));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      o += static_cast<char>(0xE0 | (cp >> 12));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      o += static_cast<char>(0xF0 | (cp >> 18));
      o += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool str(std::string& o) {
    if (pos >= s.size() || s[pos] != '"')
      return fail("'\"'");
    ++pos;
    while (pos < s.size()) {
      char c = s[pos++];
      if (c == '"')
        return true;
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos;
        return fail("a printable character in a string");
      }
      if (c != '\\') {
        o += c;
        continue;
      }
      if (pos >= s.size())
        return fail("an escape character");
      char e = s[pos++];
      switch (e) {
        case '"': o += '"'; break;
        case '\\': o += '\\'; break;
        case '/': o += '/'; break;
        case 'b': o += '\b'; break;
        case 'f': o += '\f'; break;
        case 'n': o += '\n'; break;
        case 'r': o += '\r'; break;
        case 't': o += '\t'; break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(cp))
            return false;
          if (cp >= 0xD800 && cp < 0xDC00 && pos + 1 < s.size() && s[pos] == '\\' && s[pos + 1] == 'u') {
            pos += 2;
            unsigned lo = 0;
            if (!hex4(lo))
              return false;
            if (lo < 0xDC00 || lo > 0xDFFF)
              return fail("a low surrogate \\uDC00-\\uDFFF");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(o, cp);
          break;
        }
        default: --pos; return fail("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
      }
    }
    return fail("a closing '\"'");
  }
  bool num(value& out) {
    std::size_t start = pos;
    if (pos < s.size() && s[pos] == '-')
      ++pos;
    auto digits = [&] {
      std::size_t b = pos;
      while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])))
        ++pos;
      return pos > b;
    };
    if (!digits())
      return fail("a digit");
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      if (!digits())
        return fail("a digit after '.'");
    }
    if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
      ++pos;
      if (pos < s.size() && (s[pos] == '+' || s[pos] == '-'))
        ++pos;
      if (!digits())
        return fail("an exponent");
    }
    out.kind = value::type::number;
    out.text = s.substr(start, pos - start);
    return true;
  }
  bool val(value& out, int depth) {
    if (depth > max_depth)
      return fail("nesting of at most 64 levels");
    ws();
    if (pos >= s.size())
      return fail("a JSON value");
    char c = s[pos];
    if (c == '{') {
      ++pos;
      out.kind = value::type::object;
      ws();
      if (pos < s.size() && s[pos] == '}') {
        ++pos;
        return true;
      }
      for (;;) {
        ws();
        std::string key;
        if (!str(key))
          return false;
        ws();
        if (pos >= s.size() || s[pos] != ':')
          return fail("':'");
        ++pos;
        value v;
        if (!val(v, depth + 1))
          return false;
        out.members.emplace_back(std::move(key), std::move(v));
        ws();
        if (pos < s.size() && s[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < s.size() && s[pos] == '}') {
          ++pos;
          return true;
        }
        return fail("',' or '}'");
      }
    }
    if (c == '[') {
      ++pos;
      out.kind = value::type::array;
      ws();
      if (pos < s.size() && s[pos] == ']') {
        ++pos;
        return true;
      }
      for (;;) {
        value v;
        if (!val(v, depth + 1))
          return false;
        out.items.push_back(std::move(v));
        ws();
        if (pos < s.size() && s[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < s.size() && s[pos] == ']') {
          ++pos;
          return true;
        }
        return fail("',' or ']'");
      }
    }
    if (c == '"') {
      out.kind = value::type::string;
      return str(out.text);
    }
    if (c == 't')
      return lit("true", out, value::type::boolean, true);
    if (c == 'f')
      return lit("false", out, value::type::boolean, false);
    if (c == 'n')
      return lit("null", out, value::type::null, false);
    return num(out);
  }
};

void write_string(std::string& o, const std::string& s) {
  o += '"';
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          o += buf;
        } else {
          o += c;
        }
    }
  }
  o += '"';
}

void write_value(std::string& o, const value& v) {
  switch (v.kind) {
    case value::type::null: o += "null"; break;
    case value::type::boolean: o += v.b ? "true" : "false"; break;
    case value::type::number: o += v.text; break;
    case value::type::string: write_string(o, v.text); break;
    case value::type::array:
      o += '[';
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i)
          o += ',';
        write_value(o, v.items[i]);
      }
      o += ']';
      break;
    case value::type::object:
      o += '{';
      for (std::size_t i = 0; i < v.members.size(); ++i) {
        if (i)
          o += ',';
        write_string(o, v.members[i].first);
        o += ':';
        write_value(o, v.members[i].second);
      }
      o += '}';
      break;
  }
}

} // namespace

result<value> parse(const std::string& text) {
  parser p{text, 0, {}};
  value v;
  if (!p.val(v, 0))
    return make_error("json", p.err);
  p.ws();
  if (p.pos != text.size()) {
    p.fail("end of input after the JSON value");
    return make_error("json", p.err);
  }
  return v;
}

std::string write(const value& v) {
  std::string o;
  write_value(o, v);
  return o;
}

} // namespace sy::gpu::json
