#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "policies/parallel/inter_op.hpp"

using namespace sy::policies::parallel;

namespace {
// Every split of L layers into pp non-empty contiguous stages.
void each_split(int L, int pp, const std::function<void(const std::vector<int>&)>& fn) {
  std::vector<int> b(pp + 1, 0);
  b[pp] = L;
  std::function<void(int)> rec = [&](int s) {
    if (s == pp) {
      fn(b);
      return;
    }
    for (int i = b[s - 1] + 1; i <= L - (pp - s); ++i) {
      b[s] = i;
      rec(s + 1);
    }
  };
  if (pp == 1)
    fn(b);
  else
    rec(1);
}

struct brute_result {
  double min_max = std::numeric_limits<double>::infinity();
  double min_pipe = std::numeric_limits<double>::infinity();
};

brute_result brute(const inter_op_problem& p, int B) {
  brute_result r;
  each_split(p.layers, p.pp, [&](const std::vector<int>& b) {
    double mx = 0, sum = 0;
    for (int s = 0; s < p.pp; ++s) {
      if (p.memory && p.memory_limit > 0 && p.memory(s, b[s], b[s + 1]) > p.memory_limit)
        return;
      double c = p.cost(s, b[s], b[s + 1]);
      mx = std::max(mx, c);
      sum += c;
    }
    r.min_max = std::min(r.min_max, mx);
    r.min_pipe = std::min(r.min_pipe, sum + (B - 1) * mx);
  });
  return r;
}
} // namespace

TEST_CASE("inter-op DP matches brute force on random small problems") {
  std::mt19937_64 rng{7};
  std::uniform_real_distribution<double> u{0.1, 1.0};
  int checked = 0, infeasible = 0;
  for (int seed = 0; seed < 300; ++seed) {
    int L = 1 + static_cast<int>(rng() % 9);
    int pp = 1 + static_cast<int>(rng() % std::min(L, 5));
    int B = 1 + static_cast<int>(rng() % 8);
    std::vector<double> cost(L), bytes(L);
    for (int i = 0; i < L; ++i) {
      cost[i] = u(rng);
      bytes[i] = u(rng);
    }
    double limit = (seed % 3 == 0) ? 0.8 + u(rng) : 0;
    auto p = additive_problem(cost, pp, bytes, limit);
    // a stage-dependent extra cost (like an embedding on stage 0) keeps the cost non-additive
    auto base = p.cost;
    p.cost = [base, pp](int s, int b, int e) { return base(s, b, e) + (s == 0 ? 0.3 : 0) + (s == pp - 1 ? 0.2 : 0); };
    auto want = brute(p, B);
    auto mm = split_min_max(p);
    auto pl = split_pipeline(p, B);
    if (std::isinf(want.min_max)) {
      CHECK_FALSE(mm.ok());
      CHECK_FALSE(pl.ok());
      if (!mm.ok())
        CHECK(mm.err().category == "memory");
      ++infeasible;
      continue;
    }
    REQUIRE(mm.ok());
    REQUIRE(pl.ok());
    CHECK(mm->max_cost == Approx(want.min_max).epsilon(1e-12));
    CHECK(pl->objective == Approx(want.min_pipe).epsilon(1e-12));
    REQUIRE(mm->boundaries.size() == static_cast<std::size_t>(pp + 1));
    CHECK(mm->boundaries.front() == 0);
    CHECK(mm->boundaries.back() == L);
    for (int s = 0; s < pp; ++s)
      CHECK(mm->boundaries[s] < mm->boundaries[s + 1]);
    ++checked;
  }
  CHECK(checked > 150);
  CHECK(infeasible > 0);
}

TEST_CASE("equal layers split evenly into stages") {
  auto r = split_min_max(additive_problem(std::vector<double>(12, 1.0), 4));
  REQUIRE(r.ok());
  CHECK(r->boundaries == std::vector<int>{0, 3, 6, 9, 12});
  CHECK(r->max_cost == Approx(3.0));
}

TEST_CASE("bad inter-op inputs are errors") {
  CHECK_FALSE(split_min_max(additive_problem({1, 2}, 3)).ok());
  CHECK_FALSE(split_min_max(additive_problem({}, 1)).ok());
  CHECK_FALSE(split_pipeline(additive_problem({1, 2}, 1), 0).ok());
  auto mem = split_min_max(additive_problem({1, 1, 1}, 3, {5, 1, 1}, 4));
  REQUIRE_FALSE(mem.ok());
  CHECK(mem.err().category == "memory");
}
