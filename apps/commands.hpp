#pragma once
// The subcommands of the `switchyard` executable. main.cpp (the only file that includes CLI11, which is
// slow to compile) parses the command line into these option structs and calls run_*; each run_* returns
// the process exit code and logs its own errors.
#include <string>

namespace sy::apps {

struct presets_options {};
int run_presets(const presets_options&);

/// switchyard check-config [-c FILE] [--print]: validate a deployment file (default: the embedded one).
struct check_config_options {
  std::string config_path; // empty: the embedded default (configs/local.yaml)
  bool print = false;      // print the normalized config as YAML
};
int run_check_config(const check_config_options&);

} // namespace sy::apps
