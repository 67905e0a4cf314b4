#include "actors/internal/controller_state.hpp"

namespace sy::actors::internal {

const std::vector<double>& latency_bounds() {
  static const std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

namespace {

/// The label of a rejection reason in sy_rejected_total: its leading words, up to the first ':', '(', '[' or
/// digit ("not_resident: node b lost (no heartbeat answer for 1002 ms)" -> "not_resident", "expected 1..512
/// tokens" -> "expected"), so that details with numbers and names do not make a new series per rejection;
/// at most 64 labels, "other" beyond.
std::string reason_label(const controller_state& st, const std::string& reason) {
  std::size_t end = reason.find_first_of(":([0123456789");
  std::string label = reason.substr(0, end);
  while (!label.empty() && (label.back() == ' ' || label.back() == ',' || label.back() == '.' || label.back() == '-'))
    label.pop_back();
  if (label.empty())
    return "other";
  if (st.rejected_by_reason.size() >= 64 && st.rejected_by_reason.count(label) == 0)
    return "other";
  return label;
}

} // namespace

void record(controller_state& st, const std::string& model, messages::request_status s, const std::string& reason,
            double seconds) {
  auto& c = st.counts[model];
  switch (s) {
    case messages::request_status::ok: ++c.ok; break;
    case messages::request_status::rejected:
      ++c.rejected;
      ++st.rejected_by_reason[reason_label(st, reason)];
      break;
    case messages::request_status::deadline_exceeded: ++c.deadline_exceeded; break;
    case messages::request_status::failed: ++c.failed; break;
  }
  if (s != messages::request_status::ok)
    return;
  auto& h = st.latency[model];
  if (h.bounds.empty()) {
    h.bounds = latency_bounds();
    h.counts.assign(h.bounds.size() + 1, 0);
  }
  for (std::size_t i = 0; i < h.bounds.size(); ++i)
    if (seconds <= h.bounds[i])
      ++h.counts[i];
  ++h.counts.back();
  h.sum += seconds;
  ++h.count;
}

void add_placement_metrics(const controller_state& st, messages::metrics_snapshot& snap) {
  for (const auto& [policy, outcomes] : st.replans)
    for (const auto& [outcome, n] : outcomes)
      snap.replans[policy + "/" + outcome] = n;
  snap.migrations = static_cast<std::uint64_t>(st.placement_generation);
  snap.migration_models_moved = st.migration_models_moved;
  snap.migration_bytes_loaded = st.migration_bytes_loaded;
  auto& h = snap.migration_seconds;
  h.bounds = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120};
  h.counts.assign(h.bounds.size() + 1, 0);
  for (double secs : st.converge_seconds) {
    for (std::size_t i = 0; i < h.bounds.size(); ++i)
      if (secs <= h.bounds[i])
        ++h.counts[i];
    ++h.counts.back();
    h.sum += secs;
    ++h.count;
  }
}

} // namespace sy::actors::internal
