#include <catch2/catch.hpp>

#include "policies/runtime_registry.hpp"

using namespace std::chrono_literals;
using namespace sy::policies;

TEST_CASE("slo admission accepts a request whose predicted finish meets its deadline") {
  slo_admission_policy p;
  admission_view v{100ms, 20ms, 0ms, 30ms};
  CHECK(p(v).accept);
}

TEST_CASE("slo admission rejects at once when queue wait, load and service exceed the time left") {
  slo_admission_policy p;
  struct row { admission_view v; bool accept; };
  std::vector<row> rows = {
    {{100ms, 60ms, 0ms, 50ms}, false},  // queue + service
    {{100ms, 0ms, 80ms, 30ms}, false},  // pending load
    {{100ms, 0ms, 70ms, 30ms}, true},   // exactly on time
    {{0ms, 0ms, 0ms, 0ms}, false},      // already late
  };
  for (const auto& r : rows) {
    auto d = p(r.v);
    CHECK(d.accept == r.accept);
    if (!d.accept)
      CHECK(d.reason == "cannot meet SLO");
  }
}

TEST_CASE("slo admission slack scales the predicted service time") {
  admission_view v{100ms, 0ms, 0ms, 60ms};
  CHECK(slo_admission_policy{1.0}(v).accept);
  CHECK_FALSE(slo_admission_policy{2.0}(v).accept);
}

TEST_CASE("the registry builds admission policies by name and rejects unknown names precisely") {
  auto none = make_admission("none");
  REQUIRE(none);
  CHECK((*none)(admission_view{0ms, 1s, 1s, 1s}).accept);
  auto slo = make_admission("slo", {{"slack", 2.0}});
  REQUIRE(slo);
  CHECK_FALSE((*slo)(admission_view{100ms, 0ms, 0ms, 60ms}).accept);
  auto bad = make_admission("fifo");
  REQUIRE_FALSE(bad);
  CHECK(bad.err().message.find("expected one of slo, none, found \"fifo\"") != std::string::npos);
  REQUIRE_FALSE(make_admission("slo", {{"slack", -1.0}}));
}
