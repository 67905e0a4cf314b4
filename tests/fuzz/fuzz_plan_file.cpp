// Fuzz target: plan files (policies/placement/plan_file). Oracle: a plan that parses prints (to_yaml) to
// text that parses again to the same printout.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "policies/placement/plan_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024)
    return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  auto p = sy::policies::parse_plan(text, "fuzz.plan.yaml");
  if (!p.ok())
    return 0;
  auto printed = sy::policies::to_yaml(*p);
  auto again = sy::policies::parse_plan(printed, "printed.plan.yaml");
  if (!again.ok() || sy::policies::to_yaml(*again) != printed) {
    std::fprintf(stderr, "fuzz_plan_file: to_yaml of a valid plan does not parse back to itself: %s\n",
                 again.ok() ? "different printout" : again.err().message.c_str());
    std::abort();
  }
  return 0;
}
