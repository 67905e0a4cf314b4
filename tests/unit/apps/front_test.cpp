// runs_in_front (apps/front.hpp): which argv the lean front runs itself and which it hands to switchyard-runtime.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "apps/front.hpp"

namespace {

bool front(std::vector<std::string> args) {
  args.insert(args.begin(), "switchyard");
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return sy::apps::runs_in_front(static_cast<int>(args.size()), argv.data());
}

} // namespace

TEST_CASE("the front runs presets, trace, simulate, plan, bench sim and bench planner itself") {
  CHECK(front({"presets"}));
  CHECK(front({"trace", "synth", "--models", "a"}));
  CHECK(front({"simulate", "--plan", "p.yaml", "--hardware", "V100-16GB"}));
  CHECK(front({"plan", "--help"}));
  CHECK(front({"bench", "sim"}));
  CHECK(front({"bench", "planner", "--devices", "8"}));
}

TEST_CASE("the front skips --log-level in both spellings before the command") {
  CHECK(front({"--log-level", "warn", "simulate"}));
  CHECK(front({"--log-level=debug", "plan"}));
  CHECK(front({"--log-level", "warn", "--log-level", "info", "presets"}));
  CHECK_FALSE(front({"--log-level", "warn", "up"}));
  CHECK_FALSE(front({"--log-level"}));     // the runtime's parser reports the missing value
  CHECK_FALSE(front({"--log-level", "plan"})); // "plan" is the level here; no command follows
}

TEST_CASE("every other command, the top-level help and anything unrecognised go to the runtime") {
  for (const char* c : {"up", "node", "replay", "check-config", "policy", "profile", "run-model", "init-weights",
                        "generate", "policy-host"})
    CHECK_FALSE(front({c}));
  CHECK_FALSE(front({}));
  CHECK_FALSE(front({"--help"}));
  CHECK_FALSE(front({"-h", "simulate"}));
  CHECK_FALSE(front({"bench"}));
  CHECK_FALSE(front({"bench", "--help"}));
  CHECK_FALSE(front({"bench", "engine"}));
  CHECK_FALSE(front({"bench", "soak", "sim"}));
  CHECK_FALSE(front({"simulat"}));
  CHECK_FALSE(front({"Simulate"}));
}

TEST_CASE("the runtime is looked for beside the running executable") {
  const auto p = sy::apps::runtime_path();
  REQUIRE(p.size() > std::string{"/switchyard-runtime"}.size());
  CHECK(p.substr(p.size() - 19) == "/switchyard-runtime");
  CHECK(p.front() == '/');
}
