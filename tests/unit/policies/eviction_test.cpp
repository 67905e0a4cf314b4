#include <catch2/catch.hpp>

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
