#include "policies/placement/search.hpp"

#include <atomic>
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <thread>

namespace sy::policies {

namespace {

std::vector<int> all_models(const profile_table& t) {
  std::vector<int> v(static_cast<std::size_t>(t.num_models()));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

placement empty_groups(const profile_table& t, const std::vector<parallel_config>& configs) {
  placement p;
  p.model_names = t.model_names();
  for (auto c : configs)
    p.groups.push_back(group_placement{c, {}, {}});
  return p;
}

placement_schedule single(placement p) { return placement_schedule{{0.0}, {std::move(p)}}; }

status check(const placement_problem& pb) {
  if (!pb.profiles)
    return make_error("placement", "no profiles given");
  if (pb.num_devices < 1)
    return make_error("placement", "devices: expected >= 1, found " + std::to_string(pb.num_devices));
  if (!pb.make_evaluator)
    return make_error("placement", "no evaluator factory given");
  return {};
}

/// Runs task(i, evaluator) for i in [0, n) on up to `threads` threads, each with its own evaluator.
template <class Task>
void parallel_for(const placement_problem& pb, std::size_t n, std::size_t begin, std::size_t end,
                  const std::vector<char>& keep, evaluator_kind kind, Task task, bool report = true) {
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  int done = 0;
  auto worker = [&] {
    std::unique_ptr<placement_evaluator> ev;
    for (std::size_t i = next++; i < n; i = next++) {
      if (!ev)
        ev = pb.make_evaluator(begin, end, keep, kind);
      task(i, *ev);
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      if (report && pb.progress)
        pb.progress(done, static_cast<int>(n));
    }
  };
  const auto nt = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, pb.threads)));
  std::vector<std::thread> pool;
  for (std::size_t k = 1; k < nt; ++k)
    pool.emplace_back(worker);
  worker();
  for (auto& th : pool)
    th.join();
}

constexpr std::size_t all_requests = static_cast<std::size_t>(-1);

} // namespace

