#pragma once
// A placement asked for while serving (POST /v2/placement, issue 11 §2): the body is a plan file's text
// (`switchyard plan` writes it; YAML or JSON, devices as global indices, one window) or the JSON that GET
// /v2/placement answers (groups with tensor, pipeline, devices "node:ordinal" and model names). Parsed and
// checked against the deployment; every error names what is wrong and where, and nothing changes. Pure
// functions; any thread.
//
// Checked: the format, models and devices the config has, op x pipeline = device count, one group per device,
// the tensor ranks of a stage on one node, every model of the deployment with at least one replica, and the
// shards of each group's models within its devices' weight budget (runtime weight fraction of the smallest
// device's memory).
#include <string>
#include <vector>

#include "actors/internal/group_plan.hpp"
#include "config/cluster_config.hpp"
#include "messages/result.hpp"

namespace sy::actors::internal {

/// The groups of `text` for `cfg`. Errors (category "placement"): "<source>: <where>: <what>".
result<std::vector<planned_group>> parse_placement(const config::cluster_config& cfg, const std::string& text,
                                                   const std::string& source);

/// Checks groups made elsewhere (a re-placement policy's plan) like parse_placement checks a body.
[[nodiscard]] status check_placement(const config::cluster_config& cfg, const std::vector<planned_group>& groups,
                                     const std::string& source);

/// "node:ordinal, ..." of devices.
std::string devices_label(const config::cluster_config& cfg, const std::vector<config::device_ref>& devices);

} // namespace sy::actors::internal
