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

/// Generation requests (new_tokens > 0 or a first token) of a latency_summary. Percentiles as the one-pass
/// ones (index int(q * n) of the sorted values) over ok requests; TTFT = first_token - arrival (an ok request
/// without a first-token time: finish - arrival), TPOT = (finish - first_token) / (new_tokens - 1) for
/// new_tokens > 1. attainment: ok AND TTFT <= ttft_slo (when > 0) AND TPOT <= tpot_slo (when > 0), over all
/// generation requests. ttft_misses: requests whose first token came later than their TTFT SLO (any final
/// status), plus requests that ended `deadline_exceeded` before any token (they missed their first token,
/// whether the deadline was the TTFT SLO or the request timeout); `rejected` requests (refused at admission)
/// and requests that failed before a token are not misses. tpot_misses: ok requests whose TPOT is over their
/// TPOT SLO.
struct generation_summary {
  long requests = 0; // generation requests among them (0: block not written)
  double ttft_p50_s = 0, ttft_p90_s = 0, ttft_p99_s = 0, tpot_p50_s = 0, tpot_p99_s = 0, e2e_p50_s = 0,
         e2e_p99_s = 0, tokens_per_s = 0; // new tokens of ok requests / (last finish - first arrival)
  double attainment = 0;
  long ttft_misses = 0, tpot_misses = 0;
};

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
  generation_summary gen{};    // written as "generation" only when gen.requests > 0
  /// Requests that ended with `status` (any name).
  long count(std::string_view status) const;
};

struct model_summary {
  std::string name;
  latency_summary s;
  double slo_s = 0; // the model's deadline where the caller knows one (written when > 0)
};

struct summary {
  long trimmed_each_end = 0;
  double untrimmed_attainment = 0; // ok / requests over the whole trace, nothing trimmed
  long untrimmed_requests = 0;
  double slo_scale = 0;            // SLO = scale x single-device latency, where the caller used one (written when > 0)
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
  double first_token = -1; // generation: absolute time of the first token, -1: none
  int new_tokens = 0;      // generation: tokens produced (0: a one-pass request)
  double ttft_slo_s = 0, tpot_slo_s = 0; // 0 = no such SLO
  bool generation = false; // a generation request whatever its answer (a refused one has no tokens either)
};

/// The one summarizer (simulate and replay): `n` outcomes in arrival order, `at(i)` returns the i-th.
summary summarize_outcomes(std::size_t n, const std::function<outcome(std::size_t)>& at,
                           const std::vector<std::string>& model_names, double warmup_s);

/// `model[i]` is the model index of records[i] (-1: ignored request, counted overall only).
summary summarize(const std::vector<request_record>& records, const std::vector<std::int32_t>& model,
                  const std::vector<std::string>& model_names, double warmup_s = 10);

std::string to_json(const summary& s);
/// The per-request CSV (simulate and replay): header records_header, one row per request in trace order;
/// times in seconds with full precision (%.17g), text fields quoted when they hold a comma or a quote.
/// new_tokens, first_token, tpot: 0, -1, 0 for one-pass requests; tpot = (finish - first_token) /
/// (new_tokens - 1) when new_tokens > 1, else 0.
inline constexpr const char* records_header =
    "id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait,new_tokens,first_token,tpot\n";
struct record_row {
  std::size_t id = 0;         // position in the trace
  std::string_view model;     // name; empty when the request named none the run knows
  double arrival = 0, dispatch = 0, start = 0, finish = 0;
  std::string_view status;    // ok | rejected | failed | deadline_exceeded | ...
  std::string_view reason;    // why it was not ok ("" when ok)
  std::string_view group;     // serving (or rejecting) group, "-1" when none
  int batch_size = 0;
  double load_wait = 0;
  int new_tokens = 0;         // generation: tokens produced
  double first_token = -1;    // generation: absolute time of the first token, -1: none
  double tpot = 0;            // generation: seconds per output token after the first (0: fewer than 2)
};
/// (finish - first_token) / (new_tokens - 1) when new_tokens > 1 and first_token >= 0, else 0.
double tpot_of(double first_token, double finish, int new_tokens);
void append_record(std::string& csv, const record_row& r);
/// Why the simulator did not serve a request: "" (ok), "would miss its SLO" (rejected at dispatch), "no
/// replica of the model" (failed), "model outside the simulated set" (failed, model -1).
const char* reason_of(const request_record& r, std::int32_t model);
/// `model[i]` indexes `model_names` for records[i] (-1: none); groups are written by index.
std::string records_csv(const std::vector<request_record>& records, const std::vector<std::int32_t>& model,
                        const std::vector<std::string>& model_names);
[[nodiscard]] status write_file(const std::string& path, const std::string& text);

} // namespace sy::sim
