#include "policies/dispatch/dispatch.hpp"

#include <tuple>

namespace sy::policies {

int earliest_free_dispatch_policy::operator()(const std::vector<dispatch_candidate>& cs) const {
  const dispatch_candidate* best = nullptr;
  for (const auto& c : cs)
    if (!best || std::make_tuple(c.free_in + c.load, c.queued) < std::make_tuple(best->free_in + best->load, best->queued))
      best = &c;
  return best ? best->group : -1;
}

int shortest_queue_dispatch_policy::operator()(const std::vector<dispatch_candidate>& cs) const {
  const dispatch_candidate* best = nullptr;
  for (const auto& c : cs)
    if (!best || std::make_tuple(c.queued, c.free_in + c.load) < std::make_tuple(best->queued, best->free_in + best->load))
      best = &c;
  return best ? best->group : -1;
}

} // namespace sy::policies
