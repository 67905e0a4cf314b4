// The compat kernel (chunked, branch-free scan; inline latencies) against a plain statement of ALGORITHMS.md
// §2 on random placements: many replicas per model (several scan chunks), mixed and uniform pipeline degrees
// (1, 2, 4, 8: every kernel specialisation), ties (simultaneous arrivals), drops. With and without records.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "sim/simulator.hpp"
#include "sim_fixtures.hpp"

using namespace sy;

namespace {

struct reference_result {
  std::vector<int> group;     // -1: failed
  std::vector<char> ok;
  std::vector<double> finish; // ok requests
  long good = 0;
  double latency_sum = 0;
};

/// The plain statement: scan the replicas in group order, strict <, pipeline max/+, drop at dispatch.
reference_result reference(const policies::placement& p, const policies::profile_table& t,
                           const sim::prepared_trace& tr) {
  std::vector<std::vector<double>> clocks;
  for (const auto& g : p.groups)
    clocks.emplace_back(static_cast<std::size_t>(g.config.pp), 0.0);
  reference_result r;
  for (std::size_t i = 0; i < tr.arrival.size(); ++i) {
    const double t0 = tr.arrival[i];
    const int m = tr.model[i];
    int best = -1;
    for (std::size_t g = 0; g < p.groups.size(); ++g)
      if (std::find(p.groups[g].models.begin(), p.groups[g].models.end(), m) != p.groups[g].models.end())
        if (best < 0 || clocks[g].back() < clocks[static_cast<std::size_t>(best)].back())
          best = static_cast<int>(g);
    r.group.push_back(best);
    r.ok.push_back(0);
    r.finish.push_back(0);
    if (best < 0)
      continue;
    const auto& grp = p.groups[static_cast<std::size_t>(best)];
    const auto* v = t.view(grp.config);
    const int pp = grp.config.pp;
    std::vector<double> tmp(static_cast<std::size_t>(pp));
    double x = t0;
    for (int k = 0; k < pp; ++k) {
      const double l = v && v->present[static_cast<std::size_t>(m)]
                         ? static_cast<double>(v->stage_lat[static_cast<std::size_t>(m * pp + k)])
                         : static_cast<double>(static_cast<float>(policies::compat_inf));
      x = std::max(x, clocks[static_cast<std::size_t>(best)][static_cast<std::size_t>(k)]) + l;
      tmp[static_cast<std::size_t>(k)] = x;
    }
    const double finish = x + 0.011;
    if (finish - t0 <= static_cast<double>(tr.slo[i])) {
      clocks[static_cast<std::size_t>(best)] = tmp;
      r.ok.back() = 1;
      r.finish.back() = finish;
      ++r.good;
      r.latency_sum += finish - t0;
    }
  }
  return r;
}

} // namespace

TEST_CASE("the compat kernel matches a plain statement of the simulator on random placements, bit for bit",
          "[sim]") {
  std::mt19937_64 rng(7);
  const std::vector<std::vector<int>> pp_sets = {{1}, {2}, {4}, {8}, {1, 2, 4}, {1, 8}, {2, 4, 8}};
  int cases = 0;
  for (const auto& pps : pp_sets)
    for (int rep = 0; rep < 6; ++rep, ++cases) {
      const int models = 1 + static_cast<int>(rng() % 6);
      std::vector<std::string> names;
      std::vector<policies::profile_entry> entries;
      for (int m = 0; m < models; ++m) {
        names.push_back("m" + std::to_string(m));
        entries.push_back(test::entry(names.back(), 1, 1, {0.05 + 0.01 * m}, 1));
        for (int pp : pps)
          if (pp > 1 && rng() % 5 != 0) { // sometimes no entry: infinite latency (compat)
            std::vector<double> lat;
            for (int k = 0; k < pp; ++k)
              lat.push_back(0.05 / pp + 0.003 * static_cast<double>(rng() % 4));
            entries.push_back(test::entry(names.back(), 1, pp, lat, 1));
          }
      }
      auto table = policies::profile_table::build(names, entries);
      REQUIRE(table.ok());
      policies::placement p;
      p.model_names = names;
      const int groups = 1 + static_cast<int>(rng() % 14);
      for (int g = 0; g < groups; ++g) {
        std::vector<int> ms;
        for (int m = 0; m < models; ++m)
          if (rng() % 3 != 0)
            ms.push_back(m);
        p.groups.push_back(test::group(1, pps[rng() % pps.size()], ms));
      }
      std::vector<std::pair<double, int>> reqs;
      double now = 0;
      for (int i = 0; i < 400; ++i) {
        now += (rng() % 4 == 0) ? 0.0 : 0.001 * static_cast<double>(rng() % 30); // ties: equal arrivals
        reqs.emplace_back(now, static_cast<int>(rng() % static_cast<unsigned>(models)));
      }
      auto tr = sim::prepare(test::make_trace(names, reqs), *table, 1.5 + 0.5 * (cases % 4));
      REQUIRE(tr.ok());
      const auto want = reference(p, *table, *tr);
      sim::simulator s(*table, {});
      std::vector<sim::request_record> rec;
      auto with = s.run(p, *tr, 0, tr->arrival.size(), &rec);
      auto without = s.run(p, *tr);
      REQUIRE(with.ok());
      REQUIRE(without.ok());
      INFO("case " << cases);
      for (std::size_t i = 0; i < rec.size(); ++i) {
        INFO("request " << i);
        REQUIRE(rec[i].group == want.group[i]);
        REQUIRE((rec[i].status == sim::request_status::ok) == (want.ok[i] != 0));
        if (want.ok[i])
          REQUIRE(rec[i].finish == want.finish[i]); // exact
      }
      for (const auto* e : {&*with, &*without}) {
        REQUIRE(e->good == want.good);
        REQUIRE(e->mean_latency == want.latency_sum / static_cast<double>(reqs.size())); // exact
      }
      REQUIRE(with->model_good == without->model_good);
      REQUIRE(with->group_requests == without->group_requests);
    }
  REQUIRE(cases == 42);
}

TEST_CASE("a negative or NaN arrival is an error naming the request (the kernel relies on clocks >= 0)", "[sim]") {
  auto table = policies::profile_table::build({"a"}, {test::entry("a", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  auto bad = sim::prepare(test::make_trace({"a"}, {{-0.5, 0}, {1.0, 0}}), *table, 5);
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.err().message.find("trace request 0: arrival: expected a non-negative") != std::string::npos);
  auto nan = sim::prepare(test::make_trace({"a"}, {{0.5, 0}, {std::nan(""), 0}}), *table, 5);
  REQUIRE_FALSE(nan.ok());
  REQUIRE(nan.err().message.find("trace request 1: arrival") != std::string::npos);
  REQUIRE(sim::prepare(test::make_trace({"a"}, {{0.0, 0}, {1.0, 0}}), *table, 5).ok());
}
