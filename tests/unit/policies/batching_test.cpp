#include <catch2/catch.hpp>

#include "policies/runtime_registry.hpp"

using namespace std::chrono_literals;
using namespace sy::policies;
using ns = std::chrono::nanoseconds;

TEST_CASE("no batching takes one request at a time") {
  batching_view v{{ns{100ms}, ns{100ms}, ns{100ms}}, {ns{10ms}}};
  auto d = no_batching_policy{}(v);
  CHECK(d.take == 1);
  CHECK(d.expired.empty());
}

TEST_CASE("greedy batching takes the largest batch whose latency every member can afford") {
  // latency grows with the batch: 10, 15, 20, 25 ms for b = 1..4
  std::vector<ns> lat = {ns{10ms}, ns{15ms}, ns{20ms}, ns{25ms}};
  struct row { std::vector<ns> left; std::size_t max_batch; std::size_t take; };
  std::vector<row> rows = {
    {{ns{100ms}, ns{100ms}, ns{100ms}, ns{100ms}, ns{100ms}}, 8, 5}, // b beyond the table uses the last
    {{ns{100ms}, ns{100ms}, ns{100ms}}, 2, 2},                        // capped by max_batch
    {{ns{18ms}, ns{100ms}, ns{100ms}}, 8, 2},                         // the oldest allows 15 ms at most
    {{ns{12ms}, ns{100ms}}, 8, 1},
  };
  for (const auto& r : rows) {
    auto d = greedy_batching_policy{r.max_batch}(batching_view{r.left, lat});
    CHECK(d.take == r.take);
  }
}

TEST_CASE("batching reports requests that cannot finish even alone as expired and skips them") {
  std::vector<ns> lat = {ns{10ms}, ns{12ms}};
  auto d = greedy_batching_policy{4}(batching_view{{ns{5ms}, ns{50ms}, ns{50ms}}, lat});
  REQUIRE(d.expired == std::vector<std::size_t>{0});
  CHECK(d.take == 2);
  auto g = make_batching("greedy", {{"max_batch", 1}});
  REQUIRE(g);
  CHECK((*g)(batching_view{{ns{50ms}, ns{50ms}}, lat}).take == 1);
  REQUIRE_FALSE(make_batching("greedy", {{"max_batch", 0}}));
  REQUIRE_FALSE(make_batching("dynamic"));
}
