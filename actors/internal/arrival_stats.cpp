#include "actors/internal/arrival_stats.hpp"

#include <algorithm>

namespace sy::actors::internal {

arrival_stats::arrival_stats(std::chrono::milliseconds bucket, std::size_t buckets)
    : bucket_(std::max(bucket, std::chrono::milliseconds(1))), buckets_(std::max<std::size_t>(buckets, 1)) {}

std::int64_t arrival_stats::bucket_of(messages::time_point t) const {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  return ms / bucket_.count();
}

void arrival_stats::record(const std::string& model, messages::time_point at) {
  const auto b = bucket_of(at);
  if (newest_ >= 0 && b <= newest_ - static_cast<std::int64_t>(buckets_))
    return; // older than the horizon
  if (!any_) {
    first_ = at;
    any_ = true;
  }
  newest_ = std::max(newest_, b);
  auto& s = by_model_[model];
  if (s.counts.empty()) {
    s.counts.assign(buckets_, 0);
    s.stamps.assign(buckets_, -1);
  }
  const auto slot = static_cast<std::size_t>(b % static_cast<std::int64_t>(buckets_));
  if (s.stamps[slot] != b) { // the slot held an older bucket (or none): it starts again
    s.stamps[slot] = b;
    s.counts[slot] = 0;
  }
  ++s.counts[slot];
}

std::map<std::string, std::uint64_t> arrival_stats::counts(messages::time_point now,
                                                           std::chrono::milliseconds window) const {
  std::map<std::string, std::uint64_t> out;
  const auto last = bucket_of(now);
  auto k = static_cast<std::int64_t>((window.count() + bucket_.count() - 1) / bucket_.count());
  k = std::clamp<std::int64_t>(k, 1, static_cast<std::int64_t>(buckets_));
  for (const auto& [model, s] : by_model_) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < s.counts.size(); ++i)
      if (s.stamps[i] > last - k && s.stamps[i] <= last)
        n += s.counts[i];
    if (n > 0)
      out[model] = n;
  }
  return out;
}

std::map<std::string, double> arrival_stats::rates(messages::time_point now, std::chrono::milliseconds window) const {
  std::map<std::string, double> out;
  if (!any_)
    return out;
  window = std::clamp(window, bucket_, horizon());
  // whole buckets: the window covers k buckets, the last one up to `now`
  const auto k = (window.count() + bucket_.count() - 1) / bucket_.count();
  double seconds = std::chrono::duration<double>(bucket_ * static_cast<int>(k - 1)).count()
                   + std::chrono::duration<double>(now.time_since_epoch() - bucket_ * bucket_of(now)).count();
  seconds = std::min(seconds, std::chrono::duration<double>(now - first_).count());
  seconds = std::max(seconds, 1e-3);
  for (const auto& [model, n] : counts(now, window))
    out[model] = static_cast<double>(n) / seconds;
  return out;
}

} // namespace sy::actors::internal
