// The compat greedy replica filling (ALGORITHMS.md §3) on small hand cases, with the real simulator.
#include <catch2/catch.hpp>

#include <memory>

#include "../sim/sim_fixtures.hpp"
#include "policies/placement/greedy.hpp"
#include "sim/evaluator.hpp"

using namespace sy;
using sy::test::entry;
using sy::test::group;

namespace {

/// m0: 30 requests, m1: 20, m2: 10, far apart (every placed model is fully served).
struct greedy_case {
  policies::profile_table table;
  std::shared_ptr<const sim::prepared_trace> trace;
};

greedy_case make_case() {
  auto table = policies::profile_table::build(
      {"m0", "m1", "m2"}, {entry("m0", 1, 1, {0.1}, 5), entry("m1", 1, 1, {0.1}, 5), entry("m2", 1, 1, {0.1}, 5)});
  REQUIRE(table.ok());
  std::vector<std::pair<double, int>> reqs;
  double t = 0;
  for (int i = 0; i < 60; ++i) {
    const int m = i % 6 < 3 ? 0 : (i % 6 < 5 ? 1 : 2); // per 6: three m0, two m1, one m2
    reqs.emplace_back(t, m);
    t += 1.0;
  }
  auto trace = sim::prepare(sy::test::make_trace({"m0", "m1", "m2"}, reqs), *table, 10);
  REQUIRE(trace.ok());
  return greedy_case{std::move(*table), std::make_shared<const sim::prepared_trace>(std::move(*trace))};
}

/// An evaluator that records every placement it is asked to score.
struct recording_evaluator final : policies::placement_evaluator {
  explicit recording_evaluator(std::unique_ptr<policies::placement_evaluator> inner) : inner_(std::move(inner)) {}
  policies::evaluation evaluate(const policies::placement& p) override {
    seen.push_back(p);
    return inner_->evaluate(p);
  }
  std::vector<policies::placement> seen;

private:
  std::unique_ptr<policies::placement_evaluator> inner_;
};

std::vector<std::vector<int>> models_of(const policies::placement& p) {
  std::vector<std::vector<int>> v;
  for (const auto& g : p.groups)
    v.push_back(g.models);
  return v;
}

} // namespace

TEST_CASE("the greedy adds the most unserved model to the least loaded group, one replica per round", "[placement]") {
  auto c = make_case();
  recording_evaluator ev(std::make_unique<sim::fast_evaluator>(c.table, c.trace, sim::sim_options{}, 0, 60));
  policies::placement init;
  init.groups = {group(1, 1, {}), group(1, 1, {})};
  // Budget 10: two models (5 bytes each) per group.
  auto r = policies::greedy_fill(init, {0, 1, 2}, c.table, 10, ev);
  // Round by round (groups renumbered by normalize after each addition):
  //  1: nothing served: m0 (30) first, both groups idle -> g0:          [[], [0]]
  //  2: m1 (20) most unserved, the empty group first ->                 [[0], [1]]
  //  3: m2 (10); g1 (20 requests) before g0 (30) ->                     [[0], [1, 2]]
  //  4: all served (unserved ~ 1e-6, larger for more requests: m0, m1, m2); groups tie at 30 -> g0 gets m1
  //  5: nothing fits: stop.
  using vv = std::vector<std::vector<int>>;
  REQUIRE(ev.seen.size() == 5);
  REQUIRE(models_of(ev.seen[1]) == vv{{}, {0}});
  REQUIRE(models_of(ev.seen[2]) == vv{{0}, {1}});
  REQUIRE(models_of(ev.seen[3]) == vv{{0}, {1, 2}});
  REQUIRE(models_of(ev.seen[4]) == vv{{0, 1}, {1, 2}});
  REQUIRE(models_of(r.p) == vv{{0, 1}, {1, 2}});
  REQUIRE(r.rounds == 5);
  REQUIRE(r.eval.attainment == Approx(1.0));
  REQUIRE(r.score == Approx(r.eval.attainment - r.eval.mean_latency / 1e4 + 4 / 1e6));
}

TEST_CASE("the greedy's memory rule: the sum over a group's models of max-stage weight stays within budget",
          "[placement]") {
  auto c = make_case();
  sim::fast_evaluator ev(c.table, c.trace, sim::sim_options{}, 0, 60);
  policies::placement init;
  init.groups = {group(1, 1, {}), group(1, 1, {})};
  struct row {
    double budget;
    std::size_t replicas;
  };
  for (auto [budget, replicas] : {row{4.9, 0}, row{5, 2}, row{9.99, 2}, row{10, 4}, row{15, 6}, row{100, 6}}) {
    auto r = policies::greedy_fill(init, {0, 1, 2}, c.table, budget, ev);
    INFO("budget " << budget);
    REQUIRE(static_cast<std::size_t>(r.p.replicas()) == replicas);
    for (const auto& g : r.p.groups)
      REQUIRE(policies::group_memory(g, c.table) <= budget);
  }
}

