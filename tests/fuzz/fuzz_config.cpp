// Fuzz target: the YAML deployment config (config/): parse_config and parse_model_spec on the same text.
// Paths inside resolve against a folder that does not exist, so nothing outside the input is read.
// Oracle: a config that parses prints (to_yaml) to text that parses again to the same printout.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/cluster_config.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_config: oracle failed: %s\n", what);
    std::abort();
  }
}

constexpr std::string_view base = "/nonexistent-switchyard-fuzz";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024)
    return 0; // yaml-cpp's recursion on deep nesting is not what this target tests
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = sy::config::parse_config(text, "fuzz.yaml", base);
  if (c.ok()) {
    auto printed = sy::config::to_yaml(*c);
    auto again = sy::config::parse_config(printed, "printed.yaml", base);
    check(again.ok(), "to_yaml of a valid config parses again");
    check(sy::config::to_yaml(*again) == printed, "to_yaml is a fixed point of parse_config");
  } else {
    check(!c.err().message.empty(), "a config error has a message");
  }
  auto m = sy::config::parse_model_spec(text, "model.yaml", base);
  if (!m.ok())
    check(!m.err().message.empty(), "a model spec error has a message");
  return 0;
}
