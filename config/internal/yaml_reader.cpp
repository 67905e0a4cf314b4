#include "config/internal/yaml_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <utility>

#include "config/size.hpp"

namespace sy::config::internal {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string nearest(std::string_view word, const std::vector<std::string>& candidates) {
  std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string best;
  std::size_t best_d = limit + 1;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

std::string join(const std::vector<std::string>& words) {
  std::string r;
  for (const auto& w : words)
    r += (r.empty() ? "" : ", ") + w;
  return r;
}

std::string quote(std::string_view s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      r += '\\';
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    r += c;
  }
  return r + "\"";
}

yaml_reader::yaml_reader(std::string source, std::string base_dir)
  : source_(std::move(source)), base_dir_(std::move(base_dir)) {}

std::string yaml_reader::location(const std::string& path, const YAML::Mark& m) const {
  YAML::Mark mark = m;
  if (mark.is_null()) {
    // nearest remembered ancestor: strip ".key" or "[i]" suffixes
    std::string p = path;
    while (!p.empty()) {
      auto it = marks_.find(p);
      if (it != marks_.end() && !it->second.is_null()) {
        mark = it->second;
        break;
      }
      auto cut = p.find_last_of(".[");
      p = cut == std::string::npos ? std::string{} : p.substr(0, cut);
    }
  }
  if (mark.is_null())
    return source_ + ":1:1";
  return source_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

void yaml_reader::fail(const YAML::Node& n, const std::string& path, const std::string& expected,
                       const std::string& found) const {
  YAML::Mark m = n.IsDefined() ? n.Mark() : YAML::Mark::null_mark();
  throw config_failure{location(path, m) + ": " + (path.empty() ? "(document)" : path) + ": expected " + expected +
                       ", found " + found};
}

void yaml_reader::fail_at(const std::string& path, const std::string& expected, const std::string& found) const {
  throw config_failure{location(path, YAML::Mark::null_mark()) + ": " + (path.empty() ? "(document)" : path) +
                       ": expected " + expected + ", found " + found};
}

int yaml_reader::line_of(const std::string& path) const {
  auto it = marks_.find(path);
  return it == marks_.end() || it->second.is_null() ? 0 : it->second.line + 1;
}

std::string yaml_reader::describe(const YAML::Node& n) {
  if (!n.IsDefined())
    return "nothing (key missing)";
  switch (n.Type()) {
    case YAML::NodeType::Null: return "nothing (null)";
    case YAML::NodeType::Scalar: return quote(n.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "nothing";
  }
}

void yaml_reader::remember(const std::string& path, const YAML::Node& n) {
  if (n.IsDefined())
    marks_[path] = n.Mark();
}

void yaml_reader::expect_any_map(const YAML::Node& n, const std::string& path, const std::string& what) {
  if (!n.IsMap())
    fail(n, path, what, describe(n));
  remember(path, n);
  std::set<std::string> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar())
      fail(it->first, path, "scalar keys in " + what, describe(it->first) + " as a key");
    const std::string& key = it->first.Scalar();
    if (!seen.insert(key).second)
      fail(it->first, at(path, key), "each key once", quote(key) + " again");
    remember(at(path, key), it->second.IsNull() ? it->first : it->second);
  }
}

void yaml_reader::expect_map(const YAML::Node& n, const std::string& path,
                             std::initializer_list<std::string_view> allowed, const std::string& what) {
  expect_any_map(n, path, what);
  std::vector<std::string> keys(allowed.begin(), allowed.end());
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string& key = it->first.Scalar();
    if (std::find(keys.begin(), keys.end(), key) != keys.end())
      continue;
    std::string hint = nearest(key, keys);
    fail(it->first, at(path, key), "a key of " + what + " (one of: " + join(keys) + ")",
         "unknown key " + quote(key) + (hint.empty() ? "" : " (did you mean " + quote(hint) + "?)"));
  }
}

