#pragma once
// Private to sy_policies: the guard around a plug-in policy (see policy_registry.hpp). Checks each decision
// against its view, falls back to the built-in default on a throw or an invalid decision, counts and logs
// the fault. Holds the plug-in library loaded while any copy of the guarded policy lives.
#include <memory>
#include <string>

#include "policies/policy_fn.hpp"
#include "policies/policy_registry.hpp"

namespace sy::policies::internal {

struct guard_context {
  std::shared_ptr<plugin_library> library; // keeps the plug-in's code loaded
  std::string name;                        // the policy's registered name
  std::shared_ptr<policy_faults> faults;
};

admission_fn guard(guard_context ctx, admission_fn inner, admission_fn fallback);
dispatch_fn guard(guard_context ctx, dispatch_fn inner, dispatch_fn fallback);
batching_fn guard(guard_context ctx, batching_fn inner, batching_fn fallback);
eviction_fn guard(guard_context ctx, eviction_fn inner, eviction_fn fallback);
replacement_fn guard(guard_context ctx, replacement_fn inner, replacement_fn fallback);

/// Why a decision is invalid for its view; empty when it is valid (exposed for tests).
std::string check_decision(const admission_view& v, const admission_decision& d);
std::string check_decision(const std::vector<dispatch_candidate>& v, int d);
std::string check_decision(const batching_view& v, const batching_decision& d);
std::string check_decision(const eviction_view& v, const eviction_decision& d);
std::string check_decision(const replacement_view& v, const replacement_decision& d); // always valid

} // namespace sy::policies::internal
