// switchyard-sim: the simulator side of switchyard (apps/dispatch.hpp): presets, trace, simulate, plan,
// bench sim and bench planner, without CAF, BLAS or the HTTP stack. `switchyard` runs it for these commands.
#include <string>

#include <CLI/CLI.hpp>

#include "apps/cli_root.hpp"
#include "apps/commands.hpp"

int main(int argc, char** argv) {
  using namespace sy::apps;
  CLI::App app;
  std::string log_level = "info";
  add_root_options(app, log_level);
  int rc = 0;
  // The commands runs_in_sim (apps/dispatch.hpp) sends here, in the order of the runtime's --help.
  add_presets_command(app, rc);
  add_trace_command(app, rc);
  auto& bench = add_bench_group(app);
  add_simulate_command(app, rc);
  add_plan_command(app, rc);
  add_bench_sim_command(bench, rc);
  add_bench_planner_command(bench, rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}
