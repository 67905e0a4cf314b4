// Errors of explicit placement groups: sizes, device references, degrees, models.
#include <catch2/catch.hpp>

#include "config/cluster_config.hpp"

using namespace sy::config;

namespace {
// lines 1-8; groups start on line 9
const std::string head = R"(
nodes:
  - {name: n0, devices: {count: 4, memory: 256MiB}}
models:
  - {name: a, preset: tiny-gpt}
  - {name: b, preset: small-bert}
placement:
  groups:
)";

std::string error_of(const std::string& groups) {
  auto r = parse_config(head + groups, "cluster.yaml");
  REQUIRE_FALSE(r.ok());
  return r.err().message;
}
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool contains(const std::string& s, const std::string& p) { return s.find(p) != std::string::npos; }
} // namespace

TEST_CASE("a valid explicit placement keeps group order, degrees, devices and models", "[config][placement]") {
  auto r = parse_config(head + "    - {devices: [1, 0], pipeline: 2, models: [a, b]}\n"
                               "    - {name: solo, devices: [3], models: [b]}\n");
  REQUIRE(r.ok());
  const auto& g = r->placement.groups;
  REQUIRE(g.size() == 2);
  CHECK(g[0].name == "g0");
  CHECK(g[0].pp == 2);
  CHECK(g[0].op == 1);
  CHECK(r->global_index(g[0].devices[0]) == 1); // stage 0 on device 1: the listed order is kept
  CHECK(g[0].models == std::vector<int>{0, 1});
  CHECK(g[1].name == "solo");
  CHECK(g[1].models == std::vector<int>{1});
}

TEST_CASE("a group larger than its node or with a device index out of range is rejected", "[config][placement]") {
  auto big = error_of("    - {devices: [0, 1, 2, 3, 4], pipeline: 5, models: [a, b]}\n");
  INFO(big);
  CHECK(big == "cluster.yaml:9:17: placement.groups[0].devices: expected at most 4 devices (node n0 has 4), "
               "found 5 devices");
  auto range = error_of("    - {devices: [0, 7], pipeline: 2, models: [a, b]}\n");
  INFO(range);
  CHECK(range == "cluster.yaml:9:21: placement.groups[0].devices[1]: expected a device index of node n0 "
                 "(one of: 0, 1, 2, 3), found \"7\" (out of range)");
}

TEST_CASE("tensor times pipeline degree must equal the group's device count", "[config][placement]") {
  auto e = error_of("    - {devices: [0, 1, 2], tensor: 2, pipeline: 2, models: [a, b]}\n");
  INFO(e);
  CHECK(e == "cluster.yaml:9:7: placement.groups[0]: expected tensor * pipeline (2 * 2 = 4) equal to the number "
             "of devices, found 3 devices");
}

TEST_CASE("a tensor degree must divide every model's heads and a pipeline may not exceed its layers",
          "[config][placement]") {
  auto tp = error_of("    - {devices: [0, 1, 2], tensor: 3, models: [a, b]}\n");
  INFO(tp);
  CHECK(starts_with(tp, "cluster.yaml:9:48: placement.groups[0].models[0]: expected a model whose heads (4)"));
  CHECK(contains(tp, "tensor degree 3 divides, found \"a\""));
  auto big = parse_config(R"(
nodes: [{name: n0, devices: {count: 8, memory: 256MiB}}]
models: [{name: a, preset: tiny-gpt}]
placement: {groups: [{devices: [0, 1, 2, 3, 4], pipeline: 5, models: [a]}]}
)",
                          "cluster.yaml");
  REQUIRE_FALSE(big.ok());
  CHECK(contains(big.err().message, "placement.groups[0].models[0]: expected a model with at least as many layers "
                                    "as the group's pipeline degree 5, found \"a\" with 4 layers"));
}

TEST_CASE("placement referencing an unknown model, node or device is rejected", "[config][placement]") {
  auto model = error_of("    - {devices: [0], models: [a, bb]}\n");
  INFO(model);
  CHECK(model == "cluster.yaml:9:34: placement.groups[0].models[1]: expected a model of `models` (one of: a, b), "
                 "found \"bb\" (did you mean \"b\"?)");
  auto node = error_of("    - {devices: [\"n1:0\"], models: [a, b]}\n");
  CHECK(contains(node, "placement.groups[0].devices[0]: expected a device of a known node (nodes: n0), found "
                       "\"n1:0\" (unknown node \"n1\", did you mean \"n0\"?)"));
  auto group_node = error_of("    - {node: m0, devices: [0], models: [a, b]}\n");
  CHECK(contains(group_node, "placement.groups[0].node: expected a known node (one of: n0), found \"m0\""));
  auto notnum = error_of("    - {devices: [first], models: [a, b]}\n");
  CHECK(contains(notnum, "placement.groups[0].devices[0]: expected a device index of node n0"));
}

TEST_CASE("a device used by two groups is rejected, naming the first group", "[config][placement]") {
  auto e = error_of("    - {devices: [0, 1], pipeline: 2, models: [a]}\n"
                    "    - {devices: [2, 1], pipeline: 2, models: [b]}\n");
  INFO(e);
  CHECK(e == "cluster.yaml:10:21: placement.groups[1].devices[1]: expected a device not used by another group, "
             "found \"n0:1\" (already in group g0)");
}

