#pragma once
// The named registry of the runtime policies (admission, dispatch, batching, eviction): config names pick
// them (cluster.yaml `policies:`), numeric parameters come as a name -> number map. Each entry is a
// type-erased copy of a pure policy value. Factories are pure; any thread.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "policies/admission/admission.hpp"
#include "policies/batching/batching.hpp"
#include "policies/dispatch/dispatch.hpp"
#include "policies/eviction/eviction.hpp"

namespace sy::policies {

using policy_numbers = std::map<std::string, double>;

using admission_fn = std::function<admission_decision(const admission_view&)>;
using dispatch_fn = std::function<int(const std::vector<dispatch_candidate>&)>;
using batching_fn = std::function<batching_decision(const batching_view&)>;
using eviction_fn = std::function<eviction_decision(const eviction_view&)>;

/// "slo" (param slack, default 1) | "none"
result<admission_fn> make_admission(const std::string& name, const policy_numbers& params = {});
/// "earliest-free" | "shortest-queue"
result<dispatch_fn> make_dispatch(const std::string& name, const policy_numbers& params = {});
/// "none" | "greedy" (param max_batch, default 8)
result<batching_fn> make_batching(const std::string& name, const policy_numbers& params = {});
/// "lru" | "demand-aware"
result<eviction_fn> make_eviction(const std::string& name, const policy_numbers& params = {});

/// The names the registry knows for a kind ("admission", "dispatch", "batching", "eviction").
std::vector<std::string> runtime_policy_names(const std::string& kind);

} // namespace sy::policies
