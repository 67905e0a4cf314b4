// The compat simulator, table-driven and hand-computed (ALGORITHMS.md §2).
#include <catch2/catch.hpp>

#include "sim/simulator.hpp"
#include "sim_fixtures.hpp"

using namespace sy;
using sy::test::entry;
using sy::test::f32_lat;
using sy::test::group;
using sy::test::make_trace;
using sy::test::place;

namespace {

struct fixture {
  policies::profile_table table;
  sim::prepared_trace trace;
};

fixture setup(const std::vector<policies::profile_entry>& entries, const std::vector<std::string>& models,
              const sim::trace& t, double slo_scale = 100) {
  auto table = policies::profile_table::build(models, entries);
  REQUIRE(table.ok());
  auto p = sim::prepare(t, *table, slo_scale);
  REQUIRE(p.ok());
  return fixture{std::move(*table), std::move(*p)};
}

std::vector<sim::request_record> run(const fixture& f, const policies::placement& p,
                                     sim::sim_options opt = {}) {
  sim::simulator s(f.table, opt);
  std::vector<sim::request_record> rec;
  auto e = s.run(p, f.trace, 0, f.trace.arrival.size(), &rec);
  REQUIRE(e.ok());
  return rec;
}

} // namespace

TEST_CASE("a two-stage pipeline overlaps consecutive requests stage by stage", "[sim]") {
  auto f = setup({entry("a", 1, 1, {0.2}, 1), entry("a", 1, 2, {0.1, 0.1}, 1)}, {"a"},
                 make_trace({"a"}, {{0.0, 0}, {0.0, 0}, {0.05, 0}}));
  auto rec = run(f, place({group(1, 2, {0})}));
  const double l = f32_lat(0.1, 2);
  // request 0: stages end at l, 2l; request 1 waits for stage 0 (ends 2l), stage 1 ends 3l;
  // request 2 (t=0.05): stage 0 max(0.05, 2l) + l = 3l, stage 1 max(3l, 3l) + l = 4l.
  REQUIRE(rec[0].finish == Approx(2 * l + 0.011).epsilon(1e-12));
  REQUIRE(rec[1].finish == Approx(3 * l + 0.011).epsilon(1e-12));
  REQUIRE(rec[2].finish == Approx(4 * l + 0.011).epsilon(1e-12));
  REQUIRE(rec[1].start == Approx(l));
  for (const auto& r : rec)
    REQUIRE(r.status == sim::request_status::ok);
}

TEST_CASE("a request that would miss its SLO is dropped at dispatch and consumes nothing", "[sim]") {
  // SLO = 2.5 * 0.1 (single-device latency); each request takes l + 0.011 alone.
  auto f = setup({entry("a", 1, 1, {0.1}, 1)}, {"a"}, make_trace({"a"}, {{0.0, 0}, {0.0, 0}, {0.0, 0}, {0.15, 0}}),
                 2.5);
  auto rec = run(f, place({group(1, 1, {0})}));
  const double l = f32_lat(0.1, 1);
  REQUIRE(rec[0].status == sim::request_status::ok);  // finishes l + 0.011
  REQUIRE(rec[1].status == sim::request_status::ok);  // 2l + 0.011 = 0.2128 <= 0.25
  REQUIRE(rec[2].status == sim::request_status::rejected); // 3l + 0.011 > 0.25
  // The dropped request left the clock at 2l: request 3 starts at max(0.15, 2l) = 2l.
  REQUIRE(rec[3].status == sim::request_status::ok);
  REQUIRE(rec[3].finish == Approx(3 * l + 0.011).epsilon(1e-12));
}

TEST_CASE("a model without a replica fails every request and counts as requested", "[sim]") {
  auto f = setup({entry("a", 1, 1, {0.1}, 1), entry("b", 1, 1, {0.1}, 1)}, {"a", "b"},
                 make_trace({"a", "b"}, {{0.0, 0}, {0.0, 1}}));
  sim::simulator s(f.table, {});
  auto e = s.run(place({group(1, 1, {0})}), f.trace);
  REQUIRE(e.ok());
  REQUIRE(e->model_requests == std::vector<long>{1, 1});
  REQUIRE(e->model_good == std::vector<long>{1, 0});
  REQUIRE(e->attainment == Approx(0.5));
  REQUIRE(e->group_requests == std::vector<long>{1});
}

