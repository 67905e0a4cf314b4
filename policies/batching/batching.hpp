#pragma once
// Batching (DESIGN.md §4): which queued requests of one model form the next batch. Pure value types over a
// snapshot of the queue (arrival order) and the model's latency by batch size. Any thread.
#include <chrono>
#include <cstddef>
#include <vector>

namespace sy::policies {

struct batching_view {
  std::vector<std::chrono::nanoseconds> time_left; // per queued request, arrival order: deadline - now
  /// latency[b-1]: predicted pipeline latency of a batch of b (b = 1..latency.size()); may be empty
  /// (unknown: every batch is assumed to make it).
  std::vector<std::chrono::nanoseconds> latency;
};

struct batching_decision {
  std::size_t take = 0;              // the first `take` requests that remain after dropping `expired`
  std::vector<std::size_t> expired;  // indices (into the view) that cannot finish in time even alone
};

/// One request per batch (expired ones are still reported).
struct no_batching_policy {
  batching_decision operator()(const batching_view& v) const;
};

/// The largest batch b <= max_batch of the oldest live requests such that every one of them finishes in
/// time with latency[b-1] (AlpaServe/Clockwork style deadline-aware greedy).
struct greedy_batching_policy {
  std::size_t max_batch = 8;
  batching_decision operator()(const batching_view& v) const;
};

} // namespace sy::policies