TEST_CASE("every model must be served by a group and fit its devices", "[config][placement]") {
  auto unplaced = error_of("    - {devices: [0], models: [a]}\n");
  INFO(unplaced);
  CHECK(unplaced == "cluster.yaml:6:5: models[1]: expected a model served by at least one group of "
                    "placement.groups, found \"b\" in none");
  auto fit = parse_config(R"(
nodes: [{name: n0, devices: {count: 2, memory: 1MiB}}]
models: [{name: a, preset: small-gpt}]
placement: {groups: [{devices: [0, 1], pipeline: 2, models: [a]}]}
)");
  REQUIRE_FALSE(fit.ok());
  CHECK(contains(fit.err().message, "smallest device budget (1048576 bytes), found \"a\" needing at least"));
}

TEST_CASE("placement takes exactly one of groups, policy and plan", "[config][placement]") {
  auto both = parse_config(head.substr(0, head.find("  groups:")) + "  policy: round-robin\n  plan: p.json\n");
  REQUIRE_FALSE(both.ok());
  CHECK(contains(both.err().message, "placement: expected exactly one of the keys groups, policy, plan, found several"));
  auto none = parse_config(head.substr(0, head.find("  groups:")) + "  group: []\n");
  REQUIRE_FALSE(none.ok());
  CHECK(contains(none.err().message, "found none"));
}

TEST_CASE("with several nodes a group needs a node for plain indices, and one kind of device", "[config][placement]") {
  const std::string two = R"(
nodes:
  - {name: x, devices: {kind: cpu, count: 2, memory: 256MiB}}
  - {name: y, devices: {kind: cuda, count: 2, memory: 256MiB}}
models: [{name: a, preset: tiny-gpt}]
placement:
  groups:
)";
  auto plain = parse_config(two + "    - {devices: [0, 1], pipeline: 2, models: [a]}\n", "cluster.yaml");
  REQUIRE_FALSE(plain.ok());
  CHECK(plain.err().message == "cluster.yaml:8:18: placement.groups[0].devices[0]: expected \"node:index\" or a "
                               "group `node` (the cluster has several nodes: x, y), found \"0\"");
  auto mixed = parse_config(two + "    - {devices: [\"x:0\", \"y:0\"], pipeline: 2, models: [a]}\n", "cluster.yaml");
  REQUIRE_FALSE(mixed.ok());
  CHECK(contains(mixed.err().message, "placement.groups[0].devices[1]: expected devices of one kind in a group (cpu), "
                                      "found \"y:0\" of kind cuda"));
  auto ok = parse_config(two + "    - {node: y, devices: [1, 0], tensor: 2, models: [a]}\n");
  REQUIRE(ok.ok());
  CHECK(ok->global_index(ok->placement.groups[0].devices[0]) == 3);
}

TEST_CASE("placement.replan names the re-placement policy and its parameters, with located errors",
          "[config][placement]") {
  const std::string policy_head = R"(
nodes:
  - {name: n0, devices: {count: 4, memory: 256MiB}}
models:
  - {name: a, preset: tiny-gpt}
placement:
  policy: sr-greedy
  profile: prof.json
)";
  auto ok = parse_config(policy_head + "  replan: {policy: windowed, window_s: 5, interval_s: 5, margin: 0.05}\n",
                         "cluster.yaml");
  REQUIRE(ok.ok());
  CHECK(ok->placement.replan.name == "windowed");
  CHECK(std::get<double>(ok->placement.replan.params.at("margin")) == 0.05);
  CHECK(parse_config(policy_head, "cluster.yaml")->placement.replan.name.empty()); // off by default
  auto margin = parse_config(policy_head + "  replan: {policy: drift, margin: 2}\n", "cluster.yaml");
  REQUIRE_FALSE(margin.ok());
  CHECK(margin.err().message == "cluster.yaml:9:35: placement.replan.margin: expected an attainment margin in [0, 1], "
                                "found \"2\"");
  auto window = parse_config(policy_head + "  replan: {policy: drift, window_s: 0}\n", "cluster.yaml");
  REQUIRE_FALSE(window.ok());
  CHECK(contains(window.err().message, "placement.replan.window_s: expected a window in seconds in [0.1, 86400]"));
  auto no_profile = parse_config(R"(
nodes:
  - {name: n0, devices: {count: 4, memory: 256MiB}}
models:
  - {name: a, preset: tiny-gpt}
placement:
  policy: sr-greedy
  replan: {policy: windowed}
)", "cluster.yaml");
  // Without placement.profile the re-planner takes the profile measured (or cached) for the placement at start.
  REQUIRE(no_profile.ok());
  CHECK(no_profile->placement.replan.name == "windowed");
  CHECK(no_profile->placement.profile.path.empty());
  auto in_groups = parse_config(head + "    - {devices: [0], models: [a, b]}\n  replan: {policy: windowed}\n",
                                "cluster.yaml");
  REQUIRE_FALSE(in_groups.ok());
  CHECK(contains(in_groups.err().message, "replan"));
}
