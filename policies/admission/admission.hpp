#pragma once
// Admission (DESIGN.md §4): accept or reject a request given its deadline, from a snapshot of the group that
// would serve it. Pure value types, no clocks inside: the caller puts every time into the view. Any thread.
#include <chrono>
#include <string>

namespace sy::policies {

using nanos = std::chrono::nanoseconds;

struct admission_view {
  nanos time_left{0};   // deadline - now
  nanos queue_wait{0};  // predicted wait before the group can start it (stage clocks, queued work)
  nanos pending_load{0}; // predicted remaining load time when the model is not resident (0 if resident)
  nanos service{0};     // predicted pipeline latency of the request (measured EWMA or profile)
};

struct admission_decision {
  bool accept = true;
  std::string reason; // set when rejected
};

/// Accepts when queue_wait + pending_load + slack * service <= time_left (AlpaServe's predicted-finish
/// check; the load and the queue overlap only partly, so both count).
struct slo_admission_policy {
  double slack = 1.0;
  admission_decision operator()(const admission_view& v) const;
};

/// Accepts everything (the deadline timer still bounds every request).
struct accept_all_policy {
  admission_decision operator()(const admission_view&) const { return {}; }
};

} // namespace sy::policies
