// Fuzz target: the trace parsers (sim/workload_parsers). SY_TRACE_FORMAT picks the parser, so that each
// format is its own target with its own corpus: csv, azure2019, azure2021, azure-llm.
// Oracle: a trace that parses is sorted by arrival and names only models it lists.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/workload.hpp"

#ifndef SY_TRACE_FORMAT
#error "define SY_TRACE_FORMAT"
#endif

using namespace sy::sim;

namespace {

sy::result<trace> parse(const std::string& text) {
  const std::string format = SY_TRACE_FORMAT;
  const std::vector<std::string> models = {"m0", "m1", "m2"};
  if (format == "csv")
    return parse_csv(text, "fuzz.csv");
  if (format == "azure2019") {
    azure2019_options o;
    o.models = models;
    o.minutes = 5; // the window, so that generation stays small
    return parse_azure_functions_2019(text, "fuzz.csv", o);
  }
  if (format == "azure2021") {
    azure2021_options o;
    o.models = models;
    return parse_azure_functions_2021(text, "fuzz.csv", o);
  }
  azure_llm_options o;
  o.models = models;
  return parse_azure_llm(text, "fuzz.csv", o);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024)
    return 0;
  auto t = parse(std::string(reinterpret_cast<const char*>(data), size));
  if (!t.ok())
    return 0;
  for (std::size_t i = 0; i < t->requests.size(); ++i) {
    const auto& r = t->requests[i];
    bool ok = r.model >= 0 && static_cast<std::size_t>(r.model) < t->models.size() &&
              (i == 0 || t->requests[i - 1].arrival_s <= r.arrival_s);
    if (!ok) {
      std::fprintf(stderr, "fuzz_trace: request %zu is out of order or names an unlisted model\n", i);
      std::abort();
    }
  }
  return 0;
}
