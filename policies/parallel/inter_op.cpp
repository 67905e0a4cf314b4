#include "policies/parallel/inter_op.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

namespace sy::policies::parallel {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

status check(const inter_op_problem& p) {
  if (p.layers < 1)
    return make_error("parallel", "inter-op split: layers must be >= 1, found " + std::to_string(p.layers));
  if (p.pp < 1 || p.pp > p.layers)
    return make_error("parallel", "inter-op split: pipeline degree must be in [1, layers=" +
                                      std::to_string(p.layers) + "], found " + std::to_string(p.pp));
  if (!p.cost)
    return make_error("parallel", "inter-op split: no stage cost function");
  return {};
}

// Precomputed stage costs c[s][i][j] (inf when the stage does not fit in memory).
struct cost_table {
  int L, pp;
  std::vector<double> c;
  double& at(int s, int i, int j) { return c[(static_cast<std::size_t>(s) * (L + 1) + i) * (L + 1) + j]; }
  cost_table(const inter_op_problem& p) : L(p.layers), pp(p.pp) {
    c.assign(static_cast<std::size_t>(pp) * (L + 1) * (L + 1), inf);
    bool mem = p.memory && p.memory_limit > 0;
    for (int s = 0; s < pp; ++s)
      for (int i = s; i < L; ++i)
        for (int j = i + 1; j <= L - (pp - 1 - s); ++j)
          if (!mem || p.memory(s, i, j) <= p.memory_limit)
            at(s, i, j) = p.cost(s, i, j);
  }
};

error infeasible(const inter_op_problem& p) {
  return make_error("memory", "inter-op split: no split of " + std::to_string(p.layers) + " layers into " +
                                  std::to_string(p.pp) + " stages fits the per-GPU memory limit of " +
                                  std::to_string(static_cast<long long>(p.memory_limit)) + " bytes");
}

stage_split finish(cost_table& t, const std::vector<int>& b) {
  stage_split r;
  r.boundaries = b;
  for (int s = 0; s + 1 < static_cast<int>(b.size()); ++s) {
    double c = t.at(s, b[s], b[s + 1]);
    r.stage_costs.push_back(c);
    r.max_cost = std::max(r.max_cost, c);
    r.sum_cost += c;
  }
  return r;
}

// min sum over splits with every stage cost <= cap; returns boundaries or empty.
std::vector<int> min_sum_capped(cost_table& t, double cap, double& best_sum) {
  int L = t.L, pp = t.pp;
  std::vector<std::vector<double>> g(pp + 1, std::vector<double>(L + 1, inf));
  std::vector<std::vector<int>> arg(pp + 1, std::vector<int>(L + 1, -1));
  g[0][0] = 0;
  for (int s = 1; s <= pp; ++s)
    for (int i = s; i <= L; ++i)
      for (int k = s - 1; k < i; ++k) {
        if (g[s - 1][k] == inf)
          continue;
        double c = t.at(s - 1, k, i);
        if (c > cap)
          continue;
        double v = g[s - 1][k] + c;
        if (v < g[s][i]) {
          g[s][i] = v;
          arg[s][i] = k;
        }
      }
  best_sum = g[pp][L];
  if (best_sum == inf)
    return {};
  std::vector<int> b(pp + 1);
  b[pp] = L;
  for (int s = pp; s >= 1; --s)
    b[s - 1] = arg[s][b[s]];
  return b;
}

} // namespace

result<stage_split> split_min_max(const inter_op_problem& p) {
  if (auto st = check(p); !st)
    return st.err();
  cost_table t{p};
  int L = p.layers, pp = p.pp;
  // f = (max, sum) compared lexicographically at each step.
  std::vector<std::vector<std::pair<double, double>>> f(pp + 1,
                                                        std::vector<std::pair<double, double>>(L + 1, {inf, inf}));
  std::vector<std::vector<int>> arg(pp + 1, std::vector<int>(L + 1, -1));
  f[0][0] = {0, 0};
  for (int s = 1; s <= pp; ++s)
    for (int i = s; i <= L; ++i)
      for (int k = s - 1; k < i; ++k) {
        if (f[s - 1][k].first == inf)
          continue;
        double c = t.at(s - 1, k, i);
        if (c == inf)
          continue;
        std::pair<double, double> v{std::max(f[s - 1][k].first, c), f[s - 1][k].second + c};
        if (v < f[s][i]) {
          f[s][i] = v;
          arg[s][i] = k;
        }
      }
  if (f[pp][L].first == inf)
    return infeasible(p);
  std::vector<int> b(pp + 1);
  b[pp] = L;
  for (int s = pp; s >= 1; --s)
    b[s - 1] = arg[s][b[s]];
  auto r = finish(t, b);
  r.objective = r.max_cost;
  return r;
}

result<stage_split> split_pipeline(const inter_op_problem& p, int microbatches) {
  if (auto st = check(p); !st)
    return st.err();
  if (microbatches < 1)
    return make_error("parallel", "inter-op split: micro-batches must be >= 1, found " +
                                      std::to_string(microbatches));
  cost_table t{p};
  std::vector<double> caps;
  for (double c : t.c)
    if (c != inf)
      caps.push_back(c);
  std::sort(caps.begin(), caps.end());
  caps.erase(std::unique(caps.begin(), caps.end()), caps.end());
  double best = inf;
  std::vector<int> best_b;
  double B = microbatches;
  for (double cap : caps) {
    if (B * cap > best) // any split with max >= cap costs at least B*cap
      break;
    double sum = inf;
    auto b = min_sum_capped(t, cap, sum);
    if (b.empty())
      continue;
    double obj = sum + (B - 1) * cap; // the real max may be below cap: then an earlier cap found it
    if (obj < best) {
      best = obj;
      best_b = std::move(b);
    }
  }
  if (best_b.empty())
    return infeasible(p);
  auto r = finish(t, best_b);
  r.objective = r.sum_cost + (B - 1) * r.max_cost;
  return r;
}

inter_op_problem additive_problem(std::vector<double> layer_cost, int pp, std::vector<double> layer_bytes,
                                  double memory_limit) {
  inter_op_problem p;
  p.layers = static_cast<int>(layer_cost.size());
  p.pp = pp;
  auto pc = std::make_shared<std::vector<double>>(layer_cost.size() + 1, 0.0);
  for (std::size_t i = 0; i < layer_cost.size(); ++i)
    (*pc)[i + 1] = (*pc)[i] + layer_cost[i];
  p.cost = [pc](int, int b, int e) { return (*pc)[static_cast<std::size_t>(e)] - (*pc)[static_cast<std::size_t>(b)]; };
  if (!layer_bytes.empty()) {
    auto pb = std::make_shared<std::vector<double>>(layer_bytes.size() + 1, 0.0);
    for (std::size_t i = 0; i < layer_bytes.size(); ++i)
      (*pb)[i + 1] = (*pb)[i] + layer_bytes[i];
    p.memory = [pb](int, int b, int e) {
      return (*pb)[static_cast<std::size_t>(e)] - (*pb)[static_cast<std::size_t>(b)];
    };
    p.memory_limit = memory_limit;
  }
  return p;
}

} // namespace sy::policies::parallel
