#pragma once
// The payloads of run-time policy swaps (DESIGN.md §4): a client asks the controller for the current policy
// of a kind or swaps it (controller_actor: policy_atom); the kind's policy actor builds the new policy and
// pushes it to its users (policy_update, local only). Plain aggregates; any thread.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

namespace sy::policies {
struct runtime_policy; // policies/policy_fn.hpp: a variant of the kinds' function types
} // namespace sy::policies

namespace sy::messages {

/// A runtime policy by kind (admission | dispatch | batching | eviction), name and numeric parameters.
struct policy_spec {
  std::string kind;
  std::string name;
  std::map<std::string, double> params;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, policy_spec& x) {
  return f(x.kind, x.name, x.params);
}

/// The answer to a policy query or swap: the policy of the kind now in effect, or (ok false) why the swap was
/// refused (the previous policy stays).
struct policy_info {
  bool ok = true;
  std::string reason;                 // !ok: why
  policy_spec current;
  std::string origin;                 // "built-in" or the plug-in's path
  std::vector<std::string> available; // every name the registry knows for the kind
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, policy_info& x) {
  return f(x.ok, x.reason, x.current, x.origin, x.available);
}

/// A new policy pushed by a policy actor to the actors that decide with it (the controller: admission and
/// dispatch; each model group: batching and eviction). Local only: it carries a function object.
struct policy_update {
  std::string kind;
  std::string name;
  /// The new policy; its alternative must match `kind` (declared here only: messages/ sits below policies/).
  std::shared_ptr<const policies::runtime_policy> policy;
};

} // namespace sy::messages

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(sy::messages::policy_update)
