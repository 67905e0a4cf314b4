#pragma once
// Private to sy_config: the readers of the sections of a deployment file, in the order parse_config calls
// them (placement needs nodes and models). Each reads, normalizes and validates its section, throwing
// config_failure (see yaml_reader.hpp).
#include <string>
#include <vector>

#include "config/cluster_config.hpp"
#include "config/internal/yaml_reader.hpp"

namespace sy::config::internal {

std::vector<node_config> read_nodes(yaml_reader& r, const YAML::Node& n, const std::string& path);
std::vector<model_config> read_models(yaml_reader& r, const YAML::Node& n, const std::string& path);
/// `kind` is a key of known_policy_names; `n` a name or {<name_key>: ..., params...}. plugin_names: accept
/// names config does not know (plug-ins may provide them; policies::load_policy_registry checks them).
policy_config read_policy(yaml_reader& r, const YAML::Node& n, const std::string& path, const std::string& kind,
                          const std::string& name_key = "name", bool plugin_names = false);
policies_config read_policies(yaml_reader& r, const YAML::Node& n, const std::string& path, bool plugin_names);
/// `plugins: [path, ...]`: shared libraries, resolved against the config file's folder.
std::vector<plugin_config> read_plugins(yaml_reader& r, const YAML::Node& n, const std::string& path);
/// Reads placement and checks it against c.nodes and c.models (which must be read already).
placement_config read_placement(yaml_reader& r, const YAML::Node& n, const std::string& path,
                                const cluster_config& c);
/// ingress, metrics, controller, runtime (any may be absent: defaults), then port clashes between them.
void read_endpoints(yaml_reader& r, const YAML::Node& root, cluster_config& c);

} // namespace sy::config::internal
