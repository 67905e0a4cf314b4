#pragma once
// Eviction (DESIGN.md §4): which resident models a group drops to make room for a load. Pure value types
// over a snapshot of the group's resident models; the caller frees shards only after their last in-flight
// use (the stage does that). Any thread.
#include <cstdint>
#include <string>
#include <vector>

namespace sy::policies {

struct eviction_candidate {
  std::string model;
  std::int64_t bytes = 0;        // per device (the group's largest shard of it)
  std::uint64_t last_used = 0;   // a logical clock: larger = more recent
  std::int64_t queued = 0;       // requests waiting for it: never evicted while > 0
  bool pinned = false;           // being loaded / explicitly loaded and not yet used: never evicted
  double rate = 0;               // recent requests per second (demand-aware, swap-cost-aware)
  double load_s = 0;             // measured seconds to load it into the group (0: unknown; swap-cost-aware)
  std::int64_t in_flight = 0;    // batches of it in the pipeline (swap-cost-aware evicts those last)
};

struct eviction_view {
  std::int64_t needed_bytes = 0; // per device
  std::int64_t free_bytes = 0;   // per device, budget minus resident and loading shards
  std::vector<eviction_candidate> resident;
};

struct eviction_decision {
  bool possible = true;            // false: even evicting every allowed candidate leaves too little room
  std::vector<std::string> victims; // in eviction order
};

/// Least recently used first.
struct lru_eviction_policy {
  eviction_decision operator()(const eviction_view& v) const;
};

/// Lowest recent demand first (ties: least recently used), so that a hot model stays resident.
struct demand_aware_eviction_policy {
  eviction_decision operator()(const eviction_view& v) const;
};

/// Lowest expected reload cost first: rate x load seconds, i.e. the loading time per second that evicting the
/// model is expected to cause. A model with batches in flight goes last (its memory is freed only after them,
/// which would delay the load); ties: least recently used. An unknown load time is estimated from the bytes at
/// the bandwidth the other candidates' measured loads show, else at `default_bytes_per_s`.
struct swap_cost_aware_eviction_policy {
  double default_bytes_per_s = 10e9;
  eviction_decision operator()(const eviction_view& v) const;
  /// The expected reload cost of one candidate in `v` (seconds of loading per second).
  double reload_cost(const eviction_view& v, const eviction_candidate& c) const;
};

} // namespace sy::policies
