// Live migration's pure parts (issue 11 §2): the arrival statistics, the diff between two placements, the
// order of the steps (actors/internal/migration.hpp) and the checks of a plan posted while serving
// (actors/internal/placement_input.hpp).
#include <catch2/catch.hpp>

#include <string>

#include "actors/internal/arrival_stats.hpp"
#include "actors/internal/migration.hpp"
#include "actors/internal/placement_input.hpp"
#include "actors/internal/replan.hpp"
#include "config/cluster_config.hpp"

using namespace sy;
using namespace std::chrono_literals;
using namespace sy::actors::internal;

namespace {

group_shape g(std::vector<int> devices, std::set<std::string> models) {
  group_shape s;
  for (int d : devices)
    s.devices.push_back({0, d});
  s.pp = static_cast<int>(devices.size());
  s.models = std::move(models);
  return s;
}

migration_view::target pending(group_shape s) { return {std::move(s), target_phase::pending}; }
migration_view::leaving serving(group_shape s) { return {std::move(s), leaving_phase::serving}; }

config::cluster_config four_devices(const std::string& memory = "256MiB") {
  auto c = config::parse_config(R"(
nodes:
  - {name: a, address: 127.0.0.1:0, devices: {kind: cpu, count: 2, memory: )" + memory + R"(}}
  - {name: b, address: 127.0.0.1:1, devices: {kind: cpu, count: 2, memory: )" + memory + R"(}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}}
  - {preset: tiny-bert, weights: {seed: 3}}
placement:
  groups:
    - {name: g0, devices: ["a:0"], models: [tiny-gpt]}
    - {name: g1, devices: ["a:1"], models: [tiny-bert]}
)", "test.yaml");
  if (!c)
    FAIL(c.err().message);
  return *c;
}

} // namespace

TEST_CASE("arrival statistics count each model's arrivals per bucket within the window and forget older ones") {
  arrival_stats a(1000ms, 10);
  const messages::time_point t0{std::chrono::seconds(1000)};
  for (int i = 0; i < 5; ++i)
    a.record("x", t0 + std::chrono::milliseconds(100 * i));
  a.record("y", t0 + 3s);
  a.record("x", t0 + 3s + 500ms);
  auto c = a.counts(t0 + 3s + 900ms, 2000ms); // buckets 1002 and 1003
  CHECK(c.count("x") == 1);
  CHECK(c.at("y") == 1);
  CHECK(a.counts(t0 + 3s + 900ms, 4000ms).at("x") == 6);
  // 20 s later the ring slots of those buckets hold nothing the window can see
  a.record("y", t0 + 20s);
  CHECK(a.counts(t0 + 20s, 10000ms).count("x") == 0);
  CHECK(a.counts(t0 + 20s, 10000ms).at("y") == 1);
  SECTION("an arrival older than the horizon is dropped, memory stays one ring per model") {
    a.record("x", t0);
    CHECK(a.counts(t0 + 20s, 10000ms).count("x") == 0);
  }
  SECTION("rates divide by the window, clipped to the time since the first arrival") {
    arrival_stats r(1000ms, 60);
    for (int i = 0; i < 20; ++i)
      r.record("x", t0 + std::chrono::milliseconds(500 * i)); // 2/s for 10 s
    auto rates = r.rates(t0 + 10s, 60000ms);                  // a minute's window after 10 s
    CHECK(rates.at("x") == Approx(2.0).epsilon(0.05));
  }
}

TEST_CASE("the diff keeps groups equal in shape, devices and models, and rebuilds every other") {
  std::vector<group_shape> cur{g({0}, {"a"}), g({1}, {"b"}), g({2, 3}, {"c"})};
  std::vector<group_shape> tgt{g({1}, {"b"}), g({0}, {"a", "c"}), g({2, 3}, {"c"}), g({4}, {"d"})};
  auto d = diff_placement(cur, tgt);
  REQUIRE(d.kept.size() == 2);
  CHECK(d.kept[0] == std::pair<std::size_t, std::size_t>{1, 0});
  CHECK(d.kept[1] == std::pair<std::size_t, std::size_t>{2, 2});
  CHECK(d.leaving == std::vector<std::size_t>{0}); // same device, another model set: drained and rebuilt
  CHECK(d.building == std::vector<std::size_t>{1, 3});
  SECTION("a group on the same devices with another shape is rebuilt too") {
    auto s = g({2, 3}, {"c"});
    s.op = 2;
    s.pp = 1;
    auto d2 = diff_placement(cur, {s});
    CHECK(d2.kept.empty());
    CHECK(d2.building == std::vector<std::size_t>{0});
  }
}

