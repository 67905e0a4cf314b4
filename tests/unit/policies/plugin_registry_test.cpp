// The policy registry with plug-ins: the example plug-in (examples/policies/) loads and decides like a
// built-in; broken libraries are refused with precise errors and leave the registry as it was.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "config/cluster_config.hpp"
#include "policies/policy_registry.hpp"

using namespace sy;
using namespace sy::policies;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::vector<dispatch_candidate> three_equal() {
  return {{0, 2ms, 0ns, 0}, {1, 2ms, 0ns, 0}, {2, 2ms, 0ns, 0}};
}

} // namespace

TEST_CASE("the example plug-in registers its policies and they decide like built-ins") {
  policy_registry reg;
  REQUIRE(reg.origin("dispatch", "least-loaded-random").empty());
  auto st = reg.load_plugin(SY_EXAMPLE_PLUGIN);
  REQUIRE(st.ok());
  CHECK(reg.origin("dispatch", "least-loaded-random") == SY_EXAMPLE_PLUGIN);
  CHECK(reg.origin("admission", "max-wait") == SY_EXAMPLE_PLUGIN);
  CHECK(reg.origin("dispatch", "earliest-free") == "built-in");
  auto names = reg.names("dispatch");
  CHECK(std::find(names.begin(), names.end(), "least-loaded-random") != names.end());
  CHECK(std::find(names.begin(), names.end(), "shortest-queue") != names.end());
  REQUIRE(reg.plugins() == std::vector<std::string>{SY_EXAMPLE_PLUGIN});

  auto d = reg.make_dispatch("least-loaded-random", {{"seed", 3}, {"tolerance_ms", 1}});
  REQUIRE(d);
  // equally loaded candidates: picks spread over all of them, and only them
  std::set<int> picked;
  for (int i = 0; i < 64; ++i)
    picked.insert((*d)(three_equal()));
  CHECK(picked == std::set<int>{0, 1, 2});
  // one clearly less loaded candidate: always it
  std::vector<dispatch_candidate> skewed = {{0, 50ms, 0ns, 3}, {4, 1ms, 0ns, 0}, {5, 2ms, 30ms, 0}};
  for (int i = 0; i < 16; ++i)
    CHECK((*d)(skewed) == 4);
  CHECK((*d)({}) == -1);
  // the same seed gives the same sequence (a reproducible run)
  auto d1 = reg.make_dispatch("least-loaded-random", {{"seed", 9}});
  auto d2 = reg.make_dispatch("least-loaded-random", {{"seed", 9}});
  for (int i = 0; i < 16; ++i)
    CHECK((*d1)(three_equal()) == (*d2)(three_equal()));

  auto a = reg.make_admission("max-wait", {{"max_wait_ms", 10}});
  REQUIRE(a);
  CHECK((*a)(admission_view{1s, 5ms, 0ns, 1ms}).accept);
  auto no = (*a)(admission_view{1s, 5ms, 6ms, 1ms});
  CHECK_FALSE(no.accept);
  CHECK(contains(no.reason, "max_wait_ms"));
  // the plug-in's own parameter checks reach the caller
  auto bad = reg.make_admission("max-wait", {{"max_wait_ms", -1}});
  REQUIRE_FALSE(bad);
  CHECK(contains(bad.err().message, "plug-in policy \"max-wait\""));
  CHECK(contains(bad.err().message, "refused its parameters: max_wait_ms: expected a number > 0"));
  // the generic entry point
  auto any = reg.make("dispatch", "least-loaded-random", {});
  REQUIRE(any);
  CHECK(std::get_if<dispatch_fn>(&any->fn) != nullptr);
  CHECK_FALSE(reg.make("placement", "x", {}));
}

TEST_CASE("broken plug-ins are refused with a precise error and register nothing") {
  policy_registry reg;
  auto err = [&](const std::string& path) {
    auto st = reg.load_plugin(path);
    REQUIRE_FALSE(st.ok());
    CHECK(st.err().category == "plugin");
    return st.err().message;
  };
  CHECK(err("/nonexistent/libnothing.so") == "plug-in /nonexistent/libnothing.so: no such file");
  auto text = std::string{"plugin_registry_test_not_a_library.so"};
  std::ofstream(text) << "just text\n";
  CHECK(contains(err(text), "not a shared library (no ELF header)"));
  std::remove(text.c_str());
  CHECK(contains(err(SY_BAD_NO_ENTRY_PLUGIN), "missing entry symbol sy_policy_plugin_abi"));
  CHECK(contains(err(SY_BAD_ABI_PLUGIN),
                 "built for policy plug-in ABI version 999, this switchyard speaks version 2"));
  CHECK(contains(err(SY_BAD_CLASH_PLUGIN),
                 "registers dispatch policy \"earliest-free\", which clashes with the built-in of that name"));
  CHECK(reg.plugins().empty());
  CHECK(reg.names("dispatch") == std::vector<std::string>{"earliest-free", "shortest-queue"});
  // the same library twice: its names exist already
  REQUIRE(reg.load_plugin(SY_EXAMPLE_PLUGIN).ok());
  CHECK(contains(err(SY_EXAMPLE_PLUGIN), "which " + std::string{SY_EXAMPLE_PLUGIN} + " registered already"));
  CHECK(reg.plugins().size() == 1);
}

