#include "messages/json.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace sy::json {

value::value(std::int64_t i) : kind_(kind::number), num_(static_cast<double>(i)), str_(std::to_string(i)) {}

value value::make_number(double d, std::string text) {
  value v{d};
  v.str_ = std::move(text);
  return v;
}

std::optional<std::int64_t> value::as_int64() const {
  if (kind_ != kind::number)
    return std::nullopt;
  if (str_.empty()) { // a computed number: exact only when integral and in the range doubles hold exactly
    if (num_ == std::floor(num_) && std::fabs(num_) <= 9007199254740992.0)
      return static_cast<std::int64_t>(num_);
    return std::nullopt;
  }
  for (std::size_t i = 0; i < str_.size(); ++i)
    if (!((str_[i] >= '0' && str_[i] <= '9') || (i == 0 && str_[i] == '-')))
      return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(str_.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0')
    return std::nullopt;
  return static_cast<std::int64_t>(v);
}

const value* value::get(std::string_view key) const {
  if (kind_ != kind::object)
    return nullptr;
  for (const auto& [k, v] : obj_)
    if (k == key)
      return &v;
  return nullptr;
}

value& value::set(std::string key, value v) {
  obj_.emplace_back(std::move(key), std::move(v));
  return *this;
}

value& value::push(value v) {
  arr_.push_back(std::move(v));
  return *this;
}

const char* kind_name(value::kind k) {
  switch (k) {
    case value::kind::null: return "null";
    case value::kind::boolean: return "boolean";
    case value::kind::number: return "number";
    case value::kind::string: return "string";
    case value::kind::array: return "array";
    case value::kind::object: return "object";
  }
  return "?";
}

namespace {

class parser {
public:
  parser(std::string_view t, int max_depth) : t_(t), max_depth_(max_depth) {}

  result<value> document() {
    auto v = any(0);
    if (!v)
      return v;
    skip_ws();
    if (pos_ != t_.size())
      return fail("the end of the document");
    return v;
  }

private:
  std::string_view t_;
  int max_depth_;
  std::size_t pos_ = 0;

  error fail(const std::string& expected) const { return fail_at(pos_, expected); }
  error fail_at(std::size_t at, const std::string& expected) const {
    int line = 1, col = 1;
    for (std::size_t i = 0; i < at && i < t_.size(); ++i) {
      if (t_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string found = "end of input";
    if (at < t_.size()) {
      auto c = static_cast<unsigned char>(t_[at]);
      char buf[16];
      if (c < 0x20 || c >= 0x7f)
        std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
      else
        std::snprintf(buf, sizeof buf, "'%c'", c);
      found = buf;
    }
    return make_error("json", "line " + std::to_string(line) + ", column " + std::to_string(col) + " (byte " +
                                  std::to_string(at) + "): expected " + expected + ", found " + found);
  }
  void skip_ws() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (t_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return true;
    }
    return false;
  }

  result<value> any(int depth) {
    if (depth > max_depth_)
      return fail("at most " + std::to_string(max_depth_) + " levels of nesting");
    skip_ws();
    if (pos_ >= t_.size())
      return fail("a value");
    char c = t_[pos_];
    if (c == '{')
      return object(depth);
    if (c == '[')
      return array(depth);
    if (c == '"') {
      auto s = string();
      if (!s)
        return s.err();
      return value{std::move(*s)};
    }
    if (literal("true"))
      return value{true};
    if (literal("false"))
      return value{false};
    if (literal("null"))
      return value{};
    if (c == '-' || (c >= '0' && c <= '9'))
      return number();
    return fail("a value");
  }

  result<value> number() {
    std::size_t start = pos_;
    if (t_[pos_] == '-')
      ++pos_;
    auto digits = [&] {
      std::size_t s = pos_;
      while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9')
        ++pos_;
      return pos_ > s;
    };
    if (!digits())
      return fail("digits in a number");
    if (pos_ < t_.size() && t_[pos_] == '.') {
      ++pos_;
      if (!digits())
        return fail("digits after the decimal point");
    }
    if (pos_ < t_.size() && (t_[pos_] == 'e' || t_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < t_.size() && (t_[pos_] == '+' || t_[pos_] == '-'))
        ++pos_;
      if (!digits())
        return fail("digits in the exponent");
    }
    std::string s{t_.substr(start, pos_ - start)};
    double d = std::strtod(s.c_str(), nullptr);
    return value::make_number(d, std::move(s));
  }

  result<unsigned> hex4() {
    if (pos_ + 4 > t_.size())
      return fail("4 hex digits after \\u");
    unsigned cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = t_[pos_];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= static_cast<unsigned>(h - 'A' + 10);
      else
        return fail("a hex digit in a \\u escape");
      ++pos_;
    }
    return cp;
  }

  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  result<std::string> string() {
    ++pos_; // opening quote
    std::string out;
    while (true) {
      if (pos_ >= t_.size())
        return fail("'\"' closing the string");
      char c = t_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20)
        return fail("no control character inside a string");
      ++pos_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= t_.size())
        return fail("an escape character");
      char e = t_[pos_];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          ++pos_;
          auto cp = hex4();
          if (!cp)
            return cp.err();
          unsigned code = *cp;
          if (code >= 0xD800 && code < 0xDC00) { // a high surrogate must be followed by a low one
            if (!literal("\\u"))
              return fail("a low surrogate \\uDC00-\\uDFFF after a high surrogate");
            auto lo = hex4();
            if (!lo)
              return lo.err();
            if (*lo < 0xDC00 || *lo > 0xDFFF)
              return fail_at(pos_ - 4, "a low surrogate \\uDC00-\\uDFFF after a high surrogate");
            code = 0x10000 + ((code - 0xD800) << 10) + (*lo - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            return fail_at(pos_ - 4, "a high surrogate before a low surrogate");
          }
          utf8(out, code);
          continue; // pos_ is past the escape already
        }
        default: return fail("one of the escapes \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
      }
      ++pos_;
    }
  }

  result<value> array(int depth) {
    ++pos_;
    auto arr = value::make_array();
    skip_ws();
    if (pos_ < t_.size() && t_[pos_] == ']') {
      ++pos_;
      return arr;
    }
    while (true) {
      auto v = any(depth + 1);
      if (!v)
        return v;
      arr.push(std::move(*v));
      skip_ws();
      if (pos_ < t_.size() && t_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < t_.size() && t_[pos_] == ']') {
        ++pos_;
        return arr;
      }
      return fail("',' or ']' in an array");
    }
  }

  result<value> object(int depth) {
    ++pos_;
    auto obj = value::make_object();
    skip_ws();
    if (pos_ < t_.size() && t_[pos_] == '}') {
      ++pos_;
      return obj;
    }
    while (true) {
      skip_ws();
      if (pos_ >= t_.size() || t_[pos_] != '"')
        return fail("a member name in double quotes");
      auto key = string();
      if (!key)
        return key.err();
      skip_ws();
      if (pos_ >= t_.size() || t_[pos_] != ':')
        return fail("':' after the member name \"" + *key + "\"");
      ++pos_;
      auto v = any(depth + 1);
      if (!v)
        return v;
      obj.set(std::move(*key), std::move(*v));
      skip_ws();
      if (pos_ < t_.size() && t_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < t_.size() && t_[pos_] == '}') {
        ++pos_;
        return obj;
      }
      return fail("',' or '}' in an object");
    }
  }
};

