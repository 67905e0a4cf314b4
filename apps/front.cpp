#include "apps/front.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <unistd.h>

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

bool runs_in_front(int argc, const char* const* argv) {
  int i = 1;
  while (i < argc) {
    const std::string_view a = argv[i];
    if (a == "--log-level") {
      i += 2;
      continue;
    }
    if (a.substr(0, 12) == "--log-level=") {
      ++i;
      continue;
    }
    break;
  }
  if (i >= argc)
    return false;
  const std::string_view cmd = argv[i];
  if (cmd == "presets" || cmd == "trace" || cmd == "simulate" || cmd == "plan")
    return true;
  if (cmd == "bench" && i + 1 < argc) {
    const std::string_view sub = argv[i + 1];
    return sub == "sim" || sub == "planner";
  }
  return false;
}

std::string runtime_path() {
  char buf[PATH_MAX];
  const auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return {};
  std::string p{buf, static_cast<std::size_t>(n)};
  const auto slash = p.rfind('/');
  return (slash == std::string::npos ? std::string{"."} : p.substr(0, slash)) + "/switchyard-runtime";
}

int exec_runtime(char** argv) {
  const std::string path = runtime_path();
  if (path.empty()) {
    std::fprintf(stderr, "switchyard: cannot read /proc/self/exe to find switchyard-runtime: %s\n",
                 std::strerror(errno));
    return 127;
  }
  ::execv(path.c_str(), argv);
  std::fprintf(stderr,
               "switchyard: cannot run %s (the full binary, which runs every command but presets, trace, simulate, "
               "plan, bench sim and bench planner; it is installed beside switchyard): %s\n",
               path.c_str(), std::strerror(errno));
  return 127;
}

} // namespace sy::apps
