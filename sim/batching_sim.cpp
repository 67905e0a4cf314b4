// The batching variant (ALGORITHMS.md §2), following AlpaServe's simulate_requests_mixed_batching step by step:
// per-model FIFO queues shared by the model's groups; a request joins its model's queue and the group whose last
// stage frees earliest is served at once when idle (stage 0 free); otherwise groups pick work when stage 0 frees
// (a heap of (idle time, group), ties to the lower group), serving the model whose queue head is oldest.
// A batch: drop heads that cannot finish alone, then grow 1 -> 2 -> 4 -> 8 -> 16 (at most max_batch, the
// deployment's greedy max_batch; 16 in compat) while enough requests wait and the head's deadline holds; overhead at the start; all finish together.
// Quirk kept for compat: when a popped idle group finds no queued work, the heap scan stops until the next
// arrival.
#include <algorithm>
#include <deque>
#include <functional>
#include <queue>

#include "sim/internal/compiled.hpp"

namespace sy::sim::internal {

namespace {

struct batching_state {
  const compiled& c;
  const prepared_trace& t;
  std::size_t begin;
  int max_batch; // batches of 1, 2, 4, 8, 16 up to this size (the deployment's greedy max_batch)
  counts& out;
  request_record* rec;
  std::vector<double> clocks;
  std::vector<double> idle; // [g] when stage 0 frees
  std::vector<std::vector<std::int32_t>> queue;
  std::vector<std::size_t> head;
  std::vector<std::vector<std::int32_t>> group_models; // [g] models, ascending (replica-of order)
  std::vector<std::int32_t> rep_of;                    // [g * num_models + m] replica index, -1
  std::priority_queue<std::pair<double, int>, std::vector<std::pair<double, int>>, std::greater<>> heap;
  cpu_share share; // host cores shared by cpu devices (off: every stretch 1)
  double tmp[max_stages], from[max_stages];
  // The runtime's admission rule (sim_options::admission): per group, the batches in its pipeline (finish,
  // model), finishes ascending (a pipeline finishes its batches in order).
  std::vector<std::deque<std::pair<double, std::int32_t>>> in_pipeline;
  std::vector<std::int64_t> scratch; // admit(): batches in the pipeline per model

  std::size_t qsize(int m) const { return queue[static_cast<std::size_t>(m)].size() - head[static_cast<std::size_t>(m)]; }
  std::int32_t qfront(int m) const { return queue[static_cast<std::size_t>(m)][head[static_cast<std::size_t>(m)]]; }
  std::int32_t qpop(int m) { return queue[static_cast<std::size_t>(m)][head[static_cast<std::size_t>(m)]++]; }

  int select_model(int g) const {
    double min_arrival = policies::compat_inf;
    int sel = -1;
    for (int m : group_models[static_cast<std::size_t>(g)]) {
      if (qsize(m) && t.arrival[static_cast<std::size_t>(qfront(m))] < min_arrival) {
        min_arrival = t.arrival[static_cast<std::size_t>(qfront(m))];
        sel = m;
      }
    }
    return sel;
  }

  std::int32_t rep(int m, int g) const {
    return rep_of[static_cast<std::size_t>(g) * static_cast<std::size_t>(c.num_models) + static_cast<std::size_t>(m)];
  }
  const float* blat(int m, int g) const {
    return c.blat.data() + static_cast<std::size_t>(c.reps[static_cast<std::size_t>(rep(m, g))].lat) * 5;
  }

  bool check(double ts, int g, const float* bl, int b, double deadline, double overhead) const {
    const int base = c.group_base[static_cast<std::size_t>(g)];
    double x = ts;
    for (int k = 0; k < c.group_pp[static_cast<std::size_t>(g)]; ++k) {
      const auto cl = static_cast<std::size_t>(base + k);
      const double st = std::max(clocks[cl], x);
      x = st + static_cast<double>(bl[k * 5 + b]) * share.stretch(cl, st);
    }
    return x + overhead <= deadline;
  }

  void record(std::int32_t i, request_record r) {
    if (rec)
      rec[static_cast<std::size_t>(i) - begin] = r;
  }

