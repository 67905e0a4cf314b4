#pragma once
// A plan file checked against the deployment that will run it (`switchyard check-config` with
// `placement: {plan: ...}`, `switchyard simulate -c`, the runtime): the plan's models exist in the config,
// the plan needs no more devices than the config has, group devices are valid global device indices
// (cluster_config::global_index order), used by one group per window, and each pipeline stage's tensor ranks
// sit on one node. Errors name the plan file, the key path, what was expected and what was found.
#include <string>

#include "config/cluster_config.hpp"
#include "messages/result.hpp"
#include "policies/placement/plan_file.hpp"

namespace sy::policies {

[[nodiscard]] status check_plan(const plan_file& plan, const config::cluster_config& cfg,
                                const std::string& plan_source);

} // namespace sy::policies
