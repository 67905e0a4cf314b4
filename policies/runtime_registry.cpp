#include "policies/runtime_registry.hpp"

namespace sy::policies {

namespace {

error unknown(const std::string& kind, const std::string& name) {
  std::string known;
  for (const auto& n : runtime_policy_names(kind))
    known += (known.empty() ? "" : ", ") + n;
  return make_error("policy", kind + ": expected one of " + known + ", found \"" + name + "\"");
}

result<double> number(const policy_numbers& p, const std::string& kind, const std::string& key, double fallback,
                      double min) {
  auto i = p.find(key);
  if (i == p.end())
    return fallback;
  if (!(i->second >= min))
    return make_error("policy", kind + "." + key + ": expected a number >= " + std::to_string(min) + ", found "
                                  + std::to_string(i->second));
  return i->second;
}

} // namespace

result<admission_fn> make_admission(const std::string& name, const policy_numbers& params) {
  if (name == "none")
    return admission_fn{accept_all_policy{}};
  if (name == "slo") {
    auto slack = number(params, "admission", "slack", 1.0, 0.0);
    if (!slack)
      return slack.err();
    return admission_fn{slo_admission_policy{*slack}};
  }
  return unknown("admission", name);
}

result<dispatch_fn> make_dispatch(const std::string& name, const policy_numbers&) {
  if (name == "earliest-free")
    return dispatch_fn{earliest_free_dispatch_policy{}};
  if (name == "shortest-queue")
    return dispatch_fn{shortest_queue_dispatch_policy{}};
  return unknown("dispatch", name);
}

result<batching_fn> make_batching(const std::string& name, const policy_numbers& params) {
  if (name == "none")
    return batching_fn{no_batching_policy{}};
  if (name == "greedy") {
    auto mb = number(params, "batching", "max_batch", 8, 1);
    if (!mb)
      return mb.err();
    return batching_fn{greedy_batching_policy{static_cast<std::size_t>(*mb)}};
  }
  return unknown("batching", name);
}

result<eviction_fn> make_eviction(const std::string& name, const policy_numbers& params) {
  if (name == "lru")
    return eviction_fn{lru_eviction_policy{}};
  if (name == "demand-aware")
    return eviction_fn{demand_aware_eviction_policy{}};
  if (name == "swap-cost-aware") {
    auto gbps = number(params, "eviction", "default_gbps", 10, 1e-6);
    if (!gbps)
      return gbps.err();
    return eviction_fn{swap_cost_aware_eviction_policy{*gbps * 1e9}};
  }
  return unknown("eviction", name);
}

result<replacement_fn> make_replacement(const std::string& name, const policy_numbers& params) {
  auto margin = number(params, "replacement", "margin", 0.02, 0.0);
  if (!margin)
    return margin.err();
  if (name == "none")
    return replacement_fn{no_replacement_policy{}};
  if (name == "windowed") {
    auto interval = number(params, "replacement", "interval_s", 30, 0.01);
    if (!interval)
      return interval.err();
    return replacement_fn{windowed_replacement_policy{*interval, *margin}};
  }
  if (name == "drift") {
    auto threshold = number(params, "replacement", "threshold", 0.5, 0.0);
    if (!threshold)
      return threshold.err();
    auto min_interval = number(params, "replacement", "min_interval_s", 10, 0.0);
    if (!min_interval)
      return min_interval.err();
    return replacement_fn{drift_replacement_policy{*threshold, *min_interval, *margin}};
  }
  return unknown("replacement", name);
}

std::vector<std::string> runtime_policy_names(const std::string& kind) {
  if (kind == "admission")
    return {"slo", "none"};
  if (kind == "dispatch")
    return {"earliest-free", "shortest-queue"};
  if (kind == "batching")
    return {"none", "greedy"};
  if (kind == "eviction")
    return {"lru", "demand-aware", "swap-cost-aware"};
  if (kind == "replacement")
    return {"windowed", "drift", "none"};
  return {};
}

} // namespace sy::policies
