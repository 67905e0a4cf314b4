#pragma once
// The two `switchyard` executables (issue 11 §5: `simulate` starts in a few milliseconds).
//
// `switchyard` is the lean front: it runs the commands that need neither CAF nor the engine (presets, trace,
// simulate, plan, bench sim, bench planner: sy_policies_core and sy_sim only) itself, and execv's the full
// binary `switchyard-runtime`, found in its own folder (/proc/self/exe), with argv unchanged for every other
// command, for --help and for anything it does not recognise, so the runtime's parser answers those exactly
// as before. `switchyard-runtime` runs every command (the front's too). apps/front_main.cpp is the front's
// main(), apps/main.cpp the runtime's; both build their root parser with add_root_options.
#include <string>

namespace CLI {
class App;
}

namespace sy::apps {

/// The root of both parsers: the description, one subcommand required, --log-level (applied once parsed).
void add_root_options(CLI::App& app, std::string& log_level);

/// The `bench` group (one benchmark required); each benchmark registers itself under it.
CLI::App& add_bench_group(CLI::App& app);

/// True when argv (argv[0] the program) names a command the front runs itself: the first argument that is
/// not `--log-level LEVEL` / `--log-level=LEVEL` is presets, trace, simulate or plan, or it is bench and the
/// next one is sim or planner. False for no command, an option before the command (--help), or any other.
bool runs_in_front(int argc, const char* const* argv);

/// <the folder of /proc/self/exe>/switchyard-runtime; empty when /proc/self/exe cannot be read.
std::string runtime_path();

/// execv's runtime_path() with argv unchanged. Returns only on failure: prints why to stderr and returns
/// exit code 127 (the shell's "command not found").
int exec_runtime(char** argv);

} // namespace sy::apps