std::vector<placement> mp_search_candidates(int n, int per_node, int max_pp, int max_op) {
  std::vector<placement> out;
  for (int g = 1; g <= n; g *= 2) {
    if (g > per_node && g % per_node != 0)
      continue;
    const int reg = n / g;
    std::vector<int> quo; // AlpaServe's decompose2tok(n % g): powers of two, ascending
    for (int rest = n % g, s = 1; rest > 0; rest /= 2, s *= 2)
      if (rest % 2 == 1)
        quo.push_back(s);
    for (int pp = 1; pp <= g; pp *= 2) {
      const int op = g / pp;
      if (pp > max_pp || op > max_op)
        continue;
      placement p;
      for (int i = 0; i < reg; ++i)
        p.groups.push_back(group_placement{parallel_config{op, pp}, {}, {}});
      for (int s : quo)
        p.groups.push_back(group_placement{parallel_config{1, s}, {}, {}});
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::vector<std::vector<int>> device_partitions(int n, int k) {
  if (k == 1)
    return {{n}};
  std::vector<std::vector<int>> out;
  for (int i = 1; i < n; ++i) {
    if (!(i <= n % 8 || (n - i) % 8 == 0 || n % 8 == 0))
      continue;
    for (auto& pre : device_partitions(n - i, k - 1)) {
      pre.push_back(i);
      out.push_back(std::move(pre));
    }
  }
  return out;
}

std::vector<std::vector<int>> latency_buckets(const profile_table& t) {
  std::vector<std::vector<int>> buckets;
  for (int m = 0; m < t.num_models(); ++m) {
    const double l = t.single_max_stage_latency(m);
    bool placed = false;
    for (auto& b : buckets) {
      const double bl = t.single_max_stage_latency(b.front());
      if (std::fabs(l - bl) / bl < 0.38) {
        b.push_back(m);
        placed = true;
        break;
      }
    }
    if (!placed)
      buckets.push_back({m});
  }
  return buckets;
}

result<filled_placement> best_of(const placement_problem& pb, const std::vector<placement>& candidates,
                                 const std::vector<int>& models, const std::vector<char>& keep, evaluator_kind kind,
                                 double mem_budget, bool keep_best) {
  if (candidates.empty())
    return make_error("placement", "no candidate group configuration for " + std::to_string(pb.num_devices) +
                                       " devices");
  const auto n = candidates.size();
  std::vector<filled_placement> filled(n);
  // Branch and bound (compat scores): candidates in descending order of their score bound; one whose bound
  // is below the best score already reached is skipped (it can be neither the best nor tie with it), so the
  // result is the one of filling every candidate.
  const bool prune = kind == evaluator_kind::compat && !keep_best;
  std::vector<double> bound(n, std::numeric_limits<double>::infinity());
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (prune) {
    for (std::size_t i = 0; i < n; ++i)
      bound[i] = greedy_score_bound(candidates[i], models, *pb.profiles, mem_budget);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return bound[a] > bound[b]; });
  }
  std::vector<char> skipped(n, 0);
  std::mutex mu;
  double reached = -std::numeric_limits<double>::infinity();
  parallel_for(pb, n, 0, all_requests, keep, kind, [&](std::size_t pos, placement_evaluator& ev) {
    const auto i = order[pos];
    if (prune) {
      std::lock_guard<std::mutex> lock(mu);
      if (bound[i] < reached) {
        skipped[i] = 1;
        return;
      }
    }
    placement init = candidates[i];
    init.model_names = pb.profiles->model_names();
    filled[i] = greedy_fill(std::move(init), models, *pb.profiles, mem_budget, ev, keep_best);
    std::lock_guard<std::mutex> lock(mu);
    reached = std::max(reached, filled[i].score);
  });
  std::size_t best = n;
  for (std::size_t i = 0; i < n; ++i)
    if (!skipped[i] && (best == n || filled[i].score > filled[best].score))
      best = i;
  return std::move(filled[best]);
}

result<placement_schedule> mp_search_policy::operator()(const placement_problem& pb) const {
  if (auto st = check(pb); !st)
    return st.err();
  const auto& t = *pb.profiles;
  auto mixed = best_of(pb, mp_search_candidates(pb.num_devices, pb.devices_per_node), all_models(t), {},
                       evaluator_kind::compat, pb.mem_budget, false);
  if (!mixed)
    return mixed.err();
  if (!separation)
    return single(std::move(mixed->p));
  const auto buckets = latency_buckets(t);
  if (buckets.size() < 2)
    return single(std::move(mixed->p)); // one bucket: the separated solve is the mixed one
  if (pb.model_rates.size() != static_cast<std::size_t>(t.num_models()))
    return make_error("placement", "mp-search-sep needs one rate per model, found " +
                                       std::to_string(pb.model_rates.size()));
  const auto k = buckets.size();
  std::vector<float> ratio(k);
  float ratio_sum = 0;
  std::vector<double> lat(k);
  for (std::size_t i = 0; i < k; ++i) {
    double r = 0;
    for (int m : buckets[i])
      r += pb.model_rates[static_cast<std::size_t>(m)];
    ratio[i] = static_cast<float>(r);
    ratio_sum += ratio[i];
    lat[i] = t.single_max_stage_latency(buckets[i].front());
  }
  for (auto& r : ratio)
    r /= ratio_sum;
  const auto partitions = device_partitions(pb.num_devices, static_cast<int>(k));
  std::vector<std::vector<int>> reduced;
  for (double tau : {1.0, 0.5, 0.3, 0.2, 0.1}) {
    reduced.clear();
    for (const auto& part : partitions) {
      std::vector<double> thr(k);
      double sum = 0;
      for (std::size_t i = 0; i < k; ++i) {
        thr[i] = part[i] / lat[i];
        sum += thr[i];
      }
      double dis = 0;
      for (std::size_t i = 0; i < k; ++i)
        dis = std::max(dis, std::fabs(static_cast<double>(ratio[i]) - thr[i] / sum));
      if (dis < tau)
        reduced.push_back(part);
    }
    if (reduced.size() < 100)
      break;
  }
  std::vector<std::vector<char>> keeps(k, std::vector<char>(static_cast<std::size_t>(t.num_models()), 0));
  for (std::size_t i = 0; i < k; ++i)
    for (int m : buckets[i])
      keeps[i][static_cast<std::size_t>(m)] = 1;
  std::vector<placement> sols;
  for (const auto& part : reduced) {
    placement combined;
    combined.model_names = t.model_names();
    for (std::size_t i = 0; i < k; ++i) {
      placement_problem sub = pb;
      sub.num_devices = part[i];
      sub.progress = nullptr;
      auto r = best_of(sub, mp_search_candidates(part[i], pb.devices_per_node), buckets[i], keeps[i],
                       evaluator_kind::compat, pb.mem_budget, false);
      if (!r)
        return r.err();
      for (auto& g : r->p.groups)
        combined.groups.push_back(std::move(g));
    }
    sols.push_back(std::move(combined));
  }
  auto ev = pb.make_evaluator(0, all_requests, {}, evaluator_kind::compat);
  double best_score = mixed->score;
  placement best = std::move(mixed->p);
  double sep_best = -1e300;
  std::size_t sep_idx = 0;
  for (std::size_t i = 0; i < sols.size(); ++i) {
    const double s = ev->evaluate(sols[i]).score(sols[i].replicas());
    if (s > sep_best) {
      sep_best = s;
      sep_idx = i;
    }
  }
  if (!sols.empty() && sep_best > best_score)
    best = std::move(sols[sep_idx]);
  return single(std::move(best));
}

result<placement_schedule> sr_greedy_policy::operator()(const placement_problem& pb) const {
  if (auto st = check(pb); !st)
    return st.err();
  auto init = empty_groups(*pb.profiles, std::vector<parallel_config>(static_cast<std::size_t>(pb.num_devices), {1, 1}));
  auto r = best_of(pb, {init}, all_models(*pb.profiles), {}, evaluator_kind::compat, pb.mem_budget, false);
  if (!r)
    return r.err();
  return single(std::move(r->p));
}

result<placement_schedule> sr_replace_policy::operator()(const placement_problem& pb) const {
  if (auto st = check(pb); !st)
    return st.err();
  if (!(interval_s > 0))
    return make_error("placement", "sr-replace interval: expected > 0 seconds, found " + std::to_string(interval_s));
  // AlpaServe's split_time_interval.
  std::vector<std::pair<std::size_t, std::size_t>> windows;
  const auto& a = pb.arrivals;
  if (!a.empty()) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] > a[start] + interval_s) {
        windows.emplace_back(start, i);
        start = i;
      }
    windows.emplace_back(start, a.size());
  }
  if (windows.empty())
    return sr_greedy_policy{}(pb);
  placement_schedule out;
  out.start_times.resize(windows.size());
  out.placements.resize(windows.size());
  const auto models = all_models(*pb.profiles);
  const auto init = empty_groups(*pb.profiles, std::vector<parallel_config>(static_cast<std::size_t>(pb.num_devices), {1, 1}));
  // One evaluator per window (different request ranges): the pool's shared evaluator is unused.
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  int done = 0;
  auto worker = [&] {
    for (std::size_t w = next++; w < windows.size(); w = next++) {
      auto ev = pb.make_evaluator(windows[w].first, windows[w].second, {}, evaluator_kind::compat);
      auto f = greedy_fill(init, models, *pb.profiles, pb.mem_budget, *ev, false);
      out.start_times[w] = a[windows[w].first];
      out.placements[w] = std::move(f.p);
      std::lock_guard<std::mutex> lock(mu);
      if (pb.progress)
        pb.progress(++done, static_cast<int>(windows.size()));
    }
  };
  std::vector<std::thread> pool;
  for (int k = 1; k < std::min<int>(pb.threads, static_cast<int>(windows.size())); ++k)
    pool.emplace_back(worker);
  worker();
  for (auto& th : pool)
    th.join();
  return out;
}

