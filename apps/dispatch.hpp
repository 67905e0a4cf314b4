#pragma once
// The `switchyard` command is three executables in one folder (issue 11 §5: `simulate` starts in a few ms):
//
//   switchyard          the door: a tiny statically linked program (apps/dispatch_main.cpp) that looks at argv
//                       and execv's one of the two below, from its own folder (/proc/self/exe), argv unchanged.
//   switchyard-sim      the simulator side: presets, trace, simulate, plan, bench sim, bench planner; links
//                       sy_sim and sy_policies_core only (no CAF, BLAS, HTTP/TLS), so it loads a few small
//                       shared libraries (apps/sim_main.cpp).
//   switchyard-runtime  every command (apps/main.cpp): the runtime, the engine, and the simulator side too.
//
// The door holds no parser: --help, unknown commands and bad options all reach switchyard-runtime's parser,
// which lists every command; the two parsers share their root (apps/cli_root.hpp). Being static, the door adds
// well under a millisecond to every command (scripts/bench_startup.sh measures it).
// No allocation, no libstdc++ run-time: the functions here are plain C++ over argv.

namespace sy::apps {

/// True when argv (argv[0] the program) names a command switchyard-sim runs: the first argument that is not
/// `--log-level LEVEL` / `--log-level=LEVEL` is presets, trace, simulate or plan, or it is bench and the next
/// one is sim or planner. False for no command, an option before the command (--help), or any other.
bool runs_in_sim(int argc, const char* const* argv);

/// The executable beside this one that runs argv: "switchyard-sim" or "switchyard-runtime".
const char* executable_for(int argc, const char* const* argv);

/// Writes "<the folder of /proc/self/exe>/<name>" into buf (NUL-terminated). False, with errno set, when
/// /proc/self/exe cannot be read or the path does not fit.
bool path_beside_self(const char* name, char* buf, unsigned long size);

/// execv's the executable beside this one named `name` with argv unchanged. Returns only on failure: prints why
/// to stderr and returns exit code 127 (the shell's "command not found").
int exec_beside_self(const char* name, char** argv);

} // namespace sy::apps
