#pragma once
// arrival_stats: per-model arrival counts in fixed time buckets over a sliding horizon (issue 11 §2), what the
// re-placement policies read. Memory is bounded: `buckets` counters per model, and models are the config's
// (the controller records only requests for configured models). Owned by the controller state; its actor's
// handlers only (not thread-safe). The re-placement policy sees a copy (rates()).
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "messages/infer.hpp"

namespace sy::actors::internal {

class arrival_stats {
public:
  /// `bucket` wide buckets, `buckets` of them: the horizon is bucket x buckets (default 1 s x 600).
  explicit arrival_stats(std::chrono::milliseconds bucket = std::chrono::seconds(1), std::size_t buckets = 600);

  /// One arrival of `model` at `at`. An arrival older than the horizon (before the newest one) is dropped.
  void record(const std::string& model, messages::time_point at);

  /// Arrivals per model in the `window` that ends at `now` (whole buckets: the one `now` falls in and the
  /// window / bucket - 1 before it, at most the horizon). Models without arrivals there are absent.
  [[nodiscard]] std::map<std::string, std::uint64_t> counts(messages::time_point now,
                                                            std::chrono::milliseconds window) const;

  /// counts() / the window in seconds, where the window is clipped to the time since the first arrival ever
  /// recorded (so that a window longer than the run so far does not dilute the rates); requests/s.
  [[nodiscard]] std::map<std::string, double> rates(messages::time_point now, std::chrono::milliseconds window) const;

  /// The horizon: the longest window counts() can see.
  [[nodiscard]] std::chrono::milliseconds horizon() const { return bucket_ * static_cast<int>(buckets_); }

private:
  struct series {
    std::vector<std::uint32_t> counts; // ring, one per bucket
    std::vector<std::int64_t> stamps;  // the bucket index each slot holds (-1: none)
  };
  [[nodiscard]] std::int64_t bucket_of(messages::time_point t) const;
  std::chrono::milliseconds bucket_;
  std::size_t buckets_;
  std::map<std::string, series> by_model_;
  std::int64_t newest_ = -1; // bucket of the newest arrival
  messages::time_point first_{};
  bool any_ = false;
};

} // namespace sy::actors::internal
