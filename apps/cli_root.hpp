#pragma once
// The root of the command-line parser that switchyard-sim (apps/sim_main.cpp) and switchyard-runtime
// (apps/main.cpp) share, so that the commands both run parse and print their help the same way.
// See apps/dispatch.hpp for which executable runs which command.
#include <string>

namespace CLI {
class App;
}

namespace sy::apps {

/// The root of both parsers: the description, one subcommand required, --log-level (applied once parsed).
void add_root_options(CLI::App& app, std::string& log_level);

/// The `bench` group (one benchmark required); each benchmark registers itself under it.
CLI::App& add_bench_group(CLI::App& app);

} // namespace sy::apps
