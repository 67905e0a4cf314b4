// Re-placement after a node loss (actors/internal/replacement.hpp): the fill onto the surviving free devices.
#include <catch2/catch.hpp>

#include <string>

#include "actors/internal/replacement.hpp"
#include "config/cluster_config.hpp"

using namespace sy;
using actors::internal::plan_replacement;
using actors::internal::replacement_need;

namespace {

config::cluster_config cfg_of(const std::string& memory) {
  auto c = config::parse_config(R"(
nodes:
  - {name: a, address: 127.0.0.1:0, devices: {kind: cpu, count: 3, memory: )" + memory + R"(}}
  - {name: b, address: 127.0.0.1:1, devices: {kind: cpu, count: 2, memory: )" + memory + R"(}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}}
  - {preset: small-gpt, weights: {seed: 2}}
  - {preset: tiny-bert, weights: {seed: 3}}
  - {preset: small-bert, weights: {seed: 4}}
placement: {policy: mp-round-robin}
)", "test.yaml");
  REQUIRE(c);
  return *c;
}

std::function<std::string()> namer() {
  auto n = std::make_shared<int>(0);
  return [n] { return "r" + std::to_string(++*n); };
}

std::int64_t shard(const config::cluster_config& cfg, int m, int op, int pp) {
  auto b = actors::internal::largest_shard(cfg.models[static_cast<std::size_t>(m)], op, pp);
  REQUIRE(b);
  return *b;
}

} // namespace

TEST_CASE("lost replicas that fit one free device beside each other go into one new group on it") {
  auto cfg = cfg_of("256MiB");
  auto p = plan_replacement(cfg, {{0, 2}, {0, 0}}, {{0, 1, 0}, {1, 1, 0}}, namer());
  REQUIRE(p.unplaced.empty());
  REQUIRE(p.groups.size() == 1);
  const auto& g = p.groups[0];
  CHECK(g.name == "r1");
  CHECK(g.op == 1);
  CHECK(g.pp == 1);
  REQUIRE(g.devices.size() == 1);
  CHECK(g.devices[0] == config::device_ref{0, 2}); // the first free device given (spare ones come first)
  CHECK(g.bytes.at("small-gpt") == shard(cfg, 1, 1, 1));
  CHECK(g.bytes.at("tiny-gpt") == shard(cfg, 0, 1, 1));
  CHECK(g.models == std::vector<int>{1, 0}); // the larger model with no live replica first
}

TEST_CASE("a model too big for one free device gets the smallest group shape that holds its shards") {
  auto cfg = cfg_of("256MiB");
  auto one = shard(cfg, 1, 1, 1);
  auto two_way = shard(cfg, 1, 2, 1);
  REQUIRE(two_way < one);
  // devices whose weight budget (0.85 x memory) holds a tensor-2 shard but not the whole model
  auto mib = static_cast<std::int64_t>(static_cast<double>(two_way) / 0.85 / (1 << 20)) + 2;
  REQUIRE(static_cast<double>(mib << 20) * 0.85 < static_cast<double>(one));
  auto small = cfg_of(std::to_string(mib) + "MiB");
  auto p = plan_replacement(small, {{0, 0}, {1, 0}, {0, 1}}, {{1, 1, 0}}, namer());
  REQUIRE(p.unplaced.empty());
  REQUIRE(p.groups.size() == 1);
  const auto& g = p.groups[0];
  CHECK(g.op * g.pp == 2);
  if (g.op == 2) // the tensor ranks of a stage share a node
    CHECK(g.devices == std::vector<config::device_ref>{{0, 0}, {0, 1}});
  SECTION("one free device per node: a pipeline across the nodes, never tensor ranks across them") {
    auto across = plan_replacement(small, {{0, 0}, {1, 0}}, {{1, 1, 0}}, namer());
    REQUIRE(across.groups.size() == 1);
    CHECK(across.groups[0].op == 1);
    CHECK(across.groups[0].pp == 2);
    CHECK(across.groups[0].devices == std::vector<config::device_ref>{{0, 0}, {1, 0}});
  }
}

TEST_CASE("a replica without room is reported with the reason, the others are placed") {
  auto cfg = cfg_of("256MiB");
  SECTION("no free device at all") {
    auto p = plan_replacement(cfg, {}, {{0, 1, 0}}, namer());
    CHECK(p.groups.empty());
    REQUIRE(p.unplaced.size() == 1);
    CHECK(p.unplaced[0] == "tiny-gpt: no free device is left (every surviving device serves a group)");
  }
  SECTION("models with no live replica come before those that still have one") {
    auto tight = cfg_of("48MiB"); // a budget of 40.8 MiB holds small-gpt or small-bert (~34 MiB), not both
    REQUIRE(shard(tight, 1, 1, 1) + shard(tight, 3, 1, 1) > static_cast<std::int64_t>(48.0 * (1 << 20) * 0.85));
    auto p = plan_replacement(tight, {{0, 0}}, {{3, 1, 1}, {1, 1, 0}}, namer());
    REQUIRE(p.groups.size() == 1);
    CHECK(p.groups[0].bytes.count("small-gpt") == 1);
    CHECK(p.groups[0].bytes.count("small-bert") == 0);
    REQUIRE(p.unplaced.size() == 1);
    CHECK(p.unplaced[0] == "small-bert: no free device is left (every surviving device serves a group)");
  }
  SECTION("two replicas of one model never share a group") {
    auto p = plan_replacement(cfg, {{0, 0}, {0, 1}}, {{0, 2, 0}}, namer());
    REQUIRE(p.groups.size() == 2);
    CHECK(p.groups[0].devices != p.groups[1].devices);
  }
}
