#pragma once
// Reported numbers from per-request records (README "Outputs"): warm-up trimming (compat: drop
// int(warmup / (t_last - t_first) * N) requests from each end when that is > 0), SLO attainment, goodput,
// latency percentiles of the served requests (index int(q * n) of the sorted latencies, as AlpaServe), mean
// latency with dropped requests as 0 (compat), counts per status; per model and overall.
// Pure functions; safe from any thread.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "messages/result.hpp"
#include "sim/simulator.hpp"

namespace sy::sim {

struct latency_summary {
  long requests = 0;
  long ok = 0, rejected = 0, failed = 0, deadline_exceeded = 0;
  std::map<std::string, long> other_status; // statuses beyond those four (replay: invalid, unanswered, ...)
  double attainment = 0;       // ok / requests
  double goodput_rps = 0;      // ok / (last arrival - first arrival) of the trimmed requests
  double mean_latency_s = 0;   // compat overall number: dropped requests count as 0
  double mean_served_latency_s = 0; // of ok requests (AlpaServe's per-model latency_mean)
  double p50_s = 0, p90_s = 0, p99_s = 0; // of ok requests
  double mean_load_wait_s = 0; // of ok requests
  /// Requests that ended with `status` (any name).
  long count(std::string_view status) const;
};

struct model_summary {
  std::string name;
  latency_summary s;
};

struct summary {
  long trimmed_each_end = 0;
  /// Further top-level fields as (key, JSON text), written after trimmed_each_end (replay: duplicates,
  /// unknown_ids, unanswered, wall_s).
  std::vector<std::pair<std::string, std::string>> extra;
  latency_summary overall;
  std::vector<model_summary> models;
};

/// One request as the summary sees it: the simulator's records and the replay driver's both map to this.
struct outcome {
  double arrival = 0, finish = 0, load_wait = 0;
  std::string_view status; // "ok", "rejected", ...
  std::int32_t model = -1; // index into model_names; -1: counted overall only
};

/// The one summarizer (simulate and replay): `n` outcomes in arrival order, `at(i)` returns the i-th.
summary summarize_outcomes(std::size_t n, const std::function<outcome(std::size_t)>& at,
                           const std::vector<std::string>& model_names, double warmup_s);

/// `model[i]` is the model index of records[i] (-1: ignored request, counted overall only).
summary summarize(const std::vector<request_record>& records, const std::vector<std::int32_t>& model,
                  const std::vector<std::string>& model_names, double warmup_s = 10);

std::string to_json(const summary& s);
/// The per-request CSV: header arrival,dispatch,start,finish,status,group,batch_size,load_wait.
std::string records_csv(const std::vector<request_record>& records);
[[nodiscard]] status write_file(const std::string& path, const std::string& text);

} // namespace sy::sim
