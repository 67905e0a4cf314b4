#pragma once
// Reported numbers from per-request records (README "Outputs"): warm-up trimming (compat: drop
// int(warmup / (t_last - t_first) * N) requests from each end when that is > 0), SLO attainment, goodput,
// latency percentiles of the served requests (index int(q * n) of the sorted latencies, as AlpaServe), mean
// latency with dropped requests as 0 (compat), counts per status; per model and overall.
// Pure functions; safe from any thread.
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "sim/simulator.hpp"

namespace sy::sim {

struct latency_summary {
  long requests = 0;
  long ok = 0, rejected = 0, failed = 0;
  double attainment = 0;       // ok / requests
  double goodput_rps = 0;      // ok / (last arrival - first arrival) of the trimmed requests
  double mean_latency_s = 0;   // compat overall number: dropped requests count as 0
  double mean_served_latency_s = 0; // of ok requests (AlpaServe's per-model latency_mean)
  double p50_s = 0, p90_s = 0, p99_s = 0; // of ok requests
  double mean_load_wait_s = 0; // of ok requests
};

struct model_summary {
  std::string name;
  latency_summary s;
};

struct summary {
  long trimmed_each_end = 0;
  latency_summary overall;
  std::vector<model_summary> models;
};

/// `model[i]` is the model index of records[i] (-1: ignored request, counted overall only).
summary summarize(const std::vector<request_record>& records, const std::vector<std::int32_t>& model,
                  const std::vector<std::string>& model_names, double warmup_s = 10);

std::string to_json(const summary& s);
/// The per-request CSV: header arrival,dispatch,start,finish,status,group,batch_size,load_wait.
std::string records_csv(const std::vector<request_record>& records);
[[nodiscard]] status write_file(const std::string& path, const std::string& text);

} // namespace sy::sim