void yaml_reader::expect_list(const YAML::Node& n, const std::string& path, const std::string& what) {
  if (!n.IsSequence())
    fail(n, path, what, describe(n));
  remember(path, n);
  for (std::size_t i = 0; i < n.size(); ++i)
    remember(at(path, i), n[i]);
}

YAML::Node yaml_reader::child(const YAML::Node& m, const std::string& path, std::string_view key) {
  const YAML::Node& cm = m;
  YAML::Node c = cm[std::string{key}];
  return c;
}

YAML::Node yaml_reader::require(const YAML::Node& m, const std::string& path, std::string_view key,
                                const std::string& what) {
  YAML::Node c = child(m, path, key);
  if (!c.IsDefined())
    fail(m, at(path, key), what, "nothing (key missing)");
  if (c.IsNull())
    fail(c, at(path, key), what, "nothing (null)");
  return c;
}

std::string yaml_reader::as_string(const YAML::Node& n, const std::string& path, const std::string& what) {
  if (!n.IsScalar() || n.Scalar().empty())
    fail(n, path, what, describe(n));
  return n.Scalar();
}

namespace {
bool parse_int(const std::string& s, std::int64_t& out) {
  if (s.empty())
    return false;
  std::size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size())
    return false;
  for (std::size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9')
      return false;
  errno = 0;
  long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno == ERANGE)
    return false;
  out = v;
  return true;
}
} // namespace

std::int64_t yaml_reader::as_int(const YAML::Node& n, const std::string& path, std::int64_t min, std::int64_t max,
                                 const std::string& what) {
  std::int64_t v = 0;
  if (!n.IsScalar() || !parse_int(n.Scalar(), v) || v < min || v > max)
    fail(n, path, what, describe(n));
  return v;
}

double yaml_reader::as_number(const YAML::Node& n, const std::string& path, double min_exclusive,
                              const std::string& what) {
  if (!n.IsScalar())
    fail(n, path, what, describe(n));
  const std::string& s = n.Scalar();
  char* end = nullptr;
  double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || !(v > min_exclusive))
    fail(n, path, what, describe(n));
  return v;
}

bool yaml_reader::as_bool(const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE")
      return true;
    if (s == "false" || s == "False" || s == "FALSE")
      return false;
  }
  fail(n, path, "true or false", describe(n));
}

std::int64_t yaml_reader::as_size(const YAML::Node& n, const std::string& path) {
  static const std::string what = "a positive size in bytes or with a unit (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)";
  if (!n.IsScalar())
    fail(n, path, what, describe(n));
  auto r = parse_size(n.Scalar());
  if (!r.ok()) {
    // parse_size says "expected ..., found "x" (why)": keep its found part
    const std::string& m = r.err().message;
    auto cut = m.find(", found ");
    fail(n, path, what, cut == std::string::npos ? describe(n) : m.substr(cut + 8));
  }
  return *r;
}

std::uint16_t yaml_reader::as_port(const YAML::Node& n, const std::string& path) {
  return static_cast<std::uint16_t>(as_int(n, path, 0, 65535, "a port number 0..65535 (0: any free port)"));
}

std::pair<std::string, std::uint16_t> yaml_reader::as_address(const YAML::Node& n, const std::string& path) {
  static const std::string what = "an address host:port with a port 0..65535";
  if (!n.IsScalar())
    fail(n, path, what, describe(n));
  const std::string& s = n.Scalar();
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    fail(n, path, what, describe(n));
  std::string host = s.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3)
      fail(n, path, what, describe(n));
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    fail(n, path, what + " (IPv6 hosts in brackets)", describe(n));
  }
  std::int64_t port = 0;
  if (!parse_int(s.substr(colon + 1), port) || port < 0 || port > 65535)
    fail(n, path, what, describe(n));
  return {host, static_cast<std::uint16_t>(port)};
}

std::string yaml_reader::as_path(const YAML::Node& n, const std::string& path) {
  std::filesystem::path p{as_string(n, path, "a file path")};
  if (p.is_relative() && !base_dir_.empty())
    p = std::filesystem::path{base_dir_} / p;
  return p.lexically_normal().string();
}

} // namespace sy::config::internal
