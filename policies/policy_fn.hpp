#pragma once
// The function types of the runtime policies (admission, dispatch, batching, eviction): what the controller
// and the model groups call on their hot path, what the registry builds by name and what a plug-in returns.
// Header-only and std-only, so that plug-ins compile against it without the rest of switchyard.
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "policies/admission/admission.hpp"
#include "policies/batching/batching.hpp"
#include "policies/dispatch/dispatch.hpp"
#include "policies/eviction/eviction.hpp"
#include "policies/replacement/replacement.hpp"

namespace sy::policies {

/// A policy's numeric parameters, from its config entry (`{name: greedy, max_batch: 8}`) or a swap request.
using policy_numbers = std::map<std::string, double>;

using admission_fn = std::function<admission_decision(const admission_view&)>;
/// Returns the chosen candidate's `group` (one of the candidates'), or -1 when there is none.
using dispatch_fn = std::function<int(const std::vector<dispatch_candidate>&)>;
using batching_fn = std::function<batching_decision(const batching_view&)>;
using eviction_fn = std::function<eviction_decision(const eviction_view&)>;
/// Re-placement (issue 11 §2): not a hot-path policy and not in runtime_policy; the controller holds it.
using replacement_fn = std::function<replacement_decision(const replacement_view&)>;

/// One runtime policy of any kind, as the registry builds it and a policy actor pushes it to its users
/// (messages::policy_update): the alternative is the kind.
struct runtime_policy {
  std::variant<admission_fn, dispatch_fn, batching_fn, eviction_fn> fn;
};

} // namespace sy::policies
