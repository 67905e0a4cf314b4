// switchyard: the lean front (apps/front.hpp). Runs presets, trace, simulate, plan, bench sim and bench planner
// here; every other command, --help included, runs in switchyard-runtime (execv, argv unchanged).
#include <string>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/front.hpp"

int main(int argc, char** argv) {
  using namespace sy::apps;
  if (!runs_in_front(argc, argv))
    return exec_runtime(argv);
  CLI::App app;
  std::string log_level = "info";
  add_root_options(app, log_level);
  int rc = 0;
  // Only the commands runs_in_front accepts; the runtime's main (apps/main.cpp) lists them all for --help.
  add_presets_command(app, rc);
  add_trace_command(app, rc);
  auto* bench = &add_bench_group(app);
  add_simulate_command(app, rc);
  add_plan_command(app, rc);
  add_bench_sim_command(*bench, rc);
  add_bench_planner_command(*bench, rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}
