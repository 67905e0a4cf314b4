// switchyard: the one executable. Subcommands are parsed here (CLI11 stays in this file) and run by the
// run_* functions of apps/commands.hpp.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "messages/logging.hpp"

int main(int argc, char** argv) {
  using namespace sy::apps;
  CLI::App app{"switchyard: serve many deep-learning models on a shared GPU cluster"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  int rc = 0;

  presets_options presets_opts;
  app.add_subcommand("presets", "list the built-in model presets")->callback([&] {
    rc = run_presets(presets_opts);
  });

  check_config_options check_opts;
  auto* check = app.add_subcommand("check-config", "validate a deployment file and print it normalized");
  check->add_option("-c,--config", check_opts.config_path, "deployment YAML (default: the embedded default)");
  check->add_flag("--print", check_opts.print, "print the normalized config as YAML");
  check->callback([&] { rc = run_check_config(check_opts); });

  app.parse_complete_callback([&] {
    if (!sy::set_log_level(log_level))
      throw CLI::ValidationError("--log-level", "unknown level '" + log_level + "'");
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}
