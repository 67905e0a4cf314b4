// The door `switchyard` (apps/dispatch.hpp): which argv switchyard-sim runs and which switchyard-runtime.
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "apps/dispatch.hpp"

namespace {

std::string exe_for(std::vector<std::string> args) {
  args.insert(args.begin(), "switchyard");
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return sy::apps::executable_for(static_cast<int>(args.size()), argv.data());
}

const std::string sim = "switchyard-sim", runtime = "switchyard-runtime";

} // namespace

TEST_CASE("switchyard-sim runs presets, trace, simulate, plan, bench sim and bench planner") {
  CHECK(exe_for({"presets"}) == sim);
  CHECK(exe_for({"trace", "synth", "--models", "a"}) == sim);
  CHECK(exe_for({"simulate", "--plan", "p.yaml", "--hardware", "V100-16GB"}) == sim);
  CHECK(exe_for({"plan", "--help"}) == sim);
  CHECK(exe_for({"bench", "sim"}) == sim);
  CHECK(exe_for({"bench", "planner", "--devices", "8"}) == sim);
}

TEST_CASE("the door skips --log-level in both spellings before the command") {
  CHECK(exe_for({"--log-level", "warn", "simulate"}) == sim);
  CHECK(exe_for({"--log-level=debug", "plan"}) == sim);
  CHECK(exe_for({"--log-level", "warn", "--log-level", "info", "presets"}) == sim);
  CHECK(exe_for({"--log-level", "warn", "up"}) == runtime);
  CHECK(exe_for({"--log-level"}) == runtime);         // the runtime's parser reports the missing value
  CHECK(exe_for({"--log-level", "plan"}) == runtime); // "plan" is the level here; no command follows
}

TEST_CASE("every other command, the top-level help and anything unrecognised go to switchyard-runtime") {
  for (const char* c : {"up", "node", "replay", "check-config", "policy", "profile", "run-model", "init-weights",
                        "generate", "policy-host"})
    CHECK(exe_for({c}) == runtime);
  CHECK(exe_for({}) == runtime);
  CHECK(exe_for({"--help"}) == runtime);
  CHECK(exe_for({"-h", "simulate"}) == runtime);
  CHECK(exe_for({"bench"}) == runtime);
  CHECK(exe_for({"bench", "--help"}) == runtime);
  CHECK(exe_for({"bench", "engine"}) == runtime);
  CHECK(exe_for({"bench", "soak", "sim"}) == runtime);
  CHECK(exe_for({"simulat"}) == runtime);
  CHECK(exe_for({"Simulate"}) == runtime);
}

TEST_CASE("the executables are looked for beside the running one, and a path that does not fit is an error") {
  char buf[PATH_MAX];
  REQUIRE(sy::apps::path_beside_self("switchyard-sim", buf, sizeof buf));
  const std::string p = buf;
  REQUIRE(p.size() > std::string{"/switchyard-sim"}.size());
  CHECK(p.front() == '/');
  CHECK(p.substr(p.size() - 15) == "/switchyard-sim");
  CHECK(p.substr(0, p.size() - 15) == std::string{buf}.substr(0, p.rfind('/')));
  char small[8];
  errno = 0;
  CHECK_FALSE(sy::apps::path_beside_self("switchyard-sim", small, sizeof small));
  CHECK(errno == ENAMETOOLONG);
}
