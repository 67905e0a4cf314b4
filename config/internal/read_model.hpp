#pragma once
// Private to sy_config: one model entry (a `models:` item, or a standalone model spec file) -> model_config.
// Throws config_failure (see yaml_reader.hpp).
#include <string>

#include "config/cluster_config.hpp"
#include "config/internal/yaml_reader.hpp"

namespace sy::config::internal {

/// Reads, normalizes (preset expanded, defaults applied, slo_ms -> microseconds) and validates one model.
model_config read_model(yaml_reader& r, const YAML::Node& n, const std::string& path);

/// Writes the model's keys (normalized: inline architecture, preset kept for reference) into a YAML map
/// that the caller has opened.
void emit_model(YAML::Emitter& out, const model_config& m);

} // namespace sy::config::internal
