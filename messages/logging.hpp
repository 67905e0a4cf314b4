#pragma once
// One spdlog logger per component (STYLE.md), created on first use, thread-safe.
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace sy {

/// The logger of a component ("engine", "config", "controller", ...). Output goes to stderr.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

/// Sets the level of every logger, present and future ("trace", "debug", "info", "warn", "error", "off").
/// Returns false for an unknown level name.
bool set_log_level(const std::string& level);

} // namespace sy