void write_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void write_number(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  if (d == std::floor(d) && std::fabs(d) < 9.0e15) {
    if (d == 0)
      d = 0.0; // -0 as "0": "-0" would read back as the integer 0 (found by the http_json fuzz target)
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", d);
    out += buf;
  } else {
    out += fmt::format("{}", d); // the shortest text that reads back as the same double
  }
}

bool scalar(const value& v) {
  return !v.is_array() && !v.is_object();
}

void write_to(std::string& out, const value& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent >= 0) {
      out += '\n';
      out.append(static_cast<std::size_t>(indent * lvl), ' ');
    }
  };
  switch (v.type()) {
    case value::kind::null: out += "null"; break;
    case value::kind::boolean: out += v.as_bool() ? "true" : "false"; break;
    case value::kind::number:
      if (auto i = v.as_int64())
        out += std::to_string(*i); // exact, also beyond 2^53
      else
        write_number(out, v.as_number());
      break;
    case value::kind::string: write_string(out, v.as_string()); break;
    case value::kind::array: {
      bool flat = true;
      for (const auto& e : v.as_array())
        flat = flat && scalar(e);
      out += '[';
      bool first = true;
      for (const auto& e : v.as_array()) {
        if (!first)
          out += flat && indent >= 0 ? ", " : ",";
        first = false;
        if (!flat)
          newline(level + 1);
        write_to(out, e, indent, level + 1);
      }
      if (!flat && !v.as_array().empty())
        newline(level);
      out += ']';
      break;
    }
    case value::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.as_object()) {
        if (!first)
          out += ',';
        first = false;
        newline(level + 1);
        write_string(out, k);
        out += indent >= 0 ? ": " : ":";
        write_to(out, e, indent, level + 1);
      }
      if (!v.as_object().empty())
        newline(level);
      out += '}';
      break;
    }
  }
}

} // namespace

result<value> parse(std::string_view text, int max_depth) {
  return parser{text, max_depth}.document();
}

std::string write(const value& v, int indent) {
  std::string out;
  write_to(out, v, indent, 0);
  return out;
}

std::string quote(std::string_view s) {
  std::string out;
  write_string(out, s);
  return out;
}

std::string number(double v) {
  std::string out;
  write_number(out, v);
  return out;
}

} // namespace sy::json
