#pragma once
// The profile database (DESIGN.md §5, ALGORITHMS.md §1): per (model, parallel config), per-stage latency
// for each profiled batch size, per-GPU weight bytes, activation bytes and (ours) load seconds per stage.
// Producers: `switchyard profile` (measured engine) and the analytic cost model (policies/cost_model).
// Consumers: the placement search, the simulator, admission in the runtime. Value types, no I/O except the
// explicit (de)serializers; not thread-safe for concurrent writes.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "messages/result.hpp"

namespace sy::config {
struct cluster_config;
}
namespace sy::gpu {
struct sim_cost_table;
}

namespace sy::policies {

/// Tensor (intra-op) degree and pipeline (inter-op) degree; a group has op*pp GPUs.
struct parallel_config {
  int op = 1;
  int pp = 1;
  int gpus() const { return op * pp; }
  bool operator==(const parallel_config& o) const { return op == o.op && pp == o.pp; }
  bool operator<(const parallel_config& o) const { return op != o.op ? op < o.op : pp < o.pp; }
};

/// Batch sizes every profile entry holds, in this order (index b of stage_latency).
inline constexpr std::array<int, 5> profile_batch_sizes = {1, 2, 4, 8, 16};

struct profile_entry {
  std::string model;
  parallel_config config;
  /// stage_latency[b][k]: seconds of stage k at batch size profile_batch_sizes[b] (inter-stage transfer
  /// folded into the receiving stage, all-reduces inside the stage). Rows are a prefix of the batch sizes:
  /// at least batch 1; the cost model always writes all 5, measured/converted profiles may have fewer.
  std::vector<std::vector<double>> stage_latency;
  std::vector<double> weight_bytes;                 // [k] per GPU of stage k (AlpaServe's are floats)
  std::vector<std::vector<std::int64_t>> act_bytes; // [b][k] per GPU, as many rows as stage_latency
  std::vector<double> load_seconds;                 // [k] host->device copy of stage k's per-GPU shard; empty:
                                                    // not measured (the swapping simulator refuses it)
  /// Generation costs (decoders, optional; all five present or all empty). One continuous-batching step of
  /// stage k with P prefill tokens and D decoding sequences whose contexts sum to C tokens takes
  ///   gen_step_s[k] + prefill_s_per_token[k] * P + decode_s_per_seq[k] * D + decode_s_per_ctx[k] * C
  /// seconds (a linear model fitted from a few measured steps, or the cost model's; README "Generation in
  /// the simulator"). kv_bytes_per_token[k]: KV bytes one context token takes on each GPU of stage k.
  std::vector<double> gen_step_s, prefill_s_per_token, decode_s_per_seq, decode_s_per_ctx, kv_bytes_per_token;
  /// prefill_s_per_pair[k] (optional, with the generation fields; empty: 0): seconds per (new token, context
  /// token it attends) pair of a prefill chunk on stage k, on top of the linear model: a chunk of n tokens
  /// behind f tokens already in the KV attends n f + n (n + 1) / 2 pairs. Measured by `switchyard profile`
  /// from prefills at three prompt lengths (the cpu engine's attention is quadratic in the prompt: small-gpt
  /// took 7.5 / 57 / 177 ms for 8 / 128 / 240 prompt tokens); the cost model writes none.
  std::vector<double> prefill_s_per_pair;
  /// The serving runtime's own time around the engine's steps (optional, 0 when not measured; written only
  /// when > 0, so older profiles and their outputs stay as they were). Measured by `switchyard profile -c`
  /// from generations through an in-process runtime of the deployment (apps/profile_runtime.hpp):
  /// gen_hop_s: seconds per actor hop of a generation step (group -> stage 0 -> ... -> last stage -> group:
  /// pp + 1 hops), latency that occupies no stage; gen_request_s: fixed seconds per generation request
  /// (client -> ingress -> request actor -> group, and the first token's way back), on top of the steps.
  double gen_hop_s = 0, gen_request_s = 0;
  /// gen_fitted_live (optional, with the generation fields; default false): the generation costs were fitted
  /// to the steps of a live replay (`switchyard replay --fit-profile`), whose device times already hold the
  /// host's core sharing of that run: the simulator does not stretch these steps by host_cores again.
  bool gen_fitted_live = false;
  /// gen_step_sdlog[k] (optional, with the generation fields; empty: 0): how much live steps of stage k vary
  /// around the model above, the spread of log(device time / the model's cost) over the steps fitted ((its
  /// 84th - 16th percentile) / 2, `replay --fit-profile`). The generation simulator multiplies each step's
  /// cost on stage k by exp(sdlog Z - sdlog^2 / 2), Z standard normal (mean 1; seeded, deterministic).
  std::vector<double> gen_step_sdlog;
  /// request_s: fixed seconds per one-pass request in the serving runtime beyond its stages (client ->
  /// ingress -> request actor -> controller -> group -> first stage, and the answer's way back), measured
  /// the same way from one-pass requests sent one at a time (optional, 0 when not measured). The batching and
  /// swapping simulators add it per batch instead of AlpaServe's fixed GPU overhead (0.011 s) where present.
  double request_s = 0;

