// mp-search candidates, partitions, buckets, the policies end to end on small cases, the registry and plan files.
#include <catch2/catch.hpp>

#include <memory>

#include "../sim/sim_fixtures.hpp"
#include "policies/placement/plan_file.hpp"
#include "policies/placement/registry.hpp"
#include "policies/placement/search.hpp"
#include "sim/evaluator.hpp"

using namespace sy;
using sy::test::entry;
using policies::parallel_config;

namespace {

std::vector<std::vector<parallel_config>> configs_of(const std::vector<policies::placement>& ps) {
  std::vector<std::vector<parallel_config>> out;
  for (const auto& p : ps) {
    std::vector<parallel_config> v;
    for (const auto& g : p.groups)
      v.push_back(g.config);
    out.push_back(v);
  }
  return out;
}

/// Four models, two of them heavy; profiles for (1,1), (1,2), (2,1), (1,4), (2,2), (4,1).
struct search_case {
  policies::profile_table table;
  std::shared_ptr<const sim::prepared_trace> trace;
  policies::placement_problem pb;
};

std::unique_ptr<search_case> make_case(int devices) {
  std::vector<policies::profile_entry> es;
  const std::vector<std::string> names{"a", "b", "c", "d"};
  for (int m = 0; m < 4; ++m) {
    const double l = m < 2 ? 0.2 : 0.05;
    const std::int64_t w = m < 2 ? 8 : 4;
    es.push_back(entry(names[static_cast<std::size_t>(m)], 1, 1, {l}, w));
    es.push_back(entry(names[static_cast<std::size_t>(m)], 1, 2, {l / 2, l / 2}, w / 2));
    es.push_back(entry(names[static_cast<std::size_t>(m)], 2, 1, {l * 0.6}, w / 2));
    es.push_back(entry(names[static_cast<std::size_t>(m)], 1, 4, {l / 4, l / 4, l / 4, l / 4}, w / 4));
    es.push_back(entry(names[static_cast<std::size_t>(m)], 2, 2, {l * 0.3, l * 0.3}, w / 4));
    es.push_back(entry(names[static_cast<std::size_t>(m)], 4, 1, {l * 0.35}, w / 4));
  }
  auto c = std::make_unique<search_case>();
  auto table = policies::profile_table::build(names, es);
  REQUIRE(table.ok());
  c->table = std::move(*table);
  // A bursty deterministic pattern: 200 requests over 20 s.
  std::vector<std::pair<double, int>> reqs;
  for (int i = 0; i < 200; ++i)
    reqs.emplace_back(i * 0.1 + (i % 7 == 0 ? 0.05 : 0.0), (i * 7 + i / 5) % 4);
  auto trace = sim::prepare(sy::test::make_trace(names, reqs), c->table, 5);
  REQUIRE(trace.ok());
  c->trace = std::make_shared<const sim::prepared_trace>(std::move(*trace));
  c->pb.profiles = &c->table;
  c->pb.num_devices = devices;
  c->pb.mem_budget = 10;
  c->pb.arrivals = c->trace->arrival;
  c->pb.model_rates = {2.5, 2.5, 2.5, 2.5};
  c->pb.make_evaluator = sim::make_evaluator_factory(c->table, c->trace, sim::sim_options{});
  return c;
}

} // namespace

TEST_CASE("mp-search enumerates power-of-two groups with the remainder as pipelines, in AlpaServe's order",
          "[placement]") {
  using pc = parallel_config;
  auto got = configs_of(policies::mp_search_candidates(6, 8));
  std::vector<std::vector<pc>> want = {
      std::vector<pc>(6, pc{1, 1}),
      std::vector<pc>(3, pc{2, 1}),
      std::vector<pc>(3, pc{1, 2}),
      {pc{4, 1}, pc{1, 2}},
      {pc{2, 2}, pc{1, 2}},
      {pc{1, 4}, pc{1, 2}},
  };
  REQUIRE(got == want);
  // 16 devices: G = 16 only as (4,4) and (2,8); (1,16) has pp > 8 and (8,2) op > 4.
  auto g16 = configs_of(policies::mp_search_candidates(16, 8));
  REQUIRE(g16.size() == 1 + 2 + 3 + 3 + 2);
  REQUIRE(g16.back() == std::vector<pc>{pc{2, 8}});
  // 12 devices with nodes of 4: G = 8 is two whole nodes; remainder 4 -> one (1,4).
  auto g12 = configs_of(policies::mp_search_candidates(12, 4));
  REQUIRE(g12.back() == std::vector<pc>{pc{1, 8}, pc{1, 4}});
}

