#include "policies/placement/greedy.hpp"

#include "policies/placement/numpy_argsort.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

namespace sy::policies {

namespace {

double model_weight(const profile_table& t, parallel_config c, int m) {
  const auto* v = t.view(c);
  return v ? v->max_weight[static_cast<std::size_t>(m)] : compat_inf;
}

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

} // namespace

double group_memory(const group_placement& g, const profile_table& t) {
  double sum = 0;
  for (int m : g.models)
    sum += model_weight(t, g.config, m);
  return sum;
}

placement normalize(placement p) {
  for (auto& g : p.groups)
    std::sort(g.models.begin(), g.models.end());
  std::stable_sort(p.groups.begin(), p.groups.end(),
                   [](const group_placement& a, const group_placement& b) { return a.models < b.models; });
  return p;
}

filled_placement greedy_fill(placement init, const std::vector<int>& models, const profile_table& t,
                             double mem_budget, placement_evaluator& ev, bool keep_best) {
  filled_placement best;
  placement sol = std::move(init);
  std::vector<int> model_order(models);
  std::vector<double> unserved(static_cast<std::size_t>(t.num_models()), 0.0);
  std::vector<int> group_order;
  std::vector<double> group_mem;
  std::vector<double> unserved_of;        // [position in models]
  std::vector<std::int64_t> requests_of;  // [group]
  int rounds = 0;
  while (true) {
    evaluation e = ev.evaluate(sol);
    ++rounds;
    const double score = e.score(sol.replicas());
    if (!keep_best || rounds == 1 || score > best.score) {
      best.p = sol;
      best.eval = e;
      best.score = score;
    }
    for (int m : models) {
      const auto mi = static_cast<std::size_t>(m);
      const double req = mi < e.model_requests.size() ? static_cast<double>(e.model_requests[mi]) : 0.0;
      const double good = mi < e.model_good.size() ? static_cast<double>(e.model_good[mi]) : 0.0;
      unserved[mi] = req * (1 - good / (req + 1e-6)); // AlpaServe: goodput = good / (requests + eps)
    }
    // AlpaServe: model_ids = np.argsort(unserved)[::-1] over the candidates in their order, group_ids =
    // np.argsort(num_requests); numpy's default sort is not stable, so ties follow its introsort.
    unserved_of.resize(models.size());
    for (std::size_t i = 0; i < models.size(); ++i)
      unserved_of[i] = unserved[static_cast<std::size_t>(models[i])];
    const std::vector<int> by_unserved = numpy_argsort(unserved_of);
    model_order.resize(models.size());
    for (std::size_t i = 0; i < models.size(); ++i)
      model_order[i] = models[static_cast<std::size_t>(by_unserved[models.size() - 1 - i])];
    const auto ng = sol.groups.size();
    requests_of.assign(ng, 0);
    for (std::size_t g = 0; g < ng && g < e.group_requests.size(); ++g)
      requests_of[g] = e.group_requests[g];
    group_order = numpy_argsort(requests_of);
    group_mem.resize(ng);
    for (std::size_t g = 0; g < ng; ++g)
      group_mem[g] = group_memory(sol.groups[g], t);
    int add_g = -1, add_m = -1;
    for (int g : group_order) {
      const auto& grp = sol.groups[static_cast<std::size_t>(g)];
      for (int m : model_order) {
        if (!contains(grp.models, m) && model_weight(t, grp.config, m) + group_mem[static_cast<std::size_t>(g)] <= mem_budget) {
          add_g = g;
          add_m = m;
          break;
        }
      }
      if (add_g >= 0)
        break;
    }
    if (add_g < 0)
      break;
    sol.groups[static_cast<std::size_t>(add_g)].models.push_back(add_m);
    sol = normalize(std::move(sol));
  }
  best.rounds = rounds;
  return best;
}

double greedy_score_bound(const placement& init, const std::vector<int>& models, const profile_table& t,
                          double mem_budget) {
  // The fewest seconds a good request can take: min over the groups' configs and the models that can be
  // served (the candidates and those already placed) of the sum of stage latencies (the kernel's float32
  // values; the fixed overhead only adds to it).
  double lmin = std::numeric_limits<double>::infinity();
  auto consider = [&](parallel_config c, int m) {
    const auto* v = t.view(c);
    const auto mi = static_cast<std::size_t>(m);
    if (!v || m < 0 || m >= t.num_models() || !v->present[mi])
      return;
    const auto pp = static_cast<std::size_t>(c.pp);
    double sum = 0;
    for (std::size_t k = 0; k < pp; ++k)
      sum += static_cast<double>(v->stage_lat[mi * pp + k]);
    lmin = std::min(lmin, sum);
  };
  long replicas = 0;
  std::vector<double> w;
  for (const auto& g : init.groups) {
    for (int m : g.models)
      consider(g.config, m);
    for (int m : models)
      consider(g.config, m);
    // Most models that can join: the lightest first, with slack for the order of the greedy's sums.
    w.clear();
    for (int m : models)
      if (!contains(g.models, m))
        w.push_back(model_weight(t, g.config, m));
    std::sort(w.begin(), w.end());
    double mem = group_memory(g, t);
    long added = 0;
    for (double x : w) {
      mem += x;
      if (mem > mem_budget * (1 + 1e-9) + 1e-9)
        break;
      ++added;
    }
    replicas += static_cast<long>(g.models.size()) + added;
  }
  const double per_request = std::isfinite(lmin) ? std::max(0.0, 1 - lmin / 1e4) : 0.0;
  return per_request + static_cast<double>(replicas) / 1e6 + 1e-9;
}

placement round_robin_fill(placement sol, const std::vector<int>& models, const profile_table& t, double mem_budget) {
  const auto ng = sol.groups.size();
  if (ng == 0)
    return sol;
  std::vector<double> mem(ng);
  for (std::size_t g = 0; g < ng; ++g)
    mem[g] = group_memory(sol.groups[g], t);
  std::size_t g = 0;
  bool found = true;
  while (found) {
    found = false;
    for (int m : models) {
      auto& grp = sol.groups[g];
      const double w = model_weight(t, grp.config, m);
      if (!contains(grp.models, m) && w + mem[g] <= mem_budget) {
        found = true;
        mem[g] += w;
        grp.models.push_back(m);
        g = (g + 1) % ng;
      }
    }
  }
  return sol;
}

void assign_devices(placement& p) {
  std::vector<std::size_t> order(p.groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return p.groups[a].config.gpus() > p.groups[b].config.gpus();
  });
  int next = 0;
  for (auto g : order) {
    auto& grp = p.groups[g];
    grp.devices.resize(static_cast<std::size_t>(grp.config.gpus()));
    for (auto& d : grp.devices)
      d = next++;
  }
}

} // namespace sy::policies
