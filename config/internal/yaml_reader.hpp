#pragma once
// Private to sy_config. yaml_reader: typed, located reads of a yaml-cpp tree. Every failure throws
// config_failure whose message already has the public form
//   <source>:<line>:<column>: <key path>: expected <what>, found <what>
// The exception never leaves sy_config: the public loaders catch it and return a sy::error.
// One reader per load; not thread-safe (it remembers the marks of the nodes it visited).
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace sy::config::internal {

struct config_failure {
  std::string message;
};

/// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);
/// The candidate nearest to `word` if it is a near miss (distance <= max(1, |word|/3)), else empty.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);
/// "a, b, c"
std::string join(const std::vector<std::string>& words);
/// `"text"` with quotes and escapes, as shown in messages.
std::string quote(std::string_view s);

class yaml_reader {
public:
  yaml_reader(std::string source, std::string base_dir);

  const std::string& source() const { return source_; }

  /// Throws with the mark of `n` (or of the nearest remembered parent of `path` when `n` has none).
  [[noreturn]] void fail(const YAML::Node& n, const std::string& path, const std::string& expected,
                         const std::string& found) const;
  /// Throws with the mark remembered for `path` (or its nearest remembered parent).
  [[noreturn]] void fail_at(const std::string& path, const std::string& expected, const std::string& found) const;
  /// "1:1" style location of a remembered path, for "first at line N" notes; 0 when unknown.
  int line_of(const std::string& path) const;

  /// What a node is, for "found ...": the quoted scalar, "a mapping", "a list", "nothing (null)".
  static std::string describe(const YAML::Node& n);

  /// Checks that `n` is a mapping whose keys are all in `allowed` and appear once; remembers its mark.
  /// An unknown key fails with a "did you mean" suggestion when it is a near miss.
  void expect_map(const YAML::Node& n, const std::string& path, std::initializer_list<std::string_view> allowed,
                  const std::string& what);
  /// The same without a key check (free parameter maps); still rejects duplicate keys.
  void expect_any_map(const YAML::Node& n, const std::string& path, const std::string& what);
  void expect_list(const YAML::Node& n, const std::string& path, const std::string& what);

  /// The child `key` of mapping `m` (undefined if absent); remembers its mark under path.key.
  YAML::Node child(const YAML::Node& m, const std::string& path, std::string_view key);
  /// The same, failing "expected <what>, found nothing (key missing)" at the mapping when absent.
  YAML::Node require(const YAML::Node& m, const std::string& path, std::string_view key, const std::string& what);
  static bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

  std::string as_string(const YAML::Node& n, const std::string& path, const std::string& what);
  std::int64_t as_int(const YAML::Node& n, const std::string& path, std::int64_t min, std::int64_t max,
                      const std::string& what);
  double as_number(const YAML::Node& n, const std::string& path, double min_exclusive, const std::string& what);
  bool as_bool(const YAML::Node& n, const std::string& path);
  /// A byte size: a positive integer, or a number with a unit (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB).
  std::int64_t as_size(const YAML::Node& n, const std::string& path);
  std::uint16_t as_port(const YAML::Node& n, const std::string& path);
  /// "host:port" (IPv6 hosts in brackets).
  std::pair<std::string, std::uint16_t> as_address(const YAML::Node& n, const std::string& path);
  /// A file path, resolved against the base folder when relative.
  std::string as_path(const YAML::Node& n, const std::string& path);

  void remember(const std::string& path, const YAML::Node& n);
  /// "<source>:<line>:<column>" of `n` (or of the nearest remembered parent of `path`).
  std::string where(const YAML::Node& n, const std::string& path) const { return location(path, n.Mark()); }

private:
  std::string location(const std::string& path, const YAML::Mark& m) const;

  std::string source_;
  std::string base_dir_;
  std::map<std::string, YAML::Mark> marks_;
};

/// "models[2]" / "models[2].slo_ms"
inline std::string at(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }
inline std::string at(const std::string& path, std::string_view key) {
  return path.empty() ? std::string{key} : path + "." + std::string{key};
}

} // namespace sy::config::internal
