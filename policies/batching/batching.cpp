#include "policies/batching/batching.hpp"

#include <algorithm>

namespace sy::policies {

namespace {

std::chrono::nanoseconds latency_of(const batching_view& v, std::size_t b) {
  if (v.latency.empty())
    return std::chrono::nanoseconds{0};
  return v.latency[std::min(b, v.latency.size()) - 1];
}

/// Splits the queue into expired indices and the live ones (arrival order).
std::vector<std::size_t> split(const batching_view& v, batching_decision& d) {
  std::vector<std::size_t> live;
  for (std::size_t i = 0; i < v.time_left.size(); ++i) {
    if (v.time_left[i] < latency_of(v, 1))
      d.expired.push_back(i);
    else
      live.push_back(i);
  }
  return live;
}

} // namespace

batching_decision no_batching_policy::operator()(const batching_view& v) const {
  batching_decision d;
  auto live = split(v, d);
  d.take = live.empty() ? 0 : 1;
  return d;
}

batching_decision greedy_batching_policy::operator()(const batching_view& v) const {
  batching_decision d;
  auto live = split(v, d);
  std::size_t limit = std::min(live.size(), std::max<std::size_t>(max_batch, 1));
  for (std::size_t b = limit; b >= 1; --b) {
    auto lat = latency_of(v, b);
    bool fits = std::all_of(live.begin(), live.begin() + static_cast<std::ptrdiff_t>(b),
                            [&](std::size_t i) { return v.time_left[i] >= lat; });
    if (fits) {
      d.take = b;
      return d;
    }
  }
  d.take = live.empty() ? 0 : 1;
  return d;
}

} // namespace sy::policies
