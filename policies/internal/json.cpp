#include "policies/internal/json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace sy::policies::internal {

const json_value* json_value::get(const std::string& key) const {
  if (kind_ != kind::object)
    return nullptr;
  for (const auto& [k, v] : obj_)
    if (k == key)
      return &v;
  return nullptr;
}

json_value& json_value::set(std::string key, json_value v) {
  obj_.emplace_back(std::move(key), std::move(v));
  return *this;
}

json_value& json_value::push(json_value v) {
  arr_.push_back(std::move(v));
  return *this;
}

const char* kind_name(json_value::kind k) {
  switch (k) {
    case json_value::kind::null: return "null";
    case json_value::kind::boolean: return "boolean";
    case json_value::kind::number: return "number";
    case json_value::kind::string: return "string";
    case json_value::kind::array: return "array";
    case json_value::kind::object: return "object";
  }
  return "?";
}

namespace {

class parser {
public:
  explicit parser(const std::string& t) : t_(t) {}

  result<json_value> document() {
    auto v = value(0);
    if (!v)
      return v;
    skip_ws();
    if (pos_ != t_.size())
      return fail("unexpected trailing characters after the JSON document");
    return v;
  }

private:
  const std::string& t_;
  std::size_t pos_ = 0;

  error fail(const std::string& what) const {
    int line = 1, col = 1;
    for (std::size_t i = 0; i < pos_ && i < t_.size(); ++i) {
      if (t_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return make_error("json", "line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + what);
  }
  std::string found() const {
    if (pos_ >= t_.size())
      return "end of input";
    return std::string{"'"} + t_[pos_] + "'";
  }
  void skip_ws() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(const char* word) {
    std::size_t n = std::char_traits<char>::length(word);
    if (t_.compare(pos_, n, word) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }

  result<json_value> value(int depth) {
    if (depth > 64)
      return fail("nesting deeper than 64 levels");
    skip_ws();
    if (pos_ >= t_.size())
      return fail("expected a value, found end of input");
    char c = t_[pos_];
    if (c == '{')
      return object(depth);
    if (c == '[')
      return array(depth);
    if (c == '"') {
      auto s = string();
      if (!s)
        return s.err();
      return json_value{std::move(*s)};
    }
    if (literal("true"))
      return json_value{true};
    if (literal("false"))
      return json_value{false};
    if (literal("null"))
      return json_value{};
    if (c == '-' || (c >= '0' && c <= '9'))
      return number();
    return fail("expected a value, found " + found());
  }

  result<json_value> number() {
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
      return fail("expected digits in a number, found " + found());
    if (pos_ < t_.size() && t_[pos_] == '.') {
      ++pos_;
      if (!digits())
        return fail("expected digits after the decimal point, found " + found());
    }
    if (pos_ < t_.size() && (t_[pos_] == 'e' || t_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < t_.size() && (t_[pos_] == '+' || t_[pos_] == '-'))
        ++pos_;
      if (!digits())
        return fail("expected digits in the exponent, found " + found());
    }
    std::string s = t_.substr(start, pos_ - start);
    return json_value{std::strtod(s.c_str(), nullptr)};
  }

  result<std::string> string() {
    ++pos_; // opening quote
    std::string out;
    while (true) {
      if (pos_ >= t_.size())
        return fail("unterminated string");
      char c = t_[pos_++];
      if (c == '"')
        return out;
      if (static_cast<unsigned char>(c) < 0x20) {
        --pos_;
        return fail("control character inside a string");
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= t_.size())
        return fail("unterminated escape sequence");
      char e = t_[pos_++];
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
          if (pos_ + 4 > t_.size())
            return fail("truncated \\u escape");
          unsigned cp = 0;
          for (int i = 0; i < 4; ++i) {
            char h = t_[pos_++];
            cp <<= 4;
            if (h >= '0' && h <= '9')
              cp |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f')
              cp |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
              cp |= static_cast<unsigned>(h - 'A' + 10);
            else
              return fail("bad hex digit in \\u escape");
          }
          // UTF-8 encode (surrogate pairs are passed through as separate code points)
          if (cp < 0x80) {
            out += static_cast<char>(cp);
          } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
          break;
        }
        default: --pos_; return fail(std::string{"unknown escape '\\"} + e + "'");
      }
    }
  }

  result<json_value> array(int depth) {
    ++pos_;
    auto arr = json_value::make_array();
    skip_ws();
    if (pos_ < t_.size() && t_[pos_] == ']') {
      ++pos_;
      return arr;
    }
    while (true) {
      auto v = value(depth + 1);
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
      return fail("expected ',' or ']' in an array, found " + found());
    }
  }

  result<json_value> object(int depth) {
    ++pos_;
    auto obj = json_value::make_object();
    skip_ws();
    if (pos_ < t_.size() && t_[pos_] == '}') {
      ++pos_;
      return obj;
    }
    while (true) {
      skip_ws();
      if (pos_ >= t_.size() || t_[pos_] != '"')
        return fail("expected a member name in double quotes, found " + found());
      auto key = string();
      if (!key)
        return key.err();
      skip_ws();
      if (pos_ >= t_.size() || t_[pos_] != ':')
        return fail("expected ':' after member name \"" + *key + "\", found " + found());
      ++pos_;
      auto v = value(depth + 1);
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
      return fail("expected ',' or '}' in an object, found " + found());
    }
  }
};

void write_string(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
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
    out += "null"; // JSON has no inf/nan
    return;
  }
  char buf[32];
  if (d == std::floor(d) && std::fabs(d) < 9.0e15)
    std::snprintf(buf, sizeof buf, "%.0f", d);
  else
    std::snprintf(buf, sizeof buf, "%.17g", d);
  out += buf;
}

bool scalar(const json_value& v) {
  return !v.is_array() && !v.is_object();
}

void write(std::string& out, const json_value& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent >= 0) {
      out += '\n';
      out.append(static_cast<std::size_t>(indent * lvl), ' ');
    }
  };
  switch (v.type()) {
    case json_value::kind::null: out += "null"; break;
    case json_value::kind::boolean: out += v.as_bool() ? "true" : "false"; break;
    case json_value::kind::number: write_number(out, v.as_number()); break;
    case json_value::kind::string: write_string(out, v.as_string()); break;
    case json_value::kind::array: {
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
        write(out, e, indent, level + 1);
      }
      if (!flat && !v.as_array().empty())
        newline(level);
      out += ']';
      break;
    }
    case json_value::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.as_object()) {
        if (!first)
          out += ',';
        first = false;
        newline(level + 1);
        write_string(out, k);
        out += indent >= 0 ? ": " : ":";
        write(out, e, indent, level + 1);
      }
      if (!v.as_object().empty())
        newline(level);
      out += '}';
      break;
    }
  }
}

} // namespace

result<json_value> parse_json(const std::string& text) {
  return parser{text}.document();
}

std::string write_json(const json_value& v, int indent) {
  std::string out;
  write(out, v, indent, 0);
  return out;
}

} // namespace sy::policies::internal