TEST_CASE("device partitions follow AlpaServe's get_partitions", "[placement]") {
  REQUIRE(policies::device_partitions(10, 2) == std::vector<std::vector<int>>{{9, 1}, {8, 2}});
  auto p16 = policies::device_partitions(16, 2);
  REQUIRE(p16.size() == 15);
  REQUIRE(p16.front() == std::vector<int>{15, 1});
  REQUIRE(p16.back() == std::vector<int>{1, 15});
  for (const auto& p : policies::device_partitions(12, 3))
    REQUIRE(p[0] + p[1] + p[2] == 12);
}

TEST_CASE("models are bucketed by single-GPU latency within 38% of the bucket's first model", "[placement]") {
  auto t = policies::profile_table::build({"a", "b", "c", "d"}, {entry("a", 1, 1, {0.1}, 1), entry("b", 1, 1, {0.3}, 1),
                                                                 entry("c", 1, 1, {0.137}, 1), entry("d", 1, 1, {0.138}, 1)});
  REQUIRE(t.ok());
  // c: |0.137 - 0.1| / 0.1 = 0.37 < 0.38 joins a; d: 0.38 is not < 0.38; |0.138-0.3|/0.3 = 0.54: new bucket.
  REQUIRE(policies::latency_buckets(*t) == std::vector<std::vector<int>>{{0, 2}, {1}, {3}});
}

TEST_CASE("mp-search keeps the best-scoring filled candidate", "[placement]") {
  auto c = make_case(4);
  auto pol = policies::make_placement_policy("mp-search");
  REQUIRE(pol.ok());
  auto s = (*pol)(c->pb);
  REQUIRE(s.ok());
  REQUIRE(s->placements.size() == 1);
  const auto& chosen = s->placements[0];
  sim::fast_evaluator ev(c->table, c->trace, sim::sim_options{}, 0, 200);
  const double chosen_score = ev.evaluate(chosen).score(chosen.replicas());
  double best = -1;
  for (const auto& cand : policies::mp_search_candidates(4, 8)) {
    auto f = policies::greedy_fill(cand, {0, 1, 2, 3}, c->table, 10, ev);
    best = std::max(best, f.score);
  }
  REQUIRE(chosen_score == best);
  int gpus = 0;
  for (const auto& g : chosen.groups) {
    gpus += g.config.gpus();
    REQUIRE(static_cast<int>(g.devices.size()) == g.config.gpus());
  }
  REQUIRE(gpus == 4);
}

TEST_CASE("sr-replace re-plans every window; windows start at their first arrival", "[placement]") {
  auto c = make_case(2);
  auto pol = policies::make_placement_policy("sr-replace-5");
  REQUIRE(pol.ok());
  auto s = (*pol)(c->pb);
  REQUIRE(s.ok());
  // Arrivals 0 .. 19.9: windows start at 0, the first arrival > 5, > 10.1, > 15.2 ...
  REQUIRE(s->placements.size() >= 4);
  REQUIRE(s->start_times[0] == c->trace->arrival[0]);
  for (std::size_t w = 1; w < s->start_times.size(); ++w)
    REQUIRE(s->start_times[w] > s->start_times[w - 1] + 5);
  for (const auto& p : s->placements)
    for (const auto& g : p.groups)
      REQUIRE(g.config == parallel_config{1, 1});
}

TEST_CASE("every registered policy produces a placement within memory on a small case", "[placement]") {
  auto c = make_case(4);
  for (std::string name : {"mp-search", "mp-search-sep", "sr-greedy", "mp-round-robin", "mp-greedy-2", "sr-replace-10"}) {
    auto pol = policies::make_placement_policy(name);
    REQUIRE(pol.ok());
    auto s = (*pol)(c->pb);
    INFO(name);
    REQUIRE(s.ok());
    for (const auto& p : s->placements) {
      REQUIRE(p.replicas() > 0);
      for (const auto& g : p.groups)
        REQUIRE(policies::group_memory(g, c->table) <= 10);
    }
  }
  auto swap = policies::make_placement_policy("swap-aware");
  REQUIRE(swap.ok());
  auto s = (*swap)(c->pb);
  REQUIRE(s.ok());
  for (const auto& g : s->placements[0].groups)
    REQUIRE(policies::group_memory(g, c->table) <= 10 * c->pb.swap_overcommit);
}

TEST_CASE("unknown or malformed policy names are errors that list the known ones", "[placement]") {
  auto bad = policies::make_placement_policy("mp-magic");
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.err().message.find("mp-search") != std::string::npos);
  REQUIRE_FALSE(policies::make_placement_policy("sr-replace-abc").ok());
  REQUIRE_FALSE(policies::make_placement_policy("mp-greedy-0").ok());
  auto c = make_case(3);
  auto g2 = policies::make_placement_policy("mp-greedy-2");
  REQUIRE(g2.ok());
  REQUIRE_FALSE((*g2)(c->pb).ok()); // 3 devices are not a multiple of 2
}

