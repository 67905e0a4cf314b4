// placement: {plan: file}: the plan `switchyard plan` writes drives the groups the runtime builds
// (actors/internal/group_plan.hpp), with precise errors when the plan does not fit the config.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "actors/internal/group_plan.hpp"
#include "config/cluster_config.hpp"
#include "policies/placement/plan_check.hpp"
#include "policies/placement/plan_file.hpp"

using namespace sy;

namespace {

const char* nodes_and_models = R"(
nodes:
  - {name: a, address: 127.0.0.1:0, devices: {kind: cpu, count: 2, memory: 64MiB}}
  - {name: b, address: 127.0.0.1:1, devices: {kind: cpu, count: 2, memory: 64MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}}
  - {preset: tiny-bert, weights: {seed: 2}}
  - {preset: small-gpt, weights: {seed: 3}}
)";

config::cluster_config cfg_with(const std::string& placement, const std::string& dir = ".") {
  auto c = config::parse_config(std::string(nodes_and_models) + placement, "test.yaml", dir);
  REQUIRE(c);
  return *c;
}

policies::plan_file plan_of(const std::string& text) {
  auto p = policies::parse_plan(text, "plan.yaml");
  REQUIRE(p);
  return *p;
}

std::string error_of(const std::string& plan_text) {
  auto cfg = cfg_with("placement: {policy: mp-round-robin}\n");
  auto g = actors::internal::groups_from_plan(cfg, plan_of(plan_text), "plan.yaml");
  REQUIRE_FALSE(g);
  return g.err().message;
}

} // namespace

TEST_CASE("a plan's groups become the runtime's groups on the config's devices, models and degrees") {
  // Devices are global indices: node a has 0 and 1, node b has 2 and 3. The plan lists its models in
  // another order than the config, so indices must be translated by name.
  auto plan = plan_of(R"(models: [small-gpt, tiny-gpt, tiny-bert]
groups:
  - {op: 1, pp: 2, devices: [1, 2], models: [small-gpt, tiny-gpt]}
  - {op: 1, pp: 1, devices: [3], models: [tiny-bert, tiny-gpt]}
)");
  auto cfg = cfg_with("placement: {policy: mp-round-robin}\n");
  auto gs = actors::internal::groups_from_plan(cfg, plan, "plan.yaml");
  REQUIRE(gs);
  REQUIRE(gs->size() == 2);
  const auto& g0 = (*gs)[0];
  CHECK(g0.name == "g0");
  CHECK(g0.op == 1);
  CHECK(g0.pp == 2);
  REQUIRE(g0.devices.size() == 2);
  CHECK(cfg.nodes[static_cast<std::size_t>(g0.devices[0].node)].name == "a");
  CHECK(g0.devices[0].device == 1);
  CHECK(cfg.nodes[static_cast<std::size_t>(g0.devices[1].node)].name == "b");
  CHECK(g0.devices[1].device == 0);
  CHECK(g0.models == std::vector<int>{cfg.model_index("small-gpt"), cfg.model_index("tiny-gpt")});
  CHECK((*gs)[1].models == std::vector<int>{cfg.model_index("tiny-bert"), cfg.model_index("tiny-gpt")});
}

