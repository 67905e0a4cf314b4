#include "apps/replay/fit.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace sy::driver {

sim::trace fit_to_models(const sim::trace& t, const std::vector<int>& max_seq, fit_report& report) {
  sim::trace out;
  out.models = t.models;
  out.requests.reserve(t.requests.size());
  for (std::size_t i = 0; i < t.requests.size(); ++i) {
    auto q = t.requests[i];
    const int limit = q.model >= 0 && static_cast<std::size_t>(q.model) < max_seq.size()
                          ? max_seq[static_cast<std::size_t>(q.model)]
                          : 0;
    if (limit > 0) {
      // prompt + max_new_tokens - 1 <= max positions; a one-pass request: input <= max positions.
      const long room = q.output_tokens > 0 ? static_cast<long>(limit) + 1 - q.output_tokens : limit;
      if (room < 1) {
        ++report.dropped;
        if (report.examples.size() < 3)
          report.examples.push_back(fmt::format(
              "request {} at {:.3f} s: {} new tokens for model {} leave no room for a prompt (max positions {})", i,
              q.arrival_s, q.output_tokens, t.models.at(static_cast<std::size_t>(q.model)), limit));
        continue;
      }
      if (q.input_tokens > room) {
        q.input_tokens = static_cast<int>(room);
        ++report.clipped;
      }
    }
    q.input_tokens = std::max(1, q.input_tokens);
    out.requests.push_back(q);
  }
  return out;
}

} // namespace sy::driver
