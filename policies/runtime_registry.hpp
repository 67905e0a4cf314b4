#pragma once
// The named registry of the runtime policies (admission, dispatch, batching, eviction): config names pick
// them (cluster.yaml `policies:`), numeric parameters come as a name -> number map. Each entry is a
// type-erased copy of a pure policy value. Factories are pure; any thread.
// Plug-in policies join these in policies/policy_registry.hpp.
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "policies/policy_fn.hpp"

namespace sy::policies {

/// "slo" (param slack, default 1) | "none"
result<admission_fn> make_admission(const std::string& name, const policy_numbers& params = {});
/// "earliest-free" | "shortest-queue"
result<dispatch_fn> make_dispatch(const std::string& name, const policy_numbers& params = {});
/// "none" | "greedy" (param max_batch, default 8)
result<batching_fn> make_batching(const std::string& name, const policy_numbers& params = {});
/// "lru" | "demand-aware" | "swap-cost-aware" (param default_gbps)
result<eviction_fn> make_eviction(const std::string& name, const policy_numbers& params = {});

/// "windowed" (interval_s 30, margin 0.02) | "drift" (threshold 0.5, min_interval_s 10, margin 0.02) | "none"
result<replacement_fn> make_replacement(const std::string& name, const policy_numbers& params = {});

/// The names the registry knows for a kind ("admission", "dispatch", "batching", "eviction").
std::vector<std::string> runtime_policy_names(const std::string& kind);

} // namespace sy::policies
