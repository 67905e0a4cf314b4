#include <catch2/catch.hpp>

#include "config/cluster_config.hpp"
#include "policies/runtime_registry.hpp"

using namespace sy::policies;

namespace {
eviction_view sample() {
  eviction_view v;
  v.needed_bytes = 100;
  v.free_bytes = 20;
  v.resident = {
    {"a", 50, 3, 0, false, 9.0},
    {"b", 50, 1, 0, false, 5.0},
    {"c", 50, 2, 0, false, 0.5},
    {"d", 500, 0, 2, false, 0.0}, // oldest, but requests wait for it
  };
  return v;
}
} // namespace

TEST_CASE("lru eviction drops the least recently used models until the load fits") {
  auto d = lru_eviction_policy{}(sample());
  REQUIRE(d.possible);
  CHECK(d.victims == std::vector<std::string>{"b", "c"});
}

TEST_CASE("demand-aware eviction keeps the models with the highest recent demand") {
  auto d = demand_aware_eviction_policy{}(sample());
  REQUIRE(d.possible);
  CHECK(d.victims == std::vector<std::string>{"c", "b"});
}

TEST_CASE("eviction never drops a model with queued requests or a pinned one, and says when it cannot fit") {
  auto v = sample();
  v.needed_bytes = 400;
  auto d = lru_eviction_policy{}(v);
  CHECK_FALSE(d.possible);
  CHECK(d.victims.empty());
  v.needed_bytes = 60;
  v.resident[1].pinned = true;
  CHECK(lru_eviction_policy{}(v).victims == std::vector<std::string>{"c"});
  v.free_bytes = 60;
  CHECK(lru_eviction_policy{}(v).victims.empty());
  REQUIRE(make_eviction("demand-aware"));
  REQUIRE_FALSE(make_eviction("mru"));
}

namespace {
/// Two resident models, room for one more only if one goes. "big-hot" was used least recently but is requested
/// often and takes long to load; "small-cold" was used last but is rarely requested and loads fast.
eviction_view reload_case() {
  eviction_view v;
  v.needed_bytes = 100;
  v.free_bytes = 0;
  eviction_candidate hot{"big-hot", 100, 1, 0, false, 5.0};
  hot.load_s = 2.0; // expected reload cost 5 x 2 = 10 s of loading per second
  eviction_candidate cold{"small-cold", 100, 7, 0, false, 0.2};
  cold.load_s = 0.1; // 0.2 x 0.1 = 0.02
  v.resident = {hot, cold};
  return v;
}
} // namespace

TEST_CASE("swap-cost-aware eviction drops the model that is cheapest to bring back, where lru drops the oldest") {
  auto v = reload_case();
  CHECK(lru_eviction_policy{}(v).victims == std::vector<std::string>{"big-hot"});
  swap_cost_aware_eviction_policy p;
  CHECK(p.reload_cost(v, v.resident[0]) == Approx(10.0));
  CHECK(p.reload_cost(v, v.resident[1]) == Approx(0.02));
  auto d = p(v);
  REQUIRE(d.possible);
  CHECK(d.victims == std::vector<std::string>{"small-cold"});
  // The registry builds the same policy by its config name.
  auto made = make_eviction("swap-cost-aware");
  REQUIRE(made);
  CHECK((*made)(v).victims == std::vector<std::string>{"small-cold"});
}

TEST_CASE("swap-cost-aware eviction weighs load time, not demand alone (it differs from demand-aware too)") {
  eviction_view v;
  v.needed_bytes = 100;
  v.resident = {{"quick", 100, 1, 0, false, 1.0}, {"slow", 100, 2, 0, false, 0.5}};
  v.resident[0].load_s = 0.1; // cost 0.1
  v.resident[1].load_s = 4.0; // cost 2.0
  CHECK(demand_aware_eviction_policy{}(v).victims == std::vector<std::string>{"slow"});
  CHECK(swap_cost_aware_eviction_policy{}(v).victims == std::vector<std::string>{"quick"});
}

TEST_CASE("swap-cost-aware eviction estimates unknown load times from bytes, evicts models in flight last and "
          "never queued or pinned ones") {
  eviction_view v;
  v.needed_bytes = 100;
  // Measured: 1000 bytes in 1 s. "never-loaded" (0 = unknown) has 4000 bytes: estimated 4 s, cost 4 x 1 = 4,
  // more than "measured" (1 s x 2 = 2).
  v.resident = {{"measured", 1000, 1, 0, false, 2.0}, {"never-loaded", 4000, 2, 0, false, 1.0}};
  v.resident[0].load_s = 1.0;
  swap_cost_aware_eviction_policy p;
  CHECK(p.reload_cost(v, v.resident[1]) == Approx(4.0));
  CHECK(p(v).victims == std::vector<std::string>{"measured"});
  // With batches of "measured" in the pipeline, the other goes first although it costs more.
  v.resident[0].in_flight = 1;
  CHECK(p(v).victims == std::vector<std::string>{"never-loaded"});
  // Queued requests and pins still protect a model; in flight only delays it.
  v.resident[1].queued = 3;
  CHECK(p(v).victims == std::vector<std::string>{"measured"});
  v.resident[0].pinned = true;
  CHECK_FALSE(p(v).possible);
  REQUIRE_FALSE(make_eviction("swap-cost-aware", {{"default_gbps", 0}}));
}

TEST_CASE("every eviction policy a config accepts is one the runtime builds, swap-cost-aware with its parameter") {
  for (const auto& name : sy::config::known_policy_names("eviction")) {
    INFO(name);
    CHECK(make_eviction(name));
  }
  auto c = sy::config::parse_config(R"(
nodes: [{name: n, address: 127.0.0.1:0, devices: {kind: cpu, count: 1, memory: 64MiB}}]
models: [{preset: tiny-gpt, weights: {seed: 1}}]
policies: {eviction: {name: swap-cost-aware, default_gbps: 2}}
)", "evict.yaml");
  REQUIRE(c);
  CHECK(c->policies.eviction.name == "swap-cost-aware");
}
