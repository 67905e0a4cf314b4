#pragma once
// The replay driver's outputs (README "Outputs", the same format as the simulator's): the per-request CSV
// `arrival,dispatch,start,finish,status,group,batch_size,load_wait` and the summary JSON (warm-up trimming,
// SLO attainment, goodput, p50/p90/p99 of ok requests, counts per status; overall and per model).
// Pure functions; any thread.
#include <map>
#include <string>
#include <vector>

#include "apps/replay/driver.hpp"
#include "messages/result.hpp"

namespace sy::driver {

struct replay_stats {
  long requests = 0;
  std::map<std::string, long> by_status; // every status seen (ok, rejected, deadline_exceeded, ...)
  double attainment = 0;                 // ok / requests
  double goodput_rps = 0;                // ok / (last arrival - first arrival)
  double mean_latency_s = 0;             // dropped requests count as 0 (the simulator's compat number)
  double mean_served_latency_s = 0;      // of ok requests
  double p50_s = 0, p90_s = 0, p99_s = 0; // of ok requests: element int(q n) of the sorted latencies
  double mean_load_wait_s = 0;           // of ok requests
  long count(const std::string& status) const {
    auto it = by_status.find(status);
    return it == by_status.end() ? 0 : it->second;
  }
};

struct replay_summary {
  long trimmed_each_end = 0;
  replay_stats overall;
  std::vector<std::pair<std::string, replay_stats>> models; // trace model order
  long duplicates = 0, unknown_ids = 0, unanswered = 0;
  double wall_s = 0;
};

/// `warmup_s` > 0 drops int(warmup / (t_last - t_first) * N) requests from each end (as the simulator).
replay_summary summarize(const driver_result& r, const std::vector<std::string>& model_names,
                         double warmup_s = 0);

std::string summary_json(const replay_summary& s);
std::string records_csv(const std::vector<replay_record>& records);
/// A short human-readable table of the summary (what `replay` prints).
std::string summary_text(const replay_summary& s);

[[nodiscard]] status write_text(const std::string& path, const std::string& text);

} // namespace sy::driver