  /// Sizes consistent with config.pp, non-negative numbers; the message names the model and field.
  [[nodiscard]] status validate() const;
  /// max_k weight_bytes[k]: the per-GPU memory this model takes in a group (compat memory rule).
  double max_weight_bytes() const;
  /// sum_k stage_latency[b][k]; 0 when batch index b was not profiled
  double total_latency(std::size_t b = 0) const;
  /// The generation fields are present (one value per stage each).
  bool has_generation() const { return !gen_step_s.empty(); }
  /// Stage k's seconds for one step (the model above; prefill_pairs: the prefill chunks' attended pairs);
  /// requires has_generation().
  double step_seconds(std::size_t k, double prefill_tokens, double decodes, double decode_context,
                      double prefill_pairs = 0) const {
    return gen_step_s[k] + prefill_s_per_token[k] * prefill_tokens + decode_s_per_seq[k] * decodes +
           decode_s_per_ctx[k] * decode_context +
           (prefill_s_per_pair.empty() ? 0.0 : prefill_s_per_pair[k] * prefill_pairs);
  }
  /// The pairs a prefill chunk of `tokens` new tokens behind `fed` tokens already in the KV attends.
  static double prefill_pairs(double tokens, double fed) { return tokens * fed + tokens * (tokens + 1) / 2; }
};

class profile_db {
public:
  void put(profile_entry e); // replaces an existing entry of the same (model, config)
  const profile_entry* find(const std::string& model, parallel_config c) const;
  std::vector<parallel_config> configs(const std::string& model) const;
  std::vector<std::string> models() const;
  const std::map<std::pair<std::string, parallel_config>, profile_entry>& entries() const { return entries_; }
  /// What the profile is for (document field `device`, optional): a device kind the entries were measured
  /// on ("cpu", "cuda", "sim") or the GPU of the analytic cost model ("V100-16GB", ...); empty: unknown.
  const std::string& device() const { return device_; }
  void set_device(std::string d) { device_ = std::move(d); }
  /// cpu profiles (document field `host_cores`, optional, 0: unknown): how many device threads the host ran at
  /// full speed at once when the entries were measured (`profile --measure` on cpu: the same kernel on 1 and on
  /// all hardware threads at once, n x t1 / tn, within [1, n]; fewer than the hardware threads when other
  /// tenants take cores). cpu devices are threads sharing them: the simulator stretches a stage's compute by
  /// max(1, busy cpu devices / host_cores) (README "Fidelity on cpu devices").
  double host_cores() const { return host_cores_; }
  void set_host_cores(double n) { host_cores_ = n; }

  /// JSON (documented schema in the README) and msgpack (the on-disk default).
  std::string to_json() const;
  static result<profile_db> from_json(const std::string& text);
  std::string to_msgpack() const;
  static result<profile_db> from_msgpack(const std::string& bytes);
  /// By extension: .json or .msgpack.
  [[nodiscard]] status save(const std::string& path) const;
  static result<profile_db> load(const std::string& path);

private:
  std::map<std::pair<std::string, parallel_config>, profile_entry> entries_;
  std::string device_;
  double host_cores_ = 0;
};

/// The device kind a profile's `device` is for: "cpu", "cuda" and "sim" as they are, a GPU name of the
/// analytic cost model (anything else) "cuda", empty when unknown.
std::string device_kind_of(const std::string& device);

/// What the sim devices of config node `node` take (gpu/sim/sim_backend.hpp): the entries of the profile
/// database their `profile` names, per config model (a model's own entries, else its preset's), with the
/// simulator's stage latencies (stage_latency x (1 + 0.009 pp), as policies::profile_table computes them) and
/// load seconds. Errors: the file (with its message), a model without a (1,1)-or-any entry.
result<std::shared_ptr<const gpu::sim_cost_table>> load_sim_costs(const config::cluster_config& cfg, int node);

} // namespace sy::policies
