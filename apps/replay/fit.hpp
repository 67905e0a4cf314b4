#pragma once
// Fitting a trace to the models that serve it (issue 10 §4): a generation's prompt is clipped so that
// prompt + max_new_tokens - 1 <= the model's max positions (the server's rule, actors/ingress_generate.cpp),
// a one-pass input to max positions; a request where not even one prompt token fits is dropped. Both are
// counted and reported, never sent to fail at the server. The live replay and --simulate get the same
// fitted trace. Pure functions; any thread.
#include <cstddef>
#include <string>
#include <vector>

#include "sim/workload.hpp"

namespace sy::driver {

struct fit_report {
  long clipped = 0;                  // requests whose prompt was shortened
  long dropped = 0;                  // requests removed: not one prompt token fits beside output_tokens
  std::vector<std::string> examples; // the first few dropped rows, described (for the log)
};

/// `max_seq[m]` is trace model m's max positions (<= 0: unknown, nothing clipped). Keeps the order.
sim::trace fit_to_models(const sim::trace& t, const std::vector<int>& max_seq, fit_report& report);

} // namespace sy::driver