TEST_CASE("a target on free devices starts at once and the old groups serve until every target is ready") {
  migration_view v;
  v.targets = {pending(g({2}, {"a"}))};
  v.leaving_groups = {serving(g({0}, {"a"}))};
  auto s = next_steps(v);
  CHECK(s.start == std::vector<std::size_t>{0});
  CHECK(s.retire.empty()); // its devices are not wanted; it serves a until the new replica is resident
  CHECK_FALSE(s.done);
  v.targets[0].phase = target_phase::building;
  CHECK(next_steps(v).retire.empty());
  v.targets[0].phase = target_phase::ready;
  s = next_steps(v);
  CHECK(s.retire == std::vector<std::size_t>{0}); // the clean-up
  CHECK_FALSE(s.done);
  v.leaving_groups[0].phase = leaving_phase::freeing;
  CHECK_FALSE(next_steps(v).done);
  v.leaving_groups[0].phase = leaving_phase::gone;
  CHECK(next_steps(v).done);
}

TEST_CASE("a leaving group whose models have another replica frees its devices first for the target that needs them") {
  migration_view v;
  v.kept = {g({1}, {"a"})};
  v.targets = {pending(g({0}, {"b"}))};
  v.leaving_groups = {serving(g({0}, {"a"}))};
  auto s = next_steps(v);
  CHECK(s.start.empty()); // device 0 is held
  CHECK(s.retire == std::vector<std::size_t>{0});
  CHECK(s.forced.empty());
  v.leaving_groups[0].phase = leaving_phase::gone;
  CHECK(next_steps(v).start == std::vector<std::size_t>{0});
}

TEST_CASE("a model's last replica stays while its new one loads elsewhere, and goes first only when devices force it") {
  SECTION("its new replica builds on free devices: the old group waits for it") {
    migration_view v;
    v.targets = {pending(g({0}, {"b"})), pending(g({1}, {"a"}))};
    v.leaving_groups = {serving(g({0}, {"a"}))};
    auto s = next_steps(v);
    CHECK(s.start == std::vector<std::size_t>{1});
    CHECK(s.retire.empty()); // a has no other replica yet
    CHECK(s.forced.empty());
    v.targets[1].phase = target_phase::ready;
    s = next_steps(v);
    CHECK(s.retire == std::vector<std::size_t>{0}); // covered now; its devices are wanted by b's target
    CHECK(s.forced.empty());
  }
  SECTION("two leaving groups with one model: the first goes, the second stays as its last replica") {
    migration_view v;
    v.targets = {pending(g({0, 1}, {"b"})), pending(g({3}, {"a"}))};
    v.leaving_groups = {serving(g({0}, {"a"})), serving(g({1}, {"a"})), serving(g({3}, {"c"}))};
    auto s = next_steps(v);
    CHECK(s.retire == std::vector<std::size_t>{0});
  }
  SECTION("a swap of models on the same devices: nothing else can move, so the devices force it, with the reason") {
    migration_view v;
    v.targets = {pending(g({0}, {"b"})), pending(g({1}, {"a"}))};
    v.leaving_groups = {serving(g({0}, {"a"})), serving(g({1}, {"b"}))};
    auto s = next_steps(v);
    CHECK(s.start.empty());
    CHECK(s.retire == std::vector<std::size_t>{0}); // for the first target waiting
    CHECK(s.forced == std::vector<std::string>{"a"});
    // while it frees its devices nothing more is forced
    v.leaving_groups[0].phase = leaving_phase::retiring;
    s = next_steps(v);
    CHECK(s.retire.empty());
    CHECK(s.forced.empty());
    v.leaving_groups[0].phase = leaving_phase::gone;
    s = next_steps(v);
    CHECK(s.start == std::vector<std::size_t>{0});
    CHECK(s.retire.empty()); // b's only replica stays while its target builds
  }
  SECTION("devices held outside the migration block it, said so, nothing forced") {
    migration_view v;
    v.targets = {pending(g({0}, {"b"}))};
    v.held_elsewhere = {{0, 0}};
    auto s = next_steps(v);
    CHECK(s.blocked);
    CHECK(s.retire.empty());
  }
}