result<placement_schedule> mp_round_robin_policy::operator()(const placement_problem& pb) const {
  if (!pb.profiles)
    return make_error("placement", "no profiles given");
  std::vector<parallel_config> configs(static_cast<std::size_t>(pb.num_devices / 4), {1, 4});
  for (int rest = pb.num_devices % 4, s = 1; rest > 0; rest /= 2, s *= 2)
    if (rest % 2 == 1)
      configs.push_back({1, s});
  return single(round_robin_fill(empty_groups(*pb.profiles, configs), all_models(*pb.profiles), *pb.profiles,
                                 pb.mem_budget));
}

result<placement_schedule> mp_greedy_policy::operator()(const placement_problem& pb) const {
  if (auto st = check(pb); !st)
    return st.err();
  if (group_size < 1 || pb.num_devices % group_size != 0)
    return make_error("placement", "mp-greedy-" + std::to_string(group_size) + ": devices (" +
                                       std::to_string(pb.num_devices) + ") must be a multiple of the group size");
  auto init = empty_groups(*pb.profiles, std::vector<parallel_config>(
                                             static_cast<std::size_t>(pb.num_devices / group_size), {1, group_size}));
  auto r = best_of(pb, {init}, all_models(*pb.profiles), {}, evaluator_kind::compat, pb.mem_budget, false);
  if (!r)
    return r.err();
  return single(std::move(r->p));
}

result<placement_schedule> swap_aware_policy::operator()(const placement_problem& pb) const {
  if (auto st = check(pb); !st)
    return st.err();
  if (!(pb.swap_overcommit >= 1))
    return make_error("placement", "swap overcommit: expected >= 1, found " + std::to_string(pb.swap_overcommit));
  const auto candidates = mp_search_candidates(pb.num_devices, pb.devices_per_node);
  auto r = best_of(pb, candidates, all_models(*pb.profiles), {}, evaluator_kind::swapping,
                   pb.mem_budget * pb.swap_overcommit, true);
  if (!r)
    return r.err();
  // The compat mp-search result, scored by the swapping simulator too: keep whichever is better.
  auto plain = best_of(pb, candidates, all_models(*pb.profiles), {}, evaluator_kind::compat, pb.mem_budget, false);
  if (!plain)
    return plain.err();
  auto ev = pb.make_evaluator(0, all_requests, {}, evaluator_kind::swapping);
  const double plain_score = ev->evaluate(plain->p).score(plain->p.replicas());
  return single(plain_score > r->score ? std::move(plain->p) : std::move(r->p));
}

} // namespace sy::policies
