// switchyard-runtime: the full executable, every command. main() lists the commands; each command registers its
// options in its own apps/*_cmd.cpp (add_*_command, apps/commands.hpp) and runs through its run_* function.
// `switchyard` (apps/dispatch.hpp) execs it, argv unchanged, for every command switchyard-sim does not run.
#include <csignal>
#include <cstdio>
#include <string>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/cli_root.hpp"

namespace {

// SIGINT/SIGTERM must be blocked in every thread before any thread starts, or the kernel may deliver them to
// a thread that does not block them and the default action ends the process with no drain. OpenBLAS starts
// its worker threads in its shared library's constructor, which runs before main() and before this
// executable's own static initializers; only the executable's .preinit_array runs earlier. So block them
// there: every thread a library starts inherits the mask. main() unblocks them for its own thread (commands
// other than `up` stop on a signal as usual); `up` blocks them again before it starts any thread and waits
// for them with sigwait (apps/up_cmd.cpp).
void block_stop_signals(int, char**, char**) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

[[gnu::section(".preinit_array"), gnu::used]] void (*const sy_preinit_block_signals)(int, char**, char**) =
  &block_stop_signals;

void unblock_stop_signals_here() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &s, nullptr);
}

} // namespace

int main(int argc, char** argv) {
  unblock_stop_signals_here(); // see block_stop_signals above
  using namespace sy::apps;
  CLI::App app;
  std::string log_level = "info";
  add_root_options(app, log_level);
  int rc = 0;

  // Each command registers its options in its own apps/*_cmd.cpp; the order here is the order of --help.
  add_presets_command(app, rc);
  add_profile_command(app, rc);
  add_trace_command(app, rc);
  add_check_config_command(app, rc);
  add_run_model_command(app, rc);
  add_init_weights_command(app, rc);
  auto* bench = &add_bench_group(app);
  add_generate_command(app, rc);
  add_up_command(app, rc);
  add_node_command(app, rc);
  add_policy_command(app, rc);
  add_replay_command(app, rc);
  add_simulate_command(app, rc);
  add_plan_command(app, rc);
  add_bench_engine_command(*bench, rc);
  add_bench_generate_command(*bench, rc);
  add_bench_control_plane_command(*bench, rc);
  add_bench_swap_command(*bench, rc);
  add_bench_sim_command(*bench, rc);
  add_bench_planner_command(*bench, rc);
  add_bench_soak_command(*bench, rc);
  add_policy_host_command(app, rc);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}