  // Returns the batch size served (0: every head was dropped).
  int serve(double ts, int m, int g) {
    const float* bl = blat(m, g);
    const double overhead = c.rep_overhead[static_cast<std::size_t>(rep(m, g))];
    std::int32_t head_req = -1;
    while (qsize(m)) {
      const auto r = qpop(m);
      const double deadline = t.arrival[static_cast<std::size_t>(r)] + static_cast<double>(t.slo[static_cast<std::size_t>(r)]);
      if (check(ts, g, bl, 0, deadline, overhead)) {
        head_req = r;
        break;
      }
      ++out.group_requests[static_cast<std::size_t>(g)];
      const double a = t.arrival[static_cast<std::size_t>(r)];
      record(r, request_record{a, a, a, a, request_status::rejected, g, 0, 0});
    }
    if (head_req < 0)
      return 0;
    const double deadline =
        t.arrival[static_cast<std::size_t>(head_req)] + static_cast<double>(t.slo[static_cast<std::size_t>(head_req)]);
    int b = 0;
    for (int nb = 1; nb < 5; ++nb) {
      const std::size_t bs = std::size_t{1} << nb;
      if (bs > static_cast<std::size_t>(std::max(1, max_batch)) || bs - 1 > qsize(m))
        break;
      if (check(ts, g, bl, nb, deadline, overhead))
        b = nb;
      else
        break;
    }
    const int bs = 1 << b;
    const int base = c.group_base[static_cast<std::size_t>(g)];
    const int pp = c.group_pp[static_cast<std::size_t>(g)];
    double x = ts + overhead;
    for (int k = 0; k < pp; ++k) {
      const auto cl = static_cast<std::size_t>(base + k);
      from[k] = std::max(x, clocks[cl]);
      x = from[k] + static_cast<double>(bl[k * 5 + b]) * share.stretch(cl, from[k]);
      tmp[k] = x;
    }
    for (int k = 0; k < pp; ++k) {
      clocks[static_cast<std::size_t>(base + k)] = tmp[k];
      share.mark(static_cast<std::size_t>(base + k), from[k], tmp[k]);
    }
    idle[static_cast<std::size_t>(g)] = tmp[0];
    heap.emplace(tmp[0], g);
    if (!in_pipeline.empty())
      in_pipeline[static_cast<std::size_t>(g)].emplace_back(x, m);
    for (int j = 0; j < bs; ++j) {
      const auto r = j == 0 ? head_req : qpop(m);
      const double a = t.arrival[static_cast<std::size_t>(r)];
      ++out.good;
      out.latency_sum += x - a;
      record(r, request_record{a, a, ts, x, request_status::ok, g, bs, 0});
    }
    out.group_requests[static_cast<std::size_t>(g)] += bs;
    out.model_good[static_cast<std::size_t>(m)] += bs;
    return bs;
  }

  /// batch-1 latency of model m on group g as the runtime measures it (dispatch to done, no queueing).
  double latency1(int m, int g) const {
    const float* bl = blat(m, g);
    double s = c.rep_overhead[static_cast<std::size_t>(rep(m, g))];
    for (int k = 0; k < c.group_pp[static_cast<std::size_t>(g)]; ++k)
      s += static_cast<double>(bl[k * 5]);
    return s;
  }

  /// The runtime controller's admission check for a request of model m arriving at ts for group g.
  bool admit(double ts, int m, int g, double slo, double slack) {
    auto& pipe = in_pipeline[static_cast<std::size_t>(g)];
    while (!pipe.empty() && pipe.front().first <= ts)
      pipe.pop_front();
    auto& batches = scratch;
    batches.assign(static_cast<std::size_t>(c.num_models), 0);
    for (const auto& b : pipe)
      ++batches[static_cast<std::size_t>(b.second)];
    double wait = 0;
    for (int mm : group_models[static_cast<std::size_t>(g)])
      wait += static_cast<double>(static_cast<std::int64_t>(qsize(mm)) + batches[static_cast<std::size_t>(mm)]) *
              latency1(mm, g);
    wait /= std::max(1, c.group_pp[static_cast<std::size_t>(g)]);
    return wait + slack * latency1(m, g) <= slo;
  }