TEST_CASE("a plan posted while serving is checked against the deployment with the precise reason") {
  auto cfg = four_devices();
  const std::string src = "POST /v2/placement body";
  SECTION("GET /v2/placement's JSON and a plan file's text are both accepted") {
    auto a = parse_placement(cfg, R"({"groups": [{"name": "x", "tensor": 1, "pipeline": 2, "devices": ["a:0", "a:1"],
      "models": ["tiny-gpt", "tiny-bert"]}]})", src);
    REQUIRE(a);
    REQUIRE(a->size() == 1);
    CHECK((*a)[0].name == "x");
    CHECK((*a)[0].pp == 2);
    CHECK((*a)[0].devices[1] == config::device_ref{0, 1});
    auto b = parse_placement(cfg, "models: [tiny-gpt, tiny-bert]\ngroups:\n  - {op: 1, pp: 1, devices: [2], models: [tiny-gpt]}\n"
                                  "  - {op: 1, pp: 1, devices: [3], models: [tiny-bert]}\n", src);
    REQUIRE(b);
    REQUIRE(b->size() == 2);
    CHECK((*b)[0].devices[0] == config::device_ref{1, 0});
  }
  SECTION("unknown models and devices") {
    auto r = parse_placement(cfg, R"({"groups": [{"devices": ["a:0"], "models": ["nope"]}]})", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("groups[0].models[0]: unknown model 'nope'") != std::string::npos);
    r = parse_placement(cfg, R"({"groups": [{"devices": ["c:0"], "models": ["tiny-gpt"]}]})", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("unknown node 'c'") != std::string::npos);
    r = parse_placement(cfg, R"({"groups": [{"devices": ["a:7"], "models": ["tiny-gpt"]}]})", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("node a has no device '7'") != std::string::npos);
    r = parse_placement(cfg, "models: [tiny-gpt, ghost]\ngroups:\n  - {op: 1, pp: 1, devices: [0], models: [ghost]}\n", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("ghost") != std::string::npos);
  }
  SECTION("a model without a replica, a device in two groups, a group that does not fit device memory") {
    auto r = parse_placement(cfg, R"({"groups": [{"devices": ["a:0"], "models": ["tiny-gpt"]}]})", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("model tiny-bert has no replica") != std::string::npos);
    r = parse_placement(cfg, R"({"groups": [{"devices": ["a:0"], "models": ["tiny-gpt"]},
                                            {"devices": ["a:0"], "models": ["tiny-bert"]}]})", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("device a:0 is in two groups") != std::string::npos);
    auto small = four_devices("2MiB");
    r = parse_placement(small, R"({"groups": [{"devices": ["a:0"], "models": ["tiny-gpt", "tiny-bert"]}]})", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("does not fit device memory") != std::string::npos);
  }
  SECTION("not a plan at all") {
    auto r = parse_placement(cfg, "", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("empty body") != std::string::npos);
    r = parse_placement(cfg, R"({"groups": "x"})", src);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find(src) == 0);
  }
}

TEST_CASE("the re-planner's cluster without lost or failed devices keeps the others' names and ordinals") {
  auto c = config::parse_config(R"(
nodes:
  - {name: a, address: 127.0.0.1:0, devices: {kind: cpu, count: 3, memory: 64MiB}}
  - {name: b, address: 127.0.0.1:1, devices: {kind: cpu, count: 1, memory: 64MiB}}
  - {name: c, address: 127.0.0.1:2, devices: {kind: cpu, count: 2, memory: 32MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}}
placement:
  groups:
    - {devices: ["a:0"], models: [tiny-gpt]}
    - {devices: ["b:0"], models: [tiny-gpt]}
)", "test.yaml");
  REQUIRE(c);
  // b is lost (its only device), a:1 failed
  auto r = without_devices(*c, {config::device_ref{1, 0}, config::device_ref{0, 1}});
  REQUIRE(r.nodes.size() == 2);
  CHECK(r.nodes[0].name == "a");
  REQUIRE(r.nodes[0].devices.size() == 2);
  CHECK(r.nodes[0].devices[0].ordinal == 0);
  CHECK(r.nodes[0].devices[1].ordinal == 2); // "a:2" in a plan, as in the whole cluster
  CHECK(r.nodes[1].name == "c");
  CHECK(r.nodes[1].devices.size() == 2);
  CHECK(r.nodes[1].devices[0].memory_bytes == 32 << 20);
  CHECK(r.device_count() == 4);
  CHECK(r.placement.groups.empty()); // their device indices would not hold
  CHECK(r.models.size() == 1);
  auto same = without_devices(*c, {});
  CHECK(same.device_count() == 6);
  CHECK(same.nodes.size() == 3);
}