TEST_CASE("a config without a profile entry never fits (infinite memory)", "[placement]") {
  auto c = make_case();
  sim::fast_evaluator ev(c.table, c.trace, sim::sim_options{}, 0, 60);
  policies::placement init;
  init.groups = {group(1, 2, {})}; // no (1,2) entries
  auto r = policies::greedy_fill(init, {0, 1, 2}, c.table, 1e15, ev);
  REQUIRE(r.p.replicas() == 0);
}

TEST_CASE("normalize sorts models in groups and groups by their model lists, configs moving along", "[placement]") {
  policies::placement p;
  p.groups = {group(1, 1, {3, 1}), group(1, 2, {}), group(2, 1, {0, 5}), group(1, 4, {1, 2})};
  auto n = policies::normalize(p);
  REQUIRE(models_of(n) == std::vector<std::vector<int>>{{}, {0, 5}, {1, 2}, {1, 3}});
  REQUIRE(n.groups[0].config == policies::parallel_config{1, 2});
  REQUIRE(n.groups[1].config == policies::parallel_config{2, 1});
  REQUIRE(n.groups[3].config == policies::parallel_config{1, 1});
}

TEST_CASE("round robin fills groups in turn until memory is full", "[placement]") {
  auto c = make_case();
  policies::placement init;
  init.groups = {group(1, 1, {}), group(1, 1, {})};
  auto p = policies::round_robin_fill(init, {0, 1, 2}, c.table, 10);
  // pass 1: m0 -> g0, m1 -> g1, m2 -> g0; pass 2: m0 in g1? g1 = [1] -> add m0 -> g0 full ... 
  REQUIRE(models_of(p) == std::vector<std::vector<int>>{{0, 2}, {1, 0}});
}

TEST_CASE("devices are assigned largest groups first so that groups stay aligned", "[placement]") {
  policies::placement p;
  p.groups = {group(1, 2, {}), group(1, 8, {}), group(1, 1, {}), group(2, 2, {})};
  policies::assign_devices(p);
  REQUIRE(p.groups[1].devices.front() == 0);
  REQUIRE(p.groups[3].devices == std::vector<int>{8, 9, 10, 11});
  REQUIRE(p.groups[0].devices == std::vector<int>{12, 13});
  REQUIRE(p.groups[2].devices == std::vector<int>{14});
}

TEST_CASE("one profile entry per model type serves every model of that preset; a model's own entry wins",
          "[placement]") {
  auto t = policies::profile_table::build(
      {"bert-1.3b-0", "bert-1.3b-1", "gpt-a"},
      {entry("bert-1.3b", 1, 1, {0.1}, 5), entry("bert-1.3b", 1, 2, {0.05, 0.05}, 3),
       entry("bert-1.3b-1", 1, 1, {0.2}, 7), entry("gpt-a", 1, 1, {0.3}, 9)},
      {"bert-1.3b", "bert-1.3b", ""});
  REQUIRE(t.ok());
  const auto* one = t->view({1, 1});
  const auto* two = t->view({1, 2});
  REQUIRE(one != nullptr);
  REQUIRE(two != nullptr);
  CHECK(t->single_latency(0) == Approx(0.1)); // the type's entry
  CHECK(t->single_latency(1) == Approx(0.2)); // its own entry, not the type's
  CHECK(one->max_weight == std::vector<double>{5, 7, 9});
  CHECK(two->max_weight[0] == 3); // the type's (1,2) entry serves both
  CHECK(two->max_weight[1] == 3);
  CHECK(two->max_weight[2] == policies::compat_inf);

  auto untyped = policies::profile_table::build({"bert-1.3b-0"}, {entry("bert-1.3b", 1, 1, {0.1}, 5)});
  REQUIRE_FALSE(untyped.ok());
  auto typed_missing = policies::profile_table::build({"bert-2.6b-0"}, {entry("bert-1.3b", 1, 1, {0.1}, 5)}, {"bert-2.6b"});
  REQUIRE_FALSE(typed_missing.ok());
  CHECK(typed_missing.err().message ==
        "model 'bert-2.6b-0': expected a profile entry for config (op=1, pp=1) (the SLO base) named after it or its "
        "type 'bert-2.6b', found none");
}
