#pragma once
// Inputs of `switchyard simulate` / `plan` / `bench`: profiles (a database file or the analytic cost model of
// a GPU) and a workload (a trace file or a synthetic Gamma / power-law trace). Main thread only.
#include <optional>
#include <string>
#include <vector>

#include "apps/commands.hpp"
#include "config/cluster_config.hpp"
#include "messages/result.hpp"
#include "policies/placement/profile_table.hpp"
#include "sim/simulator.hpp"
#include "sim/summary.hpp"
#include "sim/workload.hpp"

namespace sy::apps {

struct sim_inputs {
  policies::profile_table table;
  sim::trace trace;
  std::vector<double> model_rates; // requests/s per table model, measured on the trace
  std::vector<double> model_slo_s; // [table model] the config's slo_ms in seconds; 0: slo_scale x latency
  std::vector<double> model_ttft_s, model_tpot_s; // [table model] generation SLOs: --ttft-ms/--tpot-ms, else -c's
  std::optional<config::cluster_config> config; // -c, when given
  std::string profile_device; // the profile database's `device` (empty: analytic or unknown)
  double profile_host_cores = 0; // the profile database's `host_cores` (0: unknown)
};

/// sim_options::host_cores for `cfg` (issue 11 §3): the profile's host_cores when it was measured on cpu
/// devices and cfg's devices are cpu devices (their threads share the host's cores); else 0 (no cpu sharing
/// modelled: sim and cuda devices, analytic profiles, profiles without host_cores).
double cpu_host_cores(const sim_inputs& in, const config::cluster_config& cfg);

/// The simulator options that model `cfg`'s runtime (issue 11 §3): greedy batching (max_batch) -> batching mode
/// with that largest batch; no batching -> swapping (batch 1, per-device residency, pipelined loads, the
/// config's eviction policy). `mode_flag` non-empty (compat | batching | swapping) overrides the mode.
/// Errors: a batching policy the simulator cannot model (a plug-in's) without `mode_flag`.
struct deployment_sim {
  sim::sim_options opt;
  std::string described; // e.g. "batching (greedy max_batch 8, from the deployment)"
};
result<deployment_sim> deployment_sim_options(const config::cluster_config& cfg, const std::string& mode_flag);

/// "bert-1.3b:3,gpt-100m" -> bert-1.3b-0, bert-1.3b-1, bert-1.3b-2, gpt-100m. Errors name the bad item.
result<std::vector<std::string>> expand_models(const std::string& spec);
/// The preset behind a model name: the name itself, or NAME-<digits> for a copy.
result<std::string> preset_of(const std::string& model);
/// Names sorted with runs of digits compared by value: m0, m2, m10 (stable for equal keys).
std::vector<std::string> natural_order(std::vector<std::string> names);

/// `table_models`: the models of the profile table, in order (their ids: AlpaServe's registration order);
/// empty: the config's models (-c), else --models, else the trace's model names in natural order (never
/// their order of first appearance). Profile entries may name a model or its preset (one entry per type). With -c, every table model must be a config model
/// (analytic profiles then come from the config's specs, inline architectures included) and --models is an
/// error (the config names the models).
/// `given`: use this workload instead of in.trace / the synthetic options (`replay --simulate` parses its own
/// trace formats).
/// `analytic_configs`: with --hardware, profile only these of the default configs (policies::default_configs)
/// and op=1,pp=1 (the SLO base), e.g. the configs of the plan to simulate; null: every default config. The
/// entries are those every default config would give for these configs, so a caller that only looks up
/// these gets the same numbers for a fraction of the start-up (issue 11 §5).
result<sim_inputs> load_inputs(const sim_input_options& in, std::vector<std::string> table_models = {},
                               const sim::trace* given = nullptr,
                               const std::vector<policies::parallel_config>* analytic_configs = nullptr);

/// The generation settings of the simulator: --gen-max-seqs / --gen-token-budget, else -c's runtime settings,
/// else the runtime's defaults. Errors: a value < 1.
[[nodiscard]] status apply_generation_options(sim::sim_options& opt, const sim_input_options& in,
                                              const config::cluster_config* cfg);
/// prepare() with the inputs' SLOs (one-pass and generation).
result<sim::prepared_trace> prepare_inputs(const sim_inputs& in, double slo_scale);
/// "generation: N requests, TTFT p50 .. p99 .., TPOT p50 .. p99 .., tokens/s .., attainment (both SLOs) .."
std::string generation_line(const sim::generation_summary& g);

} // namespace sy::apps
