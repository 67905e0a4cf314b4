#include "policies/eviction/eviction.hpp"

#include <algorithm>
#include <map>

namespace sy::policies {

namespace {

template <class Less>
eviction_decision pick(const eviction_view& v, Less less) {
  eviction_decision d;
  std::int64_t free = v.free_bytes;
  if (free >= v.needed_bytes)
    return d;
  std::vector<const eviction_candidate*> order;
  for (const auto& c : v.resident)
    if (c.queued == 0 && !c.pinned)
      order.push_back(&c);
  std::sort(order.begin(), order.end(), [&](auto* a, auto* b) { return less(*a, *b); });
  for (auto* c : order) {
    d.victims.push_back(c->model);
    free += c->bytes;
    if (free >= v.needed_bytes)
      return d;
  }
  d.possible = false;
  d.victims.clear();
  return d;
}

} // namespace

eviction_decision lru_eviction_policy::operator()(const eviction_view& v) const {
  return pick(v, [](const eviction_candidate& a, const eviction_candidate& b) {
    return a.last_used != b.last_used ? a.last_used < b.last_used : a.model < b.model;
  });
}

eviction_decision demand_aware_eviction_policy::operator()(const eviction_view& v) const {
  return pick(v, [](const eviction_candidate& a, const eviction_candidate& b) {
    if (a.rate != b.rate)
      return a.rate < b.rate;
    return a.last_used != b.last_used ? a.last_used < b.last_used : a.model < b.model;
  });
}

double swap_cost_aware_eviction_policy::reload_cost(const eviction_view& v, const eviction_candidate& c) const {
  double load = c.load_s;
  if (load <= 0) {
    double bytes = 0, seconds = 0;
    for (const auto& o : v.resident)
      if (o.load_s > 0 && o.bytes > 0) {
        bytes += static_cast<double>(o.bytes);
        seconds += o.load_s;
      }
    double bandwidth = seconds > 0 ? bytes / seconds : default_bytes_per_s;
    load = static_cast<double>(c.bytes) / bandwidth;
  }
  return c.rate * load;
}

eviction_decision swap_cost_aware_eviction_policy::operator()(const eviction_view& v) const {
  std::map<const eviction_candidate*, double> cost;
  for (const auto& c : v.resident)
    cost[&c] = reload_cost(v, c);
  return pick(v, [&](const eviction_candidate& a, const eviction_candidate& b) {
    if ((a.in_flight > 0) != (b.in_flight > 0))
      return a.in_flight == 0;
    double ca = cost.at(&a), cb = cost.at(&b);
    if (ca != cb)
      return ca < cb;
    return a.last_used != b.last_used ? a.last_used < b.last_used : a.model < b.model;
  });
}

} // namespace sy::policies
