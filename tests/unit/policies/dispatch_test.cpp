#include <catch2/catch.hpp>

#include "policies/runtime_registry.hpp"

using namespace std::chrono_literals;
using namespace sy::policies;

TEST_CASE("earliest-free dispatch picks the group that can start soonest, counting a pending load") {
  std::vector<dispatch_candidate> cs = {{0, 50ms, 0ms, 1}, {1, 10ms, 100ms, 0}, {2, 30ms, 0ms, 5}};
  CHECK(earliest_free_dispatch_policy{}(cs) == 2);
  cs[1].load = 0ms;
  CHECK(earliest_free_dispatch_policy{}(cs) == 1);
}

TEST_CASE("shortest-queue dispatch picks the group with the fewest queued requests") {
  std::vector<dispatch_candidate> cs = {{4, 0ms, 0ms, 3}, {7, 90ms, 0ms, 1}, {9, 10ms, 0ms, 1}};
  CHECK(shortest_queue_dispatch_policy{}(cs) == 9); // tie on queue broken by free time
}

TEST_CASE("dispatch without candidates answers -1 and the registry knows both names") {
  CHECK(earliest_free_dispatch_policy{}({}) == -1);
  auto sq = make_dispatch("shortest-queue");
  REQUIRE(sq);
  CHECK((*sq)({{3, 0ms, 0ms, 2}, {5, 0ms, 0ms, 1}}) == 5);
  REQUIRE(make_dispatch("earliest-free"));
  REQUIRE_FALSE(make_dispatch("random"));
}