  void handle(double ts, int m, int g) {
    // AlpaServe recurses: when every head of m was dropped, serve the group's oldest other model.
    while (m >= 0 && serve(ts, m, g) == 0)
      m = select_model(g);
  }
};

} // namespace

void run_batching(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, int max_batch,
                  double host_cores, const sim_options::runtime_admission& admission, counts& out,
                  request_record* rec) {
  batching_state s{c, t, begin, max_batch, out, rec, {}, {}, {}, {}, {}, {}, {}, cpu_share{c, host_cores}, {}, {}, {}, {}};
  const auto nm = static_cast<std::size_t>(c.num_models);
  const auto ng = static_cast<std::size_t>(c.num_groups);
  s.clocks.assign(static_cast<std::size_t>(c.total_stages) + 1, 0.0);
  s.idle.assign(ng, 0.0);
  s.queue.assign(nm, {});
  s.head.assign(nm, 0);
  s.group_models.assign(ng, {});
  s.rep_of.assign(ng * nm, -1);
  if (admission.on)
    s.in_pipeline.assign(ng, {});
  for (std::size_t m = 0; m < nm; ++m)
    for (auto r = c.rep_begin[m]; r < c.rep_begin[m + 1]; ++r) {
      const auto g = static_cast<std::size_t>(c.reps[static_cast<std::size_t>(r)].group);
      s.group_models[g].push_back(static_cast<std::int32_t>(m));
      s.rep_of[g * nm + m] = r;
    }

  for (std::size_t i = begin; i < end; ++i) {
    const double ts = t.arrival[i];
    while (!s.heap.empty() && s.heap.top().first <= ts) {
      const auto [idle_ts, g] = s.heap.top();
      s.heap.pop();
      const int sel = s.select_model(g);
      if (sel == -1)
        break;
      s.handle(idle_ts, sel, g);
    }
    const std::int32_t m = t.model[i];
    if (m < 0 || c.rep_begin[static_cast<std::size_t>(m)] == c.rep_begin[static_cast<std::size_t>(m) + 1]) {
      if (rec)
        rec[i - begin] = request_record{ts, ts, ts, ts, request_status::failed, -1, 0, 0};
      continue;
    }
    int g = -1;
    double min_clock = policies::compat_inf;
    for (auto r = c.rep_begin[static_cast<std::size_t>(m)]; r < c.rep_begin[static_cast<std::size_t>(m) + 1]; ++r) {
      const auto& rp = c.reps[static_cast<std::size_t>(r)];
      const double cl = s.clocks[static_cast<std::size_t>(rp.base + rp.pp - 1)];
      if (cl < min_clock) {
        min_clock = cl;
        g = rp.group;
      }
    }
    if (g < 0)
      g = c.reps[static_cast<std::size_t>(c.rep_begin[static_cast<std::size_t>(m)])].group;
    if (admission.on && !s.admit(ts, m, g, static_cast<double>(t.slo[i]), admission.slack)) {
      ++out.model_requests[static_cast<std::size_t>(m)];
      ++out.group_requests[static_cast<std::size_t>(g)];
      if (rec)
        rec[i - begin] = request_record{ts, ts, ts, ts, request_status::rejected, g, 0, 0};
      continue;
    }
    s.queue[static_cast<std::size_t>(m)].push_back(static_cast<std::int32_t>(i));
    ++out.model_requests[static_cast<std::size_t>(m)];
    if (ts >= s.idle[static_cast<std::size_t>(g)])
      s.handle(ts, m, g);
  }
  while (!s.heap.empty()) {
    const auto [idle_ts, g] = s.heap.top();
    s.heap.pop();
    const int sel = s.select_model(g);
    if (sel == -1)
      continue;
    s.handle(idle_ts, sel, g);
  }
  // AlpaServe asserts that every queue is empty here; anything left (not reachable in practice) is rejected.
  for (std::size_t m = 0; m < nm; ++m)
    while (s.qsize(static_cast<int>(m))) {
      const auto r = s.qpop(static_cast<int>(m));
      const double a = t.arrival[static_cast<std::size_t>(r)];
      if (rec)
        rec[static_cast<std::size_t>(r) - begin] = request_record{a, a, a, a, request_status::rejected, -1, 0, 0};
    }
}

} // namespace sy::sim::internal