TEST_CASE("ties between replicas go to the lowest group and busy groups are avoided", "[sim]") {
  auto f = setup({entry("a", 1, 1, {0.1}, 1)}, {"a"}, make_trace({"a"}, {{0.0, 0}, {0.0, 0}, {1.0, 0}, {1.0, 0}, {1.0, 0}}));
  auto rec = run(f, place({group(1, 1, {0}), group(1, 1, {0})}));
  REQUIRE(rec[0].group == 0);
  REQUIRE(rec[1].group == 1); // group 0 busy until l
  REQUIRE(rec[2].group == 0); // both clocks equal (l): lowest index
  REQUIRE(rec[3].group == 1);
  REQUIRE(rec[4].group == 0); // group 0 frees at 1 + l, group 1 at 1 + l too: tie again -> 0
}

TEST_CASE("finish time adds 0.011 s and the 0.009 per stage penalty in float32", "[sim]") {
  struct row {
    int pp;
    double stage;
  };
  for (auto [pp, stage] : {row{1, 0.1}, row{2, 0.05}, row{4, 0.03}, row{8, 0.0123}}) {
    std::vector<double> lat(static_cast<std::size_t>(pp), stage);
    auto f = setup({entry("a", 1, 1, {0.2}, 1), entry("a", 1, pp, lat, 1)}, {"a"}, make_trace({"a"}, {{3.0, 0}}));
    auto rec = run(f, place({group(1, pp, {0})}));
    double x = 3.0;
    for (int k = 0; k < pp; ++k)
      x += static_cast<double>(static_cast<float>(stage * (1 + 0.009 * pp)));
    INFO("pp " << pp);
    REQUIRE(rec[0].finish == x + 0.011);
  }
}

TEST_CASE("the SLO is a float32 value: a deadline that rounds down drops, one that rounds up passes", "[sim]") {
  // The request takes d = float32(l * 1.009) + 0.011 (double). Its own SLO is given as d exactly; the
  // simulator compares against float32(d), which is below or above d depending on rounding.
  int seen_down = 0, seen_up = 0;
  for (int i = 1; i < 200 && (seen_down == 0 || seen_up == 0); ++i) {
    const double l = 0.05 + i * 0.00037;
    const double d = f32_lat(l, 1) + 0.011;
    const double d32 = static_cast<double>(static_cast<float>(d));
    if (d32 == d)
      continue;
    auto f = setup({entry("a", 1, 1, {l}, 1)}, {"a"}, make_trace({"a"}, {{0.0, 0}}, d));
    auto rec = run(f, place({group(1, 1, {0})}));
    if (d32 < d) {
      ++seen_down;
      REQUIRE(rec[0].status == sim::request_status::rejected);
    } else {
      ++seen_up;
      REQUIRE(rec[0].status == sim::request_status::ok);
    }
  }
  REQUIRE(seen_down > 0);
  REQUIRE(seen_up > 0);
}

TEST_CASE("Clockwork++ windows: a request exactly at a window start belongs to the previous window", "[sim]") {
  // Window 0 (from 0) hosts a on group 0 with a 10 s model; window 1 (from 5.0) hosts it fresh.
  auto f = setup({entry("a", 1, 1, {10.0}, 1)}, {"a"}, make_trace({"a"}, {{4.0, 0}, {5.0, 0}, {5.5, 0}}), 100);
  policies::placement_schedule s;
  s.start_times = {0.0, 5.0};
  s.placements = {place({group(1, 1, {0})}), place({group(1, 1, {0})})};
  sim::simulator sim(f.table, {});
  std::vector<sim::request_record> rec;
  auto e = sim.run(s, f.trace, &rec);
  REQUIRE(e.ok());
  const double l = f32_lat(10.0, 1);
  REQUIRE(rec[0].finish == Approx(4.0 + l + 0.011));
  // 5.0 is not > 5.0: still window 0, queued behind request 0.
  REQUIRE(rec[1].start == Approx(4.0 + l));
  // 5.5 opens window 1 with fresh clocks: starts at once.
  REQUIRE(rec[2].start == 5.5);
  REQUIRE(rec[2].finish == Approx(5.5 + l + 0.011));
  REQUIRE(e->model_requests == std::vector<long>{3});
}

TEST_CASE("the trace must name profiled models and be sorted", "[sim]") {
  auto table = policies::profile_table::build({"a"}, {entry("a", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  auto unknown = sim::prepare(make_trace({"zzz"}, {{0.0, 0}}), *table, 5);
  REQUIRE_FALSE(unknown.ok());
  REQUIRE(unknown.err().message.find("zzz") != std::string::npos);
  auto unsorted = sim::prepare(make_trace({"a"}, {{1.0, 0}, {0.5, 0}}), *table, 5);
  REQUIRE_FALSE(unsorted.ok());
  REQUIRE(unsorted.err().message.find("sorted") != std::string::npos);
}
