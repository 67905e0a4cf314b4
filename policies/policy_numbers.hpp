#pragma once
// A policy's config parameters (config::policy_params) as the name -> number map the policy factories take
// (runtime_registry.hpp, policy_registry.hpp). Pure; any thread. Part of sy_policies_core, so the simulator
// and the planner build policies from a config without the plug-in machinery.
#include "config/cluster_config.hpp"
#include "policies/policy_fn.hpp"

namespace sy::policies {

/// A policy's config parameters as numbers (booleans as 0/1; strings are ignored).
policy_numbers numbers_of(const config::policy_params& p);

} // namespace sy::policies