TEST_CASE("a config with placement: {plan: file} plans its groups from the file, with shard sizes") {
  char dir[] = "/tmp/sy_plan_placement_XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  std::string path = std::string(dir) + "/plan.yaml";
  std::ofstream(path) << "policy: mp-search\ndevices: 4\nmodels: [tiny-gpt, tiny-bert]\nwindows:\n  - start: 0\n"
                         "    groups:\n      - {op: 2, pp: 1, devices: [2, 3], models: [tiny-gpt]}\n"
                         "      - {op: 1, pp: 1, devices: [0], models: [tiny-bert, tiny-gpt]}\n";
  auto cfg = cfg_with("placement: {plan: plan.yaml}\n", dir);
  REQUIRE(cfg.placement.mode == config::placement_mode::plan_file);
  auto planned = actors::internal::plan_groups(cfg);
  REQUIRE(planned);
  REQUIRE(planned->size() == 2);
  const auto& tp = (*planned)[0];
  CHECK(tp.op == 2);
  CHECK(tp.pp == 1);
  CHECK(tp.bytes.count("tiny-gpt") == 1);
  CHECK(tp.bytes.count("tiny-bert") == 0);
  const auto& single = (*planned)[1];
  REQUIRE(single.bytes.count("tiny-gpt") == 1);
  // Tensor degree 2 halves the big matrices: each rank's shard is smaller than the whole model.
  CHECK(tp.bytes.at("tiny-gpt") < single.bytes.at("tiny-gpt"));
  std::remove(path.c_str());
  rmdir(dir);

  auto missing = cfg_with("placement: {plan: no-such-plan.yaml}\n", "/tmp");
  auto err = actors::internal::plan_groups(missing);
  REQUIRE_FALSE(err);
  CHECK_THAT(err.err().message, Catch::Contains("placement.plan") && Catch::Contains("no-such-plan.yaml"));
}

TEST_CASE("a plan that does not fit the config is refused with what and where") {
  CHECK_THAT(error_of("models: [tiny-gpt, bert-2.6b]\ngroups:\n  - {op: 1, pp: 1, devices: [0], models: [bert-2.6b]}\n"),
             Catch::Contains("plan.yaml: models: expected models of test.yaml (tiny-gpt, tiny-bert, small-gpt), "
                             "found 'bert-2.6b'"));
  CHECK_THAT(error_of("models: [tiny-gpt]\ngroups:\n  - {op: 1, pp: 2, devices: [3, 4], models: [tiny-gpt]}\n"),
             Catch::Contains("groups[0].devices[1]: expected a device index in [0, 4) (test.yaml has 4), found 4"));
  {
    // The plan parser refuses this already (file, line, column); plans built in code are checked again.
    CHECK_FALSE(policies::parse_plan("models: [tiny-gpt]\ngroups:\n  - {op: 2, pp: 2, devices: [0, 1, 2], models: [tiny-gpt]}\n"));
    auto plan = plan_of("models: [tiny-gpt]\ngroups:\n  - {op: 1, pp: 1, devices: [0], models: [tiny-gpt]}\n");
    plan.schedule.placements[0].groups[0].config = {2, 2};
    auto cfg = cfg_with("placement: {policy: mp-round-robin}\n");
    auto g = actors::internal::groups_from_plan(cfg, plan, "plan.yaml");
    REQUIRE_FALSE(g);
    CHECK_THAT(g.err().message, Catch::Contains("group 0: tensor x pipeline = 2 x 2 = 4 devices, but it lists 1"));
  }
  CHECK_THAT(error_of("models: [tiny-gpt]\ngroups:\n  - {op: 1, pp: 1, devices: [1], models: [tiny-gpt]}\n"
                      "  - {op: 1, pp: 2, devices: [2, 1], models: [tiny-gpt]}\n"),
             Catch::Contains("groups[1].devices[1]: expected each device in one group of the window, found device 1 again"));
  CHECK_THAT(error_of("models: [tiny-gpt]\nwindows:\n  - start: 0\n    groups: [{op: 1, pp: 1, devices: [0], models: [tiny-gpt]}]\n"
                      "  - start: 60\n    groups: [{op: 1, pp: 1, devices: [1], models: [tiny-gpt]}]\n"),
             Catch::Contains("2 windows"));
}

TEST_CASE("check_plan refuses a group whose device list does not match op x pp instead of reading past it") {
  auto plan = plan_of("models: [tiny-gpt]\ngroups:\n  - {op: 1, pp: 1, devices: [0], models: [tiny-gpt]}\n");
  plan.schedule.placements[0].groups[0].config = {2, 2}; // built in code: 1 device listed, 4 needed
  auto cfg = cfg_with("placement: {policy: mp-round-robin}\n");
  auto st = policies::check_plan(plan, cfg, "plan.yaml");
  REQUIRE_FALSE(st);
  CHECK_THAT(st.err().message, Catch::Contains("groups[0].devices: expected op x pp = 2 x 2 devices, found 1 devices"));
}
