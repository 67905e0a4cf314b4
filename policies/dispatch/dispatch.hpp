#pragma once
// Dispatch (DESIGN.md §4): which replica group serves a request. Pure value types over a snapshot of the
// candidate groups (only groups that host the model). Any thread.
#include <chrono>
#include <cstdint>
#include <vector>

namespace sy::policies {

struct dispatch_candidate {
  int group = 0;                       // caller's index, returned as the decision
  std::chrono::nanoseconds free_in{0}; // predicted time until the group could start a new request
  std::chrono::nanoseconds load{0};    // predicted load time if the model is not resident there
  std::int64_t queued = 0;             // requests queued or in the pipeline
};

/// Returns the chosen candidate's `group`, or -1 when there is none.
struct earliest_free_dispatch_policy {
  int operator()(const std::vector<dispatch_candidate>& cs) const; // min free_in + load, ties: lower queued
};

struct shortest_queue_dispatch_policy {
  int operator()(const std::vector<dispatch_candidate>& cs) const; // min queued, ties: min free_in + load
};

} // namespace sy::policies
