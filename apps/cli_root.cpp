#include "apps/cli_root.hpp"

#include <CLI/CLI.hpp>

#include "messages/logging.hpp"

namespace sy::apps {

void add_root_options(CLI::App& app, std::string& log_level) {
  app.description("switchyard: serve many deep-learning models on a shared GPU cluster");
  app.require_subcommand(1);
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  app.parse_complete_callback([&log_level] {
    if (!sy::set_log_level(log_level))
      throw CLI::ValidationError("--log-level", "unknown level '" + log_level + "'");
  });
}

CLI::App& add_bench_group(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "benchmarks that print numbers");
  bench->require_subcommand(1);
  return *bench;
}

} // namespace sy::apps
