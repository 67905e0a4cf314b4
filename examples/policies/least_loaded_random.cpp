// An example policy plug-in (README "Writing a policy"): two policies that switchyard loads from this shared
// library when a deployment lists it under `plugins:`.
//
//   dispatch  least-loaded-random  among the candidate groups whose predicted start (free_in + load) is
//                                  within tolerance_ms of the best, pick one at random (seeded, so a run
//                                  is reproducible): spreads a model's requests over equally loaded
//                                  replicas instead of always picking the first.
//                                  params: tolerance_ms (>= 0, default 1), seed (default 1)
//   admission  max-wait            rejects a request whose predicted wait (queue + pending load) exceeds
//                                  max_wait_ms, whatever its deadline. params: max_wait_ms (> 0, default 50)
//
// It includes only policies/plugin_api.hpp (std-only) and links nothing of switchyard.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "policies/plugin_api.hpp"

namespace {

using namespace sy::policies;

double param(const policy_numbers& p, const std::string& key, double fallback) {
  auto it = p.find(key);
  return it == p.end() ? fallback : it->second;
}

/// splitmix64: a small, good, seedable generator.
struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

/// Called by one actor at a time (the controller), so the generator needs no lock; each copy of the policy
/// has its own generator.
struct least_loaded_random {
  std::chrono::nanoseconds tolerance;
  splitmix64 rng;

  int operator()(const std::vector<dispatch_candidate>& cs) {
    if (cs.empty())
      return -1;
    auto best = cs.front().free_in + cs.front().load;
    for (const auto& c : cs)
      best = std::min(best, c.free_in + c.load);
    std::vector<int> near;
    for (const auto& c : cs)
      if (c.free_in + c.load <= best + tolerance)
        near.push_back(c.group);
    return near[static_cast<std::size_t>(rng.next() % near.size())];
  }
};

struct max_wait {
  std::chrono::nanoseconds limit;
  admission_decision operator()(const admission_view& v) const {
    if (v.queue_wait + v.pending_load <= limit)
      return {};
    return {false, "predicted wait exceeds max-wait's max_wait_ms"};
  }
};

} // namespace

SY_POLICY_PLUGIN(registry) {
  registry.add_dispatch("least-loaded-random", [](const policy_numbers& p) {
    double tol = param(p, "tolerance_ms", 1.0);
    if (!(tol >= 0))
      return made<dispatch_fn>::refuse("tolerance_ms: expected a number >= 0, found " + std::to_string(tol));
    auto seed = static_cast<std::uint64_t>(param(p, "seed", 1.0));
    auto ns = std::chrono::nanoseconds{static_cast<std::int64_t>(tol * 1e6)};
    return made<dispatch_fn>{least_loaded_random{ns, splitmix64{seed}}, {}};
  });
  registry.add_admission("max-wait", [](const policy_numbers& p) {
    double ms = param(p, "max_wait_ms", 50.0);
    if (!(ms > 0))
      return made<admission_fn>::refuse("max_wait_ms: expected a number > 0, found " + std::to_string(ms));
    return made<admission_fn>{max_wait{std::chrono::nanoseconds{static_cast<std::int64_t>(ms * 1e6)}}, {}};
  });
}
