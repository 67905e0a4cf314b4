// The swapping simulator (ours, ALGORITHMS.md §2 "beyond compat", §5): a group may host more models than fit
// in its GPUs' memory; a per-GPU byte budget bounds the resident set (the compat memory rule: a model takes
// max_k weight_bytes[k] on every GPU of the group). Initially each group's models are made resident in the
// group's order while they fit. A request of a non-resident model evicts least-recently-used models until it
// fits and loads its stages in a pipeline: stage k is ready at
//   max(arrival, copy stream of stage k free, every victim's last use of stage k done) + load_seconds[k],
// and the request's stage k starts at max(previous stage done, stage clock, ready_k). The replica with the
// earliest predicted finish serves (ties: lowest group); admission as in compat. Batch size 1.
#include <algorithm>

#include "sim/internal/compiled.hpp"

namespace sy::sim::internal {

namespace {

struct swap_state {
  const compiled& c;
  double budget;
  std::vector<double> clocks, copy_free, last_use, used;
  std::vector<char> resident;
  std::vector<unsigned long> stamp;
  unsigned long counter = 0;
  std::vector<std::pair<unsigned long, std::int32_t>> lru;
  std::vector<std::int32_t> victims;

  // Victims (LRU first) that make room for replica r in its group; false when r can never fit.
  bool pick_victims(std::int32_t r) {
    victims.clear();
    const auto& rp = c.reps[static_cast<std::size_t>(r)];
    const double w = c.weight[static_cast<std::size_t>(r)];
    if (w > budget)
      return false;
    double u = used[static_cast<std::size_t>(rp.group)];
    if (u + w <= budget)
      return true;
    lru.clear();
    for (auto j = c.grep_begin[static_cast<std::size_t>(rp.group)]; j < c.grep_begin[static_cast<std::size_t>(rp.group) + 1]; ++j) {
      const auto o = c.greps[static_cast<std::size_t>(j)];
      if (o != r && resident[static_cast<std::size_t>(o)])
        lru.emplace_back(stamp[static_cast<std::size_t>(o)], o);
    }
    std::sort(lru.begin(), lru.end());
    for (const auto& [s, o] : lru) {
      if (u + w <= budget)
        break;
      victims.push_back(o);
      u -= c.weight[static_cast<std::size_t>(o)];
    }
    return u + w <= budget;
  }
};

} // namespace

void run_swapping(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, double overhead,
                  double mem_budget, counts& out, request_record* rec) {
  swap_state s{c, mem_budget, {}, {}, {}, {}, {}, {}, 0, {}, {}};
  const auto nrep = c.reps.size();
  s.clocks.assign(static_cast<std::size_t>(c.total_stages) + 1, 0.0);
  s.copy_free.assign(static_cast<std::size_t>(c.total_stages) + 1, 0.0);
  s.last_use.assign(c.lat.size() + 1, 0.0);
  s.used.assign(static_cast<std::size_t>(c.num_groups), 0.0);
  s.resident.assign(nrep, 0);
  s.stamp.assign(nrep, 0);
  for (std::size_t g = 0; g < static_cast<std::size_t>(c.num_groups); ++g)
    for (auto j = c.grep_begin[g]; j < c.grep_begin[g + 1]; ++j) {
      const auto r = static_cast<std::size_t>(c.greps[static_cast<std::size_t>(j)]);
      if (s.used[g] + c.weight[r] <= mem_budget) {
        s.used[g] += c.weight[r];
        s.resident[r] = 1;
      }
    }

  double ready[max_stages], best_ready[max_stages], tmp[max_stages];
  for (std::size_t i = begin; i < end; ++i) {
    const double t0 = t.arrival[i];
    const std::int32_t m = t.model[i];
    auto fail = [&] {
      if (rec)
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::failed, -1, 0, 0};
    };
    if (m < 0) {
      fail();
      continue;
    }
    ++out.model_requests[static_cast<std::size_t>(m)];
    std::int32_t best = -1;
    double best_finish = 0;
    for (auto r = c.rep_begin[static_cast<std::size_t>(m)]; r < c.rep_begin[static_cast<std::size_t>(m) + 1]; ++r) {
      const auto& rp = c.reps[static_cast<std::size_t>(r)];
      const bool res = s.resident[static_cast<std::size_t>(r)];
      if (!res && !s.pick_victims(r))
        continue;
      double x = t0;
      for (int k = 0; k < rp.pp; ++k) {
        const auto cs = static_cast<std::size_t>(rp.base + k);
        ready[k] = 0;
        if (!res) {
          double evict_done = 0;
          for (auto v : s.victims)
            evict_done = std::max(evict_done, s.last_use[static_cast<std::size_t>(c.reps[static_cast<std::size_t>(v)].lat + k)]);
          ready[k] = std::max({t0, s.copy_free[cs], evict_done}) + c.load[static_cast<std::size_t>(rp.lat + k)];
        }
        x = std::max({x, s.clocks[cs], ready[k]}) + static_cast<double>(c.lat[static_cast<std::size_t>(rp.lat + k)]);
      }
      const double finish = x + overhead;
      if (best < 0 || finish < best_finish) {
        best = r;
        best_finish = finish;
        std::copy(ready, ready + rp.pp, best_ready);
      }
    }
    if (best < 0) {
      fail();
      continue;
    }
    const auto& rp = c.reps[static_cast<std::size_t>(best)];
    const auto g = static_cast<std::size_t>(rp.group);
    ++out.group_requests[g];
    double load_wait = 0;
    if (!s.resident[static_cast<std::size_t>(best)]) {
      (void)s.pick_victims(best);
      for (auto v : s.victims) {
        s.resident[static_cast<std::size_t>(v)] = 0;
        s.used[g] -= c.weight[static_cast<std::size_t>(v)];
      }
      for (int k = 0; k < rp.pp; ++k)
        s.copy_free[static_cast<std::size_t>(rp.base + k)] = best_ready[k];
      s.resident[static_cast<std::size_t>(best)] = 1;
      s.used[g] += c.weight[static_cast<std::size_t>(best)];
      s.stamp[static_cast<std::size_t>(best)] = ++s.counter;
      double y = t0; // the finish had the model been resident
      for (int k = 0; k < rp.pp; ++k)
        y = std::max(y, s.clocks[static_cast<std::size_t>(rp.base + k)]) +
            static_cast<double>(c.lat[static_cast<std::size_t>(rp.lat + k)]);
      load_wait = std::max(0.0, best_finish - (y + overhead));
    }
    double x = t0;
    for (int k = 0; k < rp.pp; ++k) {
      const auto cs = static_cast<std::size_t>(rp.base + k);
      x = std::max({x, s.clocks[cs], best_ready[k]}) + static_cast<double>(c.lat[static_cast<std::size_t>(rp.lat + k)]);
      tmp[k] = x;
    }
    const double finish = x + overhead;
    if (finish - t0 <= static_cast<double>(t.slo[i])) {
      const double start = std::max({t0, s.clocks[static_cast<std::size_t>(rp.base)], best_ready[0]});
      for (int k = 0; k < rp.pp; ++k) {
        s.clocks[static_cast<std::size_t>(rp.base + k)] = tmp[k];
        s.last_use[static_cast<std::size_t>(rp.lat + k)] = tmp[k];
      }
      s.stamp[static_cast<std::size_t>(best)] = ++s.counter;
      ++out.model_good[static_cast<std::size_t>(m)];
      ++out.good;
      out.latency_sum += finish - t0;
      if (rec)
        rec[i - begin] = request_record{t0, t0, start, finish, request_status::ok, rp.group, 1, load_wait};
    } else if (rec) {
      rec[i - begin] = request_record{t0, t0, t0, t0, request_status::rejected, rp.group, 1, load_wait};
    }
  }
}

} // namespace sy::sim::internal
