#include "actors/metrics_text.hpp"

#include "actors/metrics.hpp"
#include "actors/placement_metrics_text.hpp"

#include <fmt/format.h>

namespace sy::actors {
namespace {

void head(std::string& o, const char* name, const char* type, const char* help) {
  o += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

} // namespace

std::string render_snapshot(const messages::metrics_snapshot& s) {
  std::string o;
  head(o, "sy_requests_total", "counter", "Requests answered by the controller, by model and status");
  for (const auto& [model, c] : s.requests) {
    auto m = prometheus_label_value(model);
    o += fmt::format("sy_requests_total{{model=\"{}\",status=\"ok\"}} {}\n", m, c.ok);
    o += fmt::format("sy_requests_total{{model=\"{}\",status=\"rejected\"}} {}\n", m, c.rejected);
    o += fmt::format("sy_requests_total{{model=\"{}\",status=\"deadline_exceeded\"}} {}\n", m, c.deadline_exceeded);
    o += fmt::format("sy_requests_total{{model=\"{}\",status=\"failed\"}} {}\n", m, c.failed);
  }
  head(o, "sy_request_latency_seconds", "histogram", "Arrival to answer of ok requests, by model");
  for (const auto& [model, h] : s.latency) {
    auto m = prometheus_label_value(model);
    for (std::size_t i = 0; i < h.bounds.size() && i < h.counts.size(); ++i)
      o += fmt::format("sy_request_latency_seconds_bucket{{model=\"{}\",le=\"{}\"}} {}\n", m, prometheus_number(h.bounds[i]),
                       h.counts[i]);
    o += fmt::format("sy_request_latency_seconds_bucket{{model=\"{}\",le=\"+Inf\"}} {}\n", m, h.count);
    o += fmt::format("sy_request_latency_seconds_sum{{model=\"{}\"}} {}\n", m, prometheus_number(h.sum));
    o += fmt::format("sy_request_latency_seconds_count{{model=\"{}\"}} {}\n", m, h.count);
  }
  head(o, "sy_queue_depth", "gauge", "Requests queued and not yet batched, by group and model");
  for (const auto& [key, d] : s.queue_depth) {
    auto slash = key.find('/');
    auto group = slash == std::string::npos ? key : key.substr(0, slash);
    auto model = slash == std::string::npos ? std::string() : key.substr(slash + 1);
    o += fmt::format("sy_queue_depth{{group=\"{}\",model=\"{}\"}} {}\n", prometheus_label_value(group), prometheus_label_value(model), d);
  }
  auto by_group_model = [&](const char* name, const char* type, const char* help,
                            const std::map<std::string, std::int64_t>& m, const char* second) {
    head(o, name, type, help);
    for (const auto& [key, v] : m) {
      auto slash = key.find('/');
      auto group = slash == std::string::npos ? key : key.substr(0, slash);
      auto rest = slash == std::string::npos ? std::string() : key.substr(slash + 1);
      o += fmt::format("{}{{group=\"{}\",{}=\"{}\"}} {}\n", name, prometheus_label_value(group), second,
                       prometheus_label_value(rest), v);
    }
  };
  by_group_model("sy_generation_running", "gauge", "Generating sequences admitted (holding KV), by group and model",
                 s.gen_running, "model");
  by_group_model("sy_generation_waiting", "gauge", "Generating sequences waiting for admission, by group and model",
                 s.gen_waiting, "model");
  by_group_model("sy_generation_preemptions_total", "counter",
                 "Sequences whose KV was dropped for lack of blocks and recomputed, by group and model", s.preemptions,
                 "model");
  by_group_model("sy_generation_kv_swaps_total", "counter",
                 "Of the preemptions: sequences whose KV was swapped to pinned host memory and back (gen_preemption: "
                 "swap), by group and model", s.kv_swaps, "model");
  by_group_model("sy_generation_kv_swap_fallbacks_total", "counter",
                 "Swaps that failed on some stage and were recomputed instead, by group and model", s.kv_swap_fallbacks,
                 "model");
  by_group_model("sy_generation_tokens_total", "counter", "New tokens sampled, by group and model (rate: tokens/s)",
                 s.gen_tokens, "model");
  by_group_model("sy_kv_blocks_used", "gauge", "KV cache blocks handed out on a stage's devices, by group and stage",
                 s.kv_blocks_used, "stage");
  by_group_model("sy_kv_blocks_free", "gauge", "Free KV blocks in the slabs a stage's devices hold, by group and stage",
                 s.kv_blocks_free, "stage");
  head(o, "sy_swap_loads_total", "counter", "Model shard loads (host to device), by device");
  for (const auto& [dev, w] : s.swaps)
    o += fmt::format("sy_swap_loads_total{{device=\"{}\"}} {}\n", prometheus_label_value(dev), w.loads);
  head(o, "sy_swap_evictions_total", "counter", "Model shard evictions, by device");
  for (const auto& [dev, w] : s.swaps)
    o += fmt::format("sy_swap_evictions_total{{device=\"{}\"}} {}\n", prometheus_label_value(dev), w.evictions);
  head(o, "sy_swap_bytes_total", "counter", "Bytes loaded host to device, by device");
  for (const auto& [dev, w] : s.swaps)
    o += fmt::format("sy_swap_bytes_total{{device=\"{}\"}} {}\n", prometheus_label_value(dev), w.bytes);
  head(o, "sy_swap_seconds_total", "counter", "Seconds spent loading, by device");
  for (const auto& [dev, w] : s.swaps)
    o += fmt::format("sy_swap_seconds_total{{device=\"{}\"}} {}\n", prometheus_label_value(dev), prometheus_number(w.seconds));
  head(o, "sy_device_weight_bytes", "gauge", "Bytes of resident weight shards, by device");
  for (const auto& [dev, w] : s.swaps)
    o += fmt::format("sy_device_weight_bytes{{device=\"{}\"}} {}\n", prometheus_label_value(dev), w.used_bytes);
  head(o, "sy_device_weight_budget_bytes", "gauge", "Weight memory budget, by device");
  for (const auto& [dev, w] : s.swaps)
    o += fmt::format("sy_device_weight_budget_bytes{{device=\"{}\"}} {}\n", prometheus_label_value(dev), w.budget_bytes);
  head(o, "sy_device_kv_blocks_used", "gauge",
       "KV cache blocks handed out from a device's pool (shared by every model resident there), by device");
  for (const auto& [dev, w] : s.swaps)
    o += fmt::format("sy_device_kv_blocks_used{{device=\"{}\"}} {}\n", prometheus_label_value(dev), w.kv_blocks_used);
  head(o, "sy_device_kv_blocks_free", "gauge", "Free KV blocks in the slabs of a device's pool, by device");
  for (const auto& [dev, w] : s.swaps)
    o += fmt::format("sy_device_kv_blocks_free{{device=\"{}\"}} {}\n", prometheus_label_value(dev), w.kv_blocks_free);
  head(o, "sy_resident_models", "gauge", "1 for each model resident on a group");
  for (const auto& [group, models] : s.resident)
    for (const auto& m : models)
      o += fmt::format("sy_resident_models{{group=\"{}\",model=\"{}\"}} 1\n", prometheus_label_value(group), prometheus_label_value(m));
  head(o, "sy_rejected_total", "counter", "Requests the controller rejected, by reason");
  for (const auto& [reason, n] : s.rejected_by_reason)
    o += fmt::format("sy_rejected_total{{reason=\"{}\"}} {}\n", prometheus_label_value(reason), n);
  head(o, "sy_policy_faults_total", "counter",
       "Plug-in policy decisions replaced by the built-in default, by kind, policy and fault (threw, invalid)");
  for (const auto& [key, n] : s.policy_faults) {
    auto a = key.find('/'), b = key.rfind('/');
    if (a == std::string::npos || b == a)
      continue;
    o += fmt::format("sy_policy_faults_total{{kind=\"{}\",policy=\"{}\",fault=\"{}\"}} {}\n", prometheus_label_value(key.substr(0, a)),
                     prometheus_label_value(key.substr(a + 1, b - a - 1)), prometheus_label_value(key.substr(b + 1)), n);
  }
  head(o, "sy_replacements_total", "counter", "Groups built after a node loss for the replicas it took");
  o += fmt::format("sy_replacements_total {}\n", s.replacements);
  head(o, "sy_models_moved_total", "counter", "Model replicas re-placed onto those groups");
  o += fmt::format("sy_models_moved_total {}\n", s.models_moved);
  head(o, "sy_in_flight", "gauge", "Requests accepted by the controller and not yet answered");
  o += fmt::format("sy_in_flight {}\n", s.in_flight);
  o += render_placement_metrics(s); // issue 11 §2
  return o;
}

} // namespace sy::actors
