// The swapping simulator (ours, ALGORITHMS.md §2 "beyond compat", §5): a group may host more models than fit
// in its GPUs' memory; a per-GPU byte budget bounds the resident set (the compat memory rule: a model takes
// max_k weight_bytes[k] on every GPU of the group). Initially each group's models are made resident in the
// group's order while they fit. A request of a non-resident model evicts the models that the runtime's eviction
// policy object picks (the same view a model group builds: resident models, bytes, last use, demand, pinned
// while loading) and loads its stages in a pipeline: stage k is ready at
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
  const policies::eviction_fn& eviction;
  std::vector<double> clocks, copy_free, last_use, used;
  std::vector<char> resident;
  std::vector<unsigned long> stamp;
  std::vector<double> demand;    // [rep] the runtime group's demand: +1 per request, x0.99 per group request
  std::vector<double> load_done; // [rep] when its last load completes (pinned until then)
  unsigned long counter = 0;
  policies::eviction_view view;
  std::vector<std::int32_t> victims;

  // Victims (in the policy's order) that make room for replica r in its group at time `now`; false when r
  // cannot be loaded now.
  bool pick_victims(std::int32_t r, double now) {
    victims.clear();
    const auto& rp = c.reps[static_cast<std::size_t>(r)];
    const double w = c.weight[static_cast<std::size_t>(r)];
    if (w > budget)
      return false;
    const double u = used[static_cast<std::size_t>(rp.group)];
    if (u + w <= budget)
      return true;
    const auto g = static_cast<std::size_t>(rp.group);
    view.needed_bytes = static_cast<std::int64_t>(w);
    view.free_bytes = static_cast<std::int64_t>(budget - u);
    view.resident.clear();
    for (auto j = c.grep_begin[g]; j < c.grep_begin[g + 1]; ++j) {
      const auto o = static_cast<std::size_t>(c.greps[static_cast<std::size_t>(j)]);
      if (static_cast<std::int32_t>(o) != r && resident[o])
        view.resident.push_back({(*c.model_names)[static_cast<std::size_t>(c.reps[o].model)],
                                 static_cast<std::int64_t>(c.weight[o]), stamp[o], 0, load_done[o] > now, demand[o]});
    }
    const auto d = eviction(view);
    if (!d.possible)
      return false;
    for (const auto& name : d.victims)
      for (auto j = c.grep_begin[g]; j < c.grep_begin[g + 1]; ++j) {
        const auto o = c.greps[static_cast<std::size_t>(j)];
        if ((*c.model_names)[static_cast<std::size_t>(c.reps[static_cast<std::size_t>(o)].model)] == name) {
          victims.push_back(o);
          break;
        }
      }
    return true;
  }
};

} // namespace

void run_swapping(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, double host_cores,
                  double mem_budget, const policies::eviction_fn& eviction, counts& out, request_record* rec) {
  swap_state s{c, mem_budget, eviction, {}, {}, {}, {}, {}, {}, {}, {}, 0, {}, {}};
  const auto nrep = c.reps.size();
  s.clocks.assign(static_cast<std::size_t>(c.total_stages) + 1, 0.0);
  s.copy_free.assign(static_cast<std::size_t>(c.total_stages) + 1, 0.0);
  s.last_use.assign(c.lat.size() + 1, 0.0);
  s.used.assign(static_cast<std::size_t>(c.num_groups), 0.0);
  s.resident.assign(nrep, 0);
  s.stamp.assign(nrep, 0);
  s.demand.assign(nrep, 0.0);
  s.load_done.assign(nrep, 0.0);
  for (std::size_t g = 0; g < static_cast<std::size_t>(c.num_groups); ++g)
    for (auto j = c.grep_begin[g]; j < c.grep_begin[g + 1]; ++j) {
      const auto r = static_cast<std::size_t>(c.greps[static_cast<std::size_t>(j)]);
      if (s.used[g] + c.weight[r] <= mem_budget) {
        s.used[g] += c.weight[r];
        s.resident[r] = 1;
      }
    }

  cpu_share share{c, host_cores}; // host cores shared by cpu devices (off: every stretch 1)
  // Stage k of replica rp starting at `st` ends at st + its latency x the cpu stretch.
  auto stage_end = [&](const replica& rp, int k, double st) {
    return st + static_cast<double>(c.lat[static_cast<std::size_t>(rp.lat + k)]) *
                  share.stretch(static_cast<std::size_t>(rp.base + k), st);
  };
  double ready[max_stages], best_ready[max_stages], tmp[max_stages], from[max_stages];
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
      if (!res && !s.pick_victims(r, t0))
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
        x = stage_end(rp, k, std::max({x, s.clocks[cs], ready[k]}));
      }
      const double finish = x + c.rep_overhead[static_cast<std::size_t>(r)];
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
    const double overhead = c.rep_overhead[static_cast<std::size_t>(best)];
    ++out.group_requests[g];
    // Demand as the runtime group counts it (uniform decay: the order among the other models, which is all
    // the eviction policy reads, is the same whether it is applied before or after this request's decision).
    for (auto j = c.grep_begin[g]; j < c.grep_begin[g + 1]; ++j)
      s.demand[static_cast<std::size_t>(c.greps[static_cast<std::size_t>(j)])] *= 0.99;
    s.demand[static_cast<std::size_t>(best)] += 1;
    double load_wait = 0;
    if (!s.resident[static_cast<std::size_t>(best)]) {
      (void)s.pick_victims(best, t0);
      for (auto v : s.victims) {
        s.resident[static_cast<std::size_t>(v)] = 0;
        s.used[g] -= c.weight[static_cast<std::size_t>(v)];
      }
      for (int k = 0; k < rp.pp; ++k)
        s.copy_free[static_cast<std::size_t>(rp.base + k)] = best_ready[k];
      s.load_done[static_cast<std::size_t>(best)] = *std::max_element(best_ready, best_ready + rp.pp);
      s.resident[static_cast<std::size_t>(best)] = 1;
      s.used[g] += c.weight[static_cast<std::size_t>(best)];
      s.stamp[static_cast<std::size_t>(best)] = ++s.counter;
      double y = t0; // the finish had the model been resident
      for (int k = 0; k < rp.pp; ++k)
        y = stage_end(rp, k, std::max(y, s.clocks[static_cast<std::size_t>(rp.base + k)]));
      load_wait = std::max(0.0, best_finish - (y + overhead));
    }
    double x = t0;
    for (int k = 0; k < rp.pp; ++k) {
      const auto cs = static_cast<std::size_t>(rp.base + k);
      from[k] = std::max({x, s.clocks[cs], best_ready[k]});
      x = stage_end(rp, k, from[k]);
      tmp[k] = x;
    }
    const double finish = x + overhead;
    if (finish - t0 <= static_cast<double>(t.slo[i])) {
      const double start = std::max({t0, s.clocks[static_cast<std::size_t>(rp.base)], best_ready[0]});
      for (int k = 0; k < rp.pp; ++k) {
        s.clocks[static_cast<std::size_t>(rp.base + k)] = tmp[k];
        s.last_use[static_cast<std::size_t>(rp.lat + k)] = tmp[k];
        share.mark(static_cast<std::size_t>(rp.base + k), from[k], tmp[k]);
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
