// Branch and bound in the mp-search (best_of): the greedy's score bound, and that skipping candidates by it
// leaves the result exactly the one of filling every candidate, on random small cases.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <memory>
#include <random>

#include "../sim/sim_fixtures.hpp"
#include "policies/placement/search.hpp"
#include "sim/evaluator.hpp"

using namespace sy;
using sy::test::entry;

namespace {

struct random_case {
  policies::profile_table table;
  std::shared_ptr<const sim::prepared_trace> trace;
  int devices = 4;
  double budget = 0;
  std::vector<int> models;
};

/// Models with random latencies and weights, profiles for every (op, pp) with op <= 4, pp <= 8, op * pp <= 8,
/// a random trace (skewed rates, exponential gaps) and a budget of a few models per GPU.
std::unique_ptr<random_case> make_random_case(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  auto c = std::make_unique<random_case>();
  const int nm = 3 + static_cast<int>(rng() % 4);
  std::vector<std::string> names;
  std::vector<policies::profile_entry> es;
  double weight_sum = 0;
  for (int m = 0; m < nm; ++m) {
    names.push_back("m" + std::to_string(m));
    const double l = 0.02 + 0.18 * u(rng);
    const double w = 2e9 + 6e9 * u(rng);
    weight_sum += w;
    for (int op = 1; op <= 4; op *= 2)
      for (int pp = 1; op * pp <= 8; pp *= 2) {
        std::vector<double> lat(static_cast<std::size_t>(pp), l / pp * std::pow(0.6, std::log2(op)));
        es.push_back(entry(names.back(), op, pp, lat, static_cast<std::int64_t>(w / (op * pp))));
      }
    c->models.push_back(m);
  }
  auto table = policies::profile_table::build(names, es);
  REQUIRE(table.ok());
  c->table = std::move(*table);
  std::vector<double> rate(static_cast<std::size_t>(nm));
  double rate_sum = 0;
  for (auto& r : rate)
    rate_sum += (r = 0.2 + u(rng));
  std::vector<std::pair<double, int>> reqs;
  double t = 0;
  const double mean_gap = 0.01 + 0.05 * u(rng);
  for (int i = 0; i < 400; ++i) {
    t += -std::log(1 - u(rng)) * mean_gap;
    double x = u(rng) * rate_sum;
    int m = 0;
    while (m + 1 < nm && x >= rate[static_cast<std::size_t>(m)])
      x -= rate[static_cast<std::size_t>(m++)];
    reqs.emplace_back(t, m);
  }
  auto trace = sim::prepare(sy::test::make_trace(names, reqs), c->table, 2 + 4 * u(rng));
  REQUIRE(trace.ok());
  c->trace = std::make_shared<const sim::prepared_trace>(std::move(*trace));
  c->devices = rng() % 2 == 0 ? 4 : 8;
  c->budget = (1.2 + 2.5 * u(rng)) * weight_sum / nm;
  return c;
}

std::vector<std::pair<policies::parallel_config, std::vector<int>>> shape(const policies::placement& p) {
  std::vector<std::pair<policies::parallel_config, std::vector<int>>> v;
  for (const auto& g : p.groups)
    v.emplace_back(g.config, g.models);
  return v;
}

/// Counts the evaluations of every evaluator the factory makes.
struct counting_evaluator final : policies::placement_evaluator {
  counting_evaluator(std::unique_ptr<policies::placement_evaluator> inner, std::atomic<long>& n)
      : inner_(std::move(inner)), n_(&n) {}
  policies::evaluation evaluate(const policies::placement& p) override {
    ++*n_;
    return inner_->evaluate(p);
  }

private:
  std::unique_ptr<policies::placement_evaluator> inner_;
  std::atomic<long>* n_;
};

} // namespace

TEST_CASE("the greedy's score bound is never below the score the greedy reaches", "[placement]") {
  for (unsigned seed = 1; seed <= 12; ++seed) {
    auto c = make_random_case(seed);
    sim::fast_evaluator ev(c->table, c->trace, sim::sim_options{}, 0, c->trace->arrival.size());
    for (auto cand : policies::mp_search_candidates(c->devices, 8)) {
      cand.model_names = c->table.model_names();
      const double bound = policies::greedy_score_bound(cand, c->models, c->table, c->budget);
      const auto f = policies::greedy_fill(cand, c->models, c->table, c->budget, ev);
      INFO("seed " << seed << ", groups " << cand.groups.size() << ", first (" << cand.groups[0].config.op << ", "
                   << cand.groups[0].config.pp << ")");
      CHECK(f.score <= bound);
      CHECK(f.p.replicas() > 0);
    }
  }
}

TEST_CASE("mp-search's candidate pruning picks exactly the placement and score of filling every candidate",
          "[placement]") {
  long pruned_cases = 0;
  for (unsigned seed = 1; seed <= 16; ++seed) {
    auto c = make_random_case(seed);
    // Reference: every candidate filled, the first best score kept (the search without pruning).
    sim::fast_evaluator ev(c->table, c->trace, sim::sim_options{}, 0, c->trace->arrival.size());
    const auto candidates = policies::mp_search_candidates(c->devices, 8);
    policies::filled_placement ref;
    long ref_evals = 0;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      auto init = candidates[i];
      init.model_names = c->table.model_names();
      auto f = policies::greedy_fill(init, c->models, c->table, c->budget, ev);
      ref_evals += f.rounds;
      if (i == 0 || f.score > ref.score)
        ref = std::move(f);
    }
    for (int threads : {1, 2}) {
      std::atomic<long> evals{0};
      policies::placement_problem pb;
      pb.profiles = &c->table;
      pb.num_devices = c->devices;
      pb.mem_budget = c->budget;
      pb.threads = threads;
      auto inner = sim::make_evaluator_factory(c->table, c->trace, sim::sim_options{});
      pb.make_evaluator = [&](std::size_t b, std::size_t e, const std::vector<char>& keep,
                              policies::evaluator_kind kind) -> std::unique_ptr<policies::placement_evaluator> {
        return std::make_unique<counting_evaluator>(inner(b, e, keep, kind), evals);
      };
      auto got = policies::best_of(pb, candidates, c->models, {}, policies::evaluator_kind::compat, c->budget, false);
      REQUIRE(got.ok());
      INFO("seed " << seed << ", threads " << threads);
      CHECK(shape(got->p) == shape(ref.p));
      CHECK(got->score == ref.score); // bit for bit
      CHECK(got->eval.good == ref.eval.good);
      CHECK(got->eval.mean_latency == ref.eval.mean_latency);
      CHECK(evals.load() <= ref_evals);
      if (threads == 1 && evals.load() < ref_evals)
        ++pruned_cases;
    }
  }
  CHECK(pruned_cases > 0); // the bound does skip candidates on these cases
}
