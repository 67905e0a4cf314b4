#pragma once
// profile_table: the profile database re-indexed for the planner and the simulator (models by index, one
// dense view per parallel config), with the compat numbers precomputed (ALGORITHMS.md §1-2):
//   - stage latency used by the simulator: float32(stage_latency[b][k] * (1 + 0.009 * pp)),
//   - per-GPU memory of a model in a group: max_k weight_bytes[k] (1e20 where the config has no entry),
//   - single-device latency: sum_k stage_latency[1][k] of the (1,1) entry (the SLO base).
// Built once, then read-only: const member functions are safe from any thread.
#include <map>
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "policies/profile.hpp"

namespace sy::policies {

/// Compat "infinity" (AlpaServe's inf = 1e20): the memory and latency of a model without an entry.
inline constexpr double compat_inf = 1e20;

/// Everything about one parallel config, dense over model indices.
struct config_view {
  parallel_config config;
  std::vector<char> present;          // [m] an entry exists
  std::vector<double> max_weight;     // [m] max_k weight_bytes[k], compat_inf when absent
  std::vector<float> stage_lat;       // [m*pp + k] batch-1 latency with the pp penalty, float32
  std::vector<float> batch_lat;       // [(m*pp + k)*5 + b] same for batch sizes 1,2,4,8,16
  std::vector<double> load_seconds;   // [m*pp + k] (0 where the entry has none)
  std::vector<char> has_load;         // [m] the entry gives load_seconds
  std::vector<double> weight_bytes;   // [m*pp + k]
  /// Generation (profile_entry's optional fields): has_gen[m], and gen[(m*pp + k)*5 + f] for f = 0..4:
  /// gen_step_s, prefill_s_per_token, decode_s_per_seq, decode_s_per_ctx, kv_bytes_per_token (no penalty).
  std::vector<char> has_gen;
  std::vector<double> gen;
  std::vector<double> gen_pair;             // [m*pp + k] profile_entry::prefill_s_per_pair (0 where it has none)
  std::vector<double> gen_hop, gen_request; // [m] the runtime overheads (profile_entry::gen_hop_s, gen_request_s)
  std::vector<char> gen_live;               // [m] profile_entry::gen_fitted_live: no host_cores stretch
  std::vector<double> gen_sdlog;            // [m*pp + k] profile_entry::gen_step_sdlog (0: none)
  std::vector<double> request;              // [m] one-pass runtime overhead (profile_entry::request_s), 0: none
};

class profile_table {
public:
  /// `entries` may hold models not in `model_names` (ignored). Each listed model needs a (1,1) entry
  /// (the SLO base); entries are validated (sizes consistent with pp). Errors name the model and field.
  /// `model_types` (empty, or one per model: its preset name, "" for none) lets an entry named after a type
  /// (`bert-1.3b`) serve every model of that type (`bert-1.3b-0`, ...) for the configs where the model has no
  /// entry of its own; a type that is also a model's name is that model's only.
  static result<profile_table> build(std::vector<std::string> model_names, const std::vector<profile_entry>& entries,
                                     const std::vector<std::string>& model_types = {});
  static result<profile_table> from_db(std::vector<std::string> model_names, const profile_db& db);

  int num_models() const { return static_cast<int>(names_.size()); }
  const std::vector<std::string>& model_names() const { return names_; }
  /// nullptr when no model has an entry for c.
  const config_view* view(parallel_config c) const;
  const std::vector<parallel_config>& configs() const { return configs_; }
  /// The placement memory rule's room for KV (issue 10 §4): for generating model m, every view where it has
  /// generation costs counts max_k(weight_bytes[k] + kv_bytes_per_token[k] * tokens) as its per-GPU memory
  /// (max_weight) instead of the weights alone, so that a placement leaving no room for the KV of `tokens`
  /// context tokens is excluded. tokens <= 0: nothing changes.
  void reserve_kv(int m, double tokens);
  /// sum_k stage_latency[1][k] of the (1,1) entry of model m (double).
  double single_latency(int m) const { return single_latency_[static_cast<std::size_t>(m)]; }
  /// max_k stage_latency[1][k] of the (1,1) entry (mp-search-sep buckets).
  double single_max_stage_latency(int m) const { return single_max_stage_[static_cast<std::size_t>(m)]; }

private:
  std::vector<std::string> names_;
  std::vector<parallel_config> configs_;
  std::map<parallel_config, config_view> views_;
  std::vector<double> single_latency_;
  std::vector<double> single_max_stage_;
};

} // namespace sy::policies