TEST_CASE("a plan survives a YAML round trip and bad plans name line, key and what was found", "[placement]") {
  policies::plan_file p;
  p.policy = "mp-search";
  p.devices = 3;
  p.mem_budget_bytes = 13.0 * (1LL << 30);
  p.expected_attainment = 0.875;
  p.slo_scale = 2.5;
  policies::placement pl;
  pl.model_names = {"a", "b"};
  pl.groups = {policies::group_placement{{1, 2}, {0, 1}, {0, 1}}, policies::group_placement{{1, 1}, {2}, {1}}};
  p.schedule = {{0.0, 30.5}, {pl, pl}};
  auto back = policies::parse_plan(policies::to_yaml(p));
  REQUIRE(back.ok());
  REQUIRE(back->policy == "mp-search");
  REQUIRE(back->expected_attainment == 0.875);
  REQUIRE(back->slo_scale == 2.5);
  REQUIRE(back->schedule.start_times == std::vector<double>{0.0, 30.5});
  REQUIRE(back->schedule.placements[1].groups[0].models == std::vector<int>{0, 1});
  REQUIRE(back->schedule.placements[1].groups[1].devices == std::vector<int>{2});
  REQUIRE(back->schedule.placements[0].model_names == pl.model_names);

  auto unknown = policies::parse_plan("models: [a]\ngroups:\n  - {op: 1, pp: 1, models: [zz]}\n", "p.yaml");
  REQUIRE_FALSE(unknown.ok());
  REQUIRE(unknown.err().message.find("p.yaml:3:") != std::string::npos);
  REQUIRE(unknown.err().message.find("zz") != std::string::npos);
  auto badpp = policies::parse_plan("models: [a]\ngroups:\n  - {op: 1, pp: two, models: [a]}\n", "p.yaml");
  REQUIRE_FALSE(badpp.ok());
  REQUIRE(badpp.err().message.find("pp: expected an integer >= 1, found 'two'") != std::string::npos);
  auto badscale = policies::parse_plan("slo_scale: -1\nmodels: [a]\ngroups: []\n", "p.yaml");
  REQUIRE_FALSE(badscale.ok());
  REQUIRE(badscale.err().message.find("p.yaml:1:") != std::string::npos);
  REQUIRE(badscale.err().message.find("slo_scale: expected a positive number") != std::string::npos);
}

TEST_CASE("swap-aware serves more models than fit in memory where mp-search cannot", "[placement][swap]") {
  // One GPU holding one of two models (6 of 6 bytes); loads take 0.05 s, SLO = 20 x 0.01 s = 0.2 s.
  auto table = policies::profile_table::build({"a", "b"}, {entry("a", 1, 1, {0.01}, 6, 0.05), entry("b", 1, 1, {0.01}, 6, 0.05)});
  REQUIRE(table.ok());
  std::vector<std::pair<double, int>> reqs;
  for (int i = 0; i < 100; ++i)
    reqs.emplace_back(i * 0.5, i % 2);
  auto prepared = sim::prepare(sy::test::make_trace({"a", "b"}, reqs), *table, 20);
  REQUIRE(prepared.ok());
  auto trace = std::make_shared<const sim::prepared_trace>(std::move(*prepared));
  sim::sim_options opt;
  opt.mem_budget_bytes = 6;
  policies::placement_problem pb;
  pb.profiles = &*table;
  pb.num_devices = 1;
  pb.mem_budget = 6;
  pb.arrivals = trace->arrival;
  pb.make_evaluator = sim::make_evaluator_factory(*table, trace, opt);
  auto mp = (*policies::make_placement_policy("mp-search"))(pb);
  auto sw = (*policies::make_placement_policy("swap-aware"))(pb);
  REQUIRE(mp.ok());
  REQUIRE(sw.ok());
  opt.mode = sim::sim_mode::swapping;
  sim::simulator s(*table, opt);
  auto e_mp = s.run(*mp, *trace);
  auto e_sw = s.run(*sw, *trace);
  REQUIRE(e_mp.ok());
  REQUIRE(e_sw.ok());
  REQUIRE(mp->placements[0].replicas() == 1);
  REQUIRE(sw->placements[0].replicas() == 2);
  REQUIRE(e_mp->attainment == Approx(0.5));
  REQUIRE(e_sw->attainment == Approx(1.0));
}
