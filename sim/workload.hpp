#pragma once
// Workloads: a trace is a list of requests sorted by arrival. One implementation shared by the simulator
// (`switchyard simulate`, the placement search) and the replay driver (`switchyard replay`).
// Formats (ALGORITHMS.md §7): native CSV `arrival_s,model,input_tokens[,slo_ms[,output_tokens]]`, synthetic (Poisson,
// Gamma(rate, CV), power-law popularity, seed), Azure Functions 2019 / 2021, Azure LLM inference 2023/2024.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "messages/result.hpp"

namespace sy::sim {

struct trace_request {
  double arrival_s = 0;   // seconds from the trace start
  int model = 0;          // index into trace::models
  int input_tokens = 1;
  double slo_s = 0;       // 0: the model's default SLO (generation requests: the TTFT SLO)
  /// > 0: a generation request (max_new_tokens = output_tokens, ignore_eos); 0: one forward pass.
  int output_tokens = 0;
  double tpot_slo_s = 0;  // generation: time-per-output-token SLO; 0: the model's default / none
};

struct trace {
  std::vector<std::string> models;     // index -> model name
  std::vector<trace_request> requests; // sorted by arrival_s
};

// ---------------------------------------------------------------------------------------------------------
// Generators (pure functions of their arguments and seed; any thread).

/// Arrival times of a Gamma renewal process with `rate` (1/s) and coefficient of variation `cv` on
/// [start, start + duration): gaps ~ Gamma(shape 1/cv^2, scale cv^2/rate); cv = 1 is Poisson.
std::vector<double> gamma_arrivals(double rate, double cv, double start, double duration, std::mt19937_64& rng);

/// rate_i = total * (i+1)^-exponent / sum_j (j+1)^-exponent (AlpaServe's power-law popularity, exponent 0.5).
std::vector<double> power_law_rates(int models, double total_rate, double exponent = 0.5);

struct synth_options {
  std::vector<std::string> models;
  double total_rate = 10;      // requests/s over all models
  double cv = 1;               // of each model's inter-arrival gaps
  double duration_s = 60;
  std::uint64_t seed = 1;
  bool uniform = false;        // equal rates instead of the power law
  double exponent = 0.5;       // power-law exponent
  int input_tokens = 128;      // every request's input length
};
/// One independent Gamma process per model, merged and sorted.
result<trace> synthesize(const synth_options& o);

// ---------------------------------------------------------------------------------------------------------
// Parsers. Errors name the file (the `source` argument for in-memory text), the line and what was wrong.

/// Native CSV `arrival_s,model,input_tokens[,slo_ms[,output_tokens]]` (header optional, '#' comments and
/// blank lines skipped, rows need not be sorted). slo_ms may be empty (the default); output_tokens empty or
/// 0: a one-pass request, > 0: a generation request of that many new tokens. `models` fixes the model list (unknown names are errors); empty: the
/// names in order of first appearance.
result<trace> parse_csv(const std::string& text, const std::string& source,
                        const std::vector<std::string>& models = {});

struct azure2019_options {
  std::vector<std::string> models; // function j (with invocations in the window) -> model j mod N
  int start_minute = 0;            // window [start_minute, start_minute + minutes) of the day's 1440
  int minutes = 1440;
  double rate_scale = 1;
  double cv_scale = 1;             // CV of the Gamma process of each minute
  std::uint64_t seed = 1;
  int input_tokens = 128;
};
/// Azure Functions 2019 per-minute counts: HashOwner,HashApp,HashFunction,Trigger,1,...,1440.
result<trace> parse_azure_functions_2019(const std::string& text, const std::string& source,
                                         const azure2019_options& o);

struct azure2021_options {
  std::vector<std::string> models; // function j (app+func in order of first appearance) -> model j mod N
  bool fit_gamma = false;          // false: raw replay; true: per-interval Gamma fit, then regenerate
  double interval_s = 60;          // Gamma-fit interval
  double time_scale = 1;           // raw replay: arrival / time_scale (compression)
  double rate_scale = 1;           // Gamma fit: fitted rate * rate_scale
  double cv_scale = 1;             // Gamma fit: fitted CV * cv_scale
  std::uint64_t seed = 1;
  int input_tokens = 128;
};
/// Azure Functions 2021: app,func,end_timestamp,duration (seconds); arrival = end - duration.
result<trace> parse_azure_functions_2021(const std::string& text, const std::string& source,
                                         const azure2021_options& o);

struct azure_llm_options {
  std::vector<std::string> models;
  int max_seq = 2048;        // input tokens clipped to [1, max_seq]
  bool uniform = false;      // model assignment: uniform instead of power-law popularity
  double exponent = 0.5;
  std::uint64_t seed = 1;
};
/// Azure LLM inference 2023/2024: TIMESTAMP,ContextTokens,GeneratedTokens; TIMESTAMP either seconds or
/// "YYYY-MM-DD HH:MM:SS[.fraction][+00:00]". Arrivals relative to the first request. input_tokens =
/// ContextTokens clipped to [1, max_seq]; output_tokens = GeneratedTokens, except that a row with 0 generated
/// tokens becomes output_tokens = 1 (every row is a generation request; the serving side produces at least
/// one token). `clipped` (optional) receives how many rows had their context clipped / their 0 raised.
struct azure_llm_counts {
  long rows = 0;
  long context_clipped = 0;   // ContextTokens > max_seq (or 0) clipped into [1, max_seq]
  long zero_generated = 0;    // GeneratedTokens 0 counted as output_tokens 1
};
result<trace> parse_azure_llm(const std::string& text, const std::string& source, const azure_llm_options& o,
                              azure_llm_counts* counts = nullptr);

/// Reads a whole file; the error names the path.
result<std::string> read_text_file(const std::string& path);

/// One trace file in a named format: the reader behind `switchyard trace convert` and `replay --trace`.
/// `models` goes to the format's options (csv: empty = every model the file names); the per-format options
/// carry the rest (their `models` fields are overwritten).
struct trace_file_options {
  std::string format = "csv"; // csv | azure2019 | azure2021 | azure-llm
  std::vector<std::string> models;
  azure2019_options azure2019;
  azure2021_options azure2021;
  azure_llm_options azure_llm;
};
/// Errors: unknown format ("--format: expected csv, azure2019, azure2021 or azure-llm, found 'x'"), the
/// file cannot be read, or a bad line (file:line: field: expected ..., found ...).
result<trace> load_trace_file(const std::string& path, const trace_file_options& o);

// ---------------------------------------------------------------------------------------------------------
// Transforms and writer.

/// arrival / factor (factor > 1 compresses time).
trace time_scaled(const trace& t, double factor);
/// factor < 1 keeps each request with probability factor; factor > 1 keeps each request and adds
/// floor(factor)-1 copies plus one more with probability frac(factor), each copy at a uniform time between
/// its original and the next request. Seeded.
trace rate_scaled(const trace& t, double factor, std::uint64_t seed);
/// Requests with start <= arrival < end, arrivals rebased to start.
trace sliced(const trace& t, double start_s, double end_s);
/// Merges traces with the same or different model lists (models united by name), sorted by arrival.
trace merged(const std::vector<trace>& ts);

/// Native CSV with a header; slo_ms written only when some request has an SLO or an output_tokens;
/// output_tokens written (and slo_ms then empty where a request has none) only when some request has
/// output_tokens > 0, so one-pass traces are written exactly as before.
std::string to_csv(const trace& t);
[[nodiscard]] status write_csv(const trace& t, const std::string& path);

} // namespace sy::sim
