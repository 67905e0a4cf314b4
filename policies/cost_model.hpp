#pragma once
// Analytic cost model (DESIGN.md §5): profile entries for a named GPU without running anything, so that a
// 64-GPU cluster can be planned and simulated on a laptop. Also `calibrate`, which fits the efficiency
// factors to measured entries. Value types; const member functions are safe from any thread.
//
// Per layer, per GPU of a stage with tensor degree op, batch b, sequence length S (tokens per request):
//   compute  = max(b*layer_flops(S)/op / (peak_flops*flops_eff), bytes / (hbm_bw*mem_eff)) + layer_overhead_s
//              bytes = layer weights/op + activations read and written (~ b*S*(12h + 2 ffn/op) elements)
//   comm     = 2 all-reduces when op > 1: alpha + 2(op-1)/op * b*S*h*dtype / (link_bw*link_eff)
// Stage 0 adds the embedding lookup (memory-bound); the last stage the final norm + head (pooler for
// encoders, the vocabulary projection of the last token for decoders); a stage k > 0 adds receiving its
// input activation b*S*h*dtype (NVLink inside a node, the network across nodes of 8 GPUs).
// Layers are cut into stages by the inter-op DP (policies/parallel/inter_op.hpp) on the batch-1 costs.
// Weights per GPU: layers/op, embeddings and head replicated on every tensor rank of their stage.
// load_seconds[k] = weight_bytes[k] / (pcie_bw * pcie_eff).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/model_spec.hpp"
#include "messages/result.hpp"
#include "policies/parallel/inter_op.hpp"
#include "policies/profile.hpp"

namespace sy::policies {

struct hardware_spec {
  std::string name;
  double peak_flops = 0;       // dense fp16 tensor-core FLOP/s
  double hbm_bw = 0;           // device memory bytes/s
  double pcie_bw = 0;          // host->device bytes/s (one direction)
  double link_bw = 0;          // NVLink bytes/s per GPU, one direction
  double link_latency_s = 0;   // alpha of one collective step inside a node
  double net_bw = 0;           // inter-node bytes/s per GPU (stage boundaries that cross nodes of 8)
  double net_latency_s = 0;
  std::int64_t memory_bytes = 0;
  int gpus_per_node = 8;
  // Achievable fractions of the peaks (what calibrate() fits) and a fixed per-layer overhead.
  double flops_eff = 0.5;
  double mem_eff = 0.8;
  double pcie_eff = 0.8;
  double link_eff = 0.7;
  double layer_overhead_s = 0;
  double stage_overhead_s = 0; // fixed cost of running one stage (launch, synchronization)
};

/// V100-16GB, A100-40GB, H100-80GB (SXM parts; numbers and their sources in cost_model.cpp).
result<hardware_spec> hardware(std::string_view name);
std::vector<std::string> hardware_names();

struct cost_model_options {
  /// Tokens per request at which entries are profiled (clipped to the model's max_seq). AlpaServe profiles
  /// each model at one fixed input length; 2048 puts bert-1.3b at ~0.09 s and bert-2.6b at ~0.19 s on one
  /// V100 at batch 1, close to AlpaServe's measured 0.099 s and 0.148 s; see README "Cost model".
  int seq_len = 2048;
  /// Per-GPU bytes a stage's weights may take; 0: the device's memory. Configs that cannot fit are skipped
  /// by profile_all and reported as a "memory" error by profile.
  std::int64_t memory_limit = 0;
};

/// Configurations placement uses: op in {1,2,4,8} x pp in {1,2,4,8,16} with op*pp <= 64 (pp <= layers).
std::vector<parallel_config> default_configs();

class cost_model {
public:
  explicit cost_model(hardware_spec hw, cost_model_options opt = {});

  const hardware_spec& hardware() const { return hw_; }
  const cost_model_options& options() const { return opt_; }

  /// Seconds of one transformer layer (compute + its tensor all-reduces) on each GPU of an op-way shard.
  double layer_seconds(const gpu::model_spec& m, int op, int batch) const;
  /// Stage cost for the DP and the entries: layers [begin, end) of stage k of pp.
  double stage_seconds(const gpu::model_spec& m, parallel_config c, int batch, int stage, int begin, int end) const;
  /// Per-GPU weight bytes of stage k holding layers [begin, end).
  std::int64_t stage_weight_bytes(const gpu::model_spec& m, parallel_config c, int stage, int begin, int end) const;

  /// Stage boundaries from the inter-op DP (minimize the max batch-1 stage latency under the memory limit).
  result<parallel::stage_split> split(const gpu::model_spec& m, parallel_config c) const;
  /// A full, validated entry for (m, c).
  result<profile_entry> profile(const gpu::model_spec& m, parallel_config c) const;
  /// Entries for every model and every config of `configs` that is valid (pp <= layers, op divides heads)
  /// and fits in memory; models whose spec is invalid are an error.
  result<profile_db> profile_all(const std::vector<gpu::model_spec>& models,
                                 const std::vector<parallel_config>& configs = default_configs()) const;

  /// Fits flops_eff, mem_eff, link_eff, layer_overhead_s and stage_overhead_s so that the predicted stage latencies match
  /// the measured entries (least squares on relative error, Levenberg-Marquardt). Entries whose model
  /// is not in `models` are ignored; no usable entry -> error. pcie_eff is fitted separately from
  /// load_seconds (closed form) when any measured load time is > 0.
  result<cost_model> calibrate(const profile_db& measured, const std::vector<gpu::model_spec>& models) const;
  /// Root-mean-square relative error of the predicted stage latencies against `measured`.
  double rms_relative_error(const profile_db& measured, const std::vector<gpu::model_spec>& models) const;

  /// (predicted - measured) / measured for every measured stage latency > 0 of a known model.
  std::vector<double> relative_errors(const profile_db& measured, const std::vector<gpu::model_spec>& models) const;

private:
  hardware_spec hw_;
  cost_model_options opt_;
  int seq(const gpu::model_spec& m) const;
};

} // namespace sy::policies
