#include "config/size.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

namespace sy::config {

namespace {
struct unit {
  std::string_view name;
  double factor;
};
constexpr unit units[] = {
  {"B", 1.0},           {"KB", 1e3},          {"kB", 1e3},          {"k", 1e3},
  {"MB", 1e6},          {"GB", 1e9},          {"TB", 1e12},         {"KiB", 1024.0},
  {"MiB", 1048576.0},   {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
};
constexpr std::string_view unit_list = "B, KB, KiB, MB, MiB, GB, GiB, TB, TiB";

error size_error(std::string_view text, std::string_view why) {
  return make_error("config", "expected a positive size in bytes or with a unit (" + std::string{unit_list} +
                                  "), found \"" + std::string{text} + "\" (" + std::string{why} + ")");
}
} // namespace

result<std::int64_t> parse_size(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
    ++i;
  std::size_t end = text.size();
  while (end > i && std::isspace(static_cast<unsigned char>(text[end - 1])))
    --end;
  std::string_view s = text.substr(i, end - i);
  if (s.empty())
    return size_error(text, "empty");
  if (s.front() == '-')
    return size_error(text, "negative");
  // number: digits [. digits]
  std::size_t n = 0;
  if (n < s.size() && s[n] == '+')
    ++n;
  std::size_t digits_begin = n;
  while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n])))
    ++n;
  bool fraction = false;
  if (n < s.size() && s[n] == '.') {
    fraction = true;
    ++n;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n])))
      ++n;
  }
  std::string number{s.substr(digits_begin, n - digits_begin)};
  if (number.empty() || number == ".")
    return size_error(text, "no number");
  std::string_view suffix = s.substr(n);
  while (!suffix.empty() && suffix.front() == ' ')
    suffix.remove_prefix(1);
  double factor = 1.0;
  if (!suffix.empty()) {
    bool found = false;
    for (const auto& u : units)
      if (u.name == suffix) {
        factor = u.factor;
        found = true;
      }
    if (!found)
      return size_error(text, "unknown unit \"" + std::string{suffix} + "\"");
  }
  if (!fraction && factor == 1.0) {
    // exact integer path
    if (number.size() > 19)
      return size_error(text, "too large");
    unsigned long long v = std::strtoull(number.c_str(), nullptr, 10);
    if (v > static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max()))
      return size_error(text, "too large");
    if (v == 0)
      return size_error(text, "zero");
    return static_cast<std::int64_t>(v);
  }
  double value = std::strtod(number.c_str(), nullptr) * factor;
  if (value == 0)
    return size_error(text, "zero");
  if (!(value < 9.2e18))
    return size_error(text, "too large");
  double whole = std::round(value);
  if (std::fabs(value - whole) > 1e-3)
    return size_error(text, "not a whole number of bytes");
  return static_cast<std::int64_t>(whole);
}

std::string format_size(std::int64_t bytes) {
  constexpr std::pair<std::int64_t, std::string_view> binary[] = {
    {1LL << 40, "TiB"}, {1LL << 30, "GiB"}, {1LL << 20, "MiB"}, {1LL << 10, "KiB"}};
  if (bytes > 0)
    for (const auto& [f, name] : binary)
      if (bytes % f == 0)
        return std::to_string(bytes / f) + std::string{name};
  return std::to_string(bytes) + "B";
}

} // namespace sy::config