TEST_CASE("a deployment's plug-ins load from the config and bad entries are located in the config file") {
  auto load = [](const std::string& plugins, const std::string& dispatch) {
    std::string yaml = "nodes:\n  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 1, memory: 64MiB}}\n"
                       "models:\n  - {preset: tiny-gpt, weights: {seed: 1}}\n"
                       "plugins: " + plugins + "\n"
                       "policies:\n  dispatch: " + dispatch + "\n";
    auto c = config::parse_config(yaml, "p.yaml", "/");
    REQUIRE(c);
    return load_policy_registry(*c);
  };
  auto ok = load("[\"" + std::string{SY_EXAMPLE_PLUGIN} + "\"]", "{name: least-loaded-random, seed: 2}");
  REQUIRE(ok);
  CHECK((*ok)->origin("dispatch", "least-loaded-random") == SY_EXAMPLE_PLUGIN);

  auto missing = load("[/nowhere/libx.so]", "earliest-free");
  REQUIRE_FALSE(missing);
  CHECK(contains(missing.err().message, "p.yaml:5:11: plugins[0]: expected a policy plug-in (shared library), "
                                        "found \"/nowhere/libx.so\": no such file"));
  auto abi = load("[\"" + std::string{SY_BAD_ABI_PLUGIN} + "\"]", "earliest-free");
  REQUIRE_FALSE(abi);
  CHECK(contains(abi.err().message, "p.yaml:5:11: plugins[0]: plug-in "));
  CHECK(contains(abi.err().message, "ABI version 999"));
  auto unknown = load("[\"" + std::string{SY_EXAMPLE_PLUGIN} + "\"]", "least-loaded-randon");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.err().message == "p.yaml:7:13: policies.dispatch: expected a dispatch policy (one of: earliest-free, "
                                 "shortest-queue, least-loaded-random), found \"least-loaded-randon\"");
  auto params = load("[\"" + std::string{SY_EXAMPLE_PLUGIN} + "\"]", "{name: least-loaded-random, tolerance_ms: -3}");
  REQUIRE_FALSE(params);
  CHECK(contains(params.err().message, "p.yaml:7:20: policies.dispatch: plug-in policy \"least-loaded-random\""));
  CHECK(contains(params.err().message, "tolerance_ms: expected a number >= 0"));
}

TEST_CASE("without plug-ins an unknown policy name is still a config error") {
  std::string yaml = "nodes:\n  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 1, memory: 64MiB}}\n"
                     "models:\n  - {preset: tiny-gpt, weights: {seed: 1}}\n"
                     "policies:\n  dispatch: least-loaded-random\n";
  auto c = config::parse_config(yaml, "p.yaml");
  REQUIRE_FALSE(c);
  CHECK(contains(c.err().message, "p.yaml:6:13: policies.dispatch: expected a dispatch policy"));
}

TEST_CASE("a re-placement plug-in that throws is counted and the placement is kept (the fallback never re-plans)") {
  policy_registry reg;
  REQUIRE(reg.load_plugin(SY_BAD_FAULTY_PLUGIN).ok());
  CHECK(reg.origin("replacement", "replan-throws") == SY_BAD_FAULTY_PLUGIN);
  auto names = reg.names("replacement");
  CHECK(std::find(names.begin(), names.end(), "windowed") != names.end());
  CHECK(std::find(names.begin(), names.end(), "replan-throws") != names.end());
  auto fn = reg.make_replacement("replan-throws");
  REQUIRE(fn.ok());
  replacement_view v;
  v.since_replan_s = 1000;
  v.observed_rps = {{"a", 5.0}};
  auto d = (*fn)(v);
  CHECK_FALSE(d.act);
  v.has_candidate = true;
  v.candidate_score = 1;
  CHECK_FALSE((*fn)(v).act);
  CHECK(reg.faults()->counts().at("replacement/replan-throws/threw") == 2);
  auto unknown = reg.make_replacement("nope");
  REQUIRE_FALSE(unknown.ok());
  CHECK(contains(unknown.err().message, "replacement: expected one of windowed, drift, none, replan-throws"));
}
