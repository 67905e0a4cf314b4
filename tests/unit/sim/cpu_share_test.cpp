// cpu devices sharing the host's cores (sim_options::host_cores, issue 11 §3) and the measured one-pass
// overhead (profile_entry::request_s): hand-computed tiny cases.
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

std::vector<sim::request_record> run(const policies::profile_table& table, const policies::placement& p,
                                     const sim::trace& t, sim::sim_mode mode, int host_cores, double overhead = 0) {
  auto prepared = sim::prepare(t, table, 100);
  REQUIRE(prepared.ok());
  sim::sim_options opt;
  opt.mode = mode;
  opt.overhead_s = overhead;
  opt.host_cores = host_cores;
  opt.mem_budget_bytes = 1e9;
  sim::simulator s(table, opt);
  std::vector<sim::request_record> rec;
  auto e = s.run(p, *prepared, 0, t.requests.size(), &rec);
  REQUIRE(e.ok());
  return rec;
}

} // namespace

TEST_CASE("an op that starts while another device computes is stretched by busy devices / cores",
          "[sim][cpu_share]") {
  // Two single-device groups, stage latency 0.1 each. a at 0 runs alone; b at 0.05 starts while a's device
  // computes (until l): 2 busy devices on 1 core -> twice as long; on 2 cores -> as profiled.
  auto table = policies::profile_table::build({"a", "b"}, {entry("a", 1, 1, {0.1}, 1), entry("b", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  const auto p = place({group(1, 1, {0}), group(1, 1, {1})});
  const auto t = make_trace({"a", "b"}, {{0.0, 0}, {0.05, 1}});
  const double l = f32_lat(0.1, 1);
  for (auto mode : {sim::sim_mode::batching, sim::sim_mode::swapping}) {
    auto one = run(*table, p, t, mode, 1);
    CHECK(one[0].finish == Approx(l));           // the op already running keeps its time
    CHECK(one[1].finish == Approx(0.05 + 2 * l));
    auto two = run(*table, p, t, mode, 2);
    CHECK(two[0].finish == Approx(l));
    CHECK(two[1].finish == Approx(0.05 + l));
    auto off = run(*table, p, t, mode, 0);
    CHECK(off[1].finish == Approx(0.05 + l));
  }
}

TEST_CASE("every device of a tensor-parallel stage counts as busy", "[sim][cpu_share]") {
  // a on a (2,1) group (2 device threads), b on a single device; 2 cores. a alone: 2 / 2 -> 1x. b starts at
  // 0.05 while a's 2 devices compute: (1 + 2) / 2 = 1.5x.
  auto table = policies::profile_table::build(
      {"a", "b"}, {entry("a", 1, 1, {0.2}, 1), entry("a", 2, 1, {0.1}, 1), entry("b", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  auto rec = run(*table, place({group(2, 1, {0}), group(1, 1, {1})}), make_trace({"a", "b"}, {{0.0, 0}, {0.05, 1}}),
                 sim::sim_mode::batching, 2);
  CHECK(rec[0].finish == Approx(f32_lat(0.1, 1)));
  CHECK(rec[1].finish == Approx(0.05 + 1.5 * f32_lat(0.1, 1)));
  // 1 core: a's profile already ran its 2 ranks on it (2 / 1 over 2 / 1: 1x alone); b beside them: 3 / 1 = 3x.
  auto one = run(*table, place({group(2, 1, {0}), group(1, 1, {1})}), make_trace({"a", "b"}, {{0.0, 0}, {0.05, 1}}),
                 sim::sim_mode::batching, 1);
  CHECK(one[0].finish == Approx(f32_lat(0.1, 1)));
  CHECK(one[1].finish == Approx(0.05 + 3 * f32_lat(0.1, 1)));
  // and a's op starting beside b's: (2 + 1) / 1 over 2 / 1 = 1.5x
  auto other = run(*table, place({group(2, 1, {0}), group(1, 1, {1})}), make_trace({"a", "b"}, {{0.0, 1}, {0.05, 0}}),
                   sim::sim_mode::batching, 1);
  CHECK(other[1].finish == Approx(0.05 + 1.5 * f32_lat(0.1, 1)));
}

TEST_CASE("a pipeline's next stage counts as busy only while it computes", "[sim][cpu_share]") {
  // One (1,2) group, stages 0.1 each, 1 core. Request 0: stage 0 [0, l), stage 1 [l, 2l): never overlapping,
  // finish 2l. Request 1 at l + 0.01: stage 0 starts while stage 1 computes request 0 -> 2x, ends 3l + 0.01;
  // its stage 1 then starts alone (stage 0's op ended there): finish 4l + 0.01.
  auto table = policies::profile_table::build({"a"}, {entry("a", 1, 1, {0.2}, 1), entry("a", 1, 2, {0.1, 0.1}, 1)});
  REQUIRE(table.ok());
  const double l = f32_lat(0.1, 2);
  auto rec = run(*table, place({group(1, 2, {0})}), make_trace({"a"}, {{0.0, 0}, {l + 0.01, 0}}),
                 sim::sim_mode::batching, 1);
  CHECK(rec[0].finish == Approx(2 * l));
  CHECK(rec[1].finish == Approx(4 * l + 0.01));
}

TEST_CASE("the compat kernel ignores host_cores (AlpaServe's numbers stay exact)", "[sim][cpu_share]") {
  auto table = policies::profile_table::build({"a", "b"}, {entry("a", 1, 1, {0.1}, 1), entry("b", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  const auto p = place({group(1, 1, {0}), group(1, 1, {1})});
  const auto t = make_trace({"a", "b"}, {{0.0, 0}, {0.05, 1}, {0.06, 0}});
  auto with = run(*table, p, t, sim::sim_mode::compat, 1, 0.011);
  auto without = run(*table, p, t, sim::sim_mode::compat, 0, 0.011);
  for (std::size_t i = 0; i < with.size(); ++i) {
    CHECK(with[i].finish == without[i].finish); // bit for bit
    CHECK(with[i].status == without[i].status);
  }
}

TEST_CASE("a measured one-pass overhead (request_s) replaces the fixed overhead for its model only",
          "[sim][cpu_share]") {
  auto a = entry("a", 1, 1, {0.1}, 1);
  a.request_s = 0.002;
  auto table = policies::profile_table::build({"a", "b"}, {a, entry("b", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  const auto p = place({group(1, 1, {0}), group(1, 1, {1})});
  const auto t = make_trace({"a", "b"}, {{0.0, 0}, {0.0, 1}});
  const double l = f32_lat(0.1, 1);
  // batching adds the overhead before the stages, swapping after them: the same finish here.
  for (auto mode : {sim::sim_mode::batching, sim::sim_mode::swapping}) {
    auto rec = run(*table, p, t, mode, 0, 0.011);
    CHECK(rec[0].finish == Approx(0.002 + l));
    CHECK(rec[1].finish == Approx(0.011 + l));
  }
}

TEST_CASE("a measured capacity below the hardware threads stretches as its fraction of cores", "[sim][cpu_share]") {
  // host_cores 1.25 (what `profile --measure` found free): b starting beside a computes 2 / 1.25 = 1.6x.
  auto table = policies::profile_table::build({"a", "b"}, {entry("a", 1, 1, {0.1}, 1), entry("b", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  auto prepared = sim::prepare(make_trace({"a", "b"}, {{0.0, 0}, {0.05, 1}}), *table, 100);
  REQUIRE(prepared.ok());
  sim::sim_options opt;
  opt.mode = sim::sim_mode::batching;
  opt.overhead_s = 0;
  opt.host_cores = 1.25;
  sim::simulator s(*table, opt);
  std::vector<sim::request_record> rec;
  REQUIRE(s.run(place({group(1, 1, {0}), group(1, 1, {1})}), *prepared, 0, 2, &rec).ok());
  CHECK(rec[1].finish == Approx(0.05 + 1.6 * f32_lat(0.1, 1)));
}
