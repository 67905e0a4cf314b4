// The compat kernel (ALGORITHMS.md §2): the hot loop of the placement search. Keep it allocation-free.
#include <algorithm>
#include <type_traits>

#include "sim/internal/compiled.hpp"

namespace sy::sim::internal {

namespace {

// PP: the pipeline degree of every group when uniform (1, 2, 4, 8: loops unrolled), 0: mixed degrees.
template <bool Rec, int PP>
void kernel(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, double overhead,
            double* clocks, counts& out, request_record* rec) {
  const prepared_trace::packed* rows = t.rows.data();
  const std::int32_t* rep_begin = c.rep_begin.data();
  const replica* reps = c.reps.data();
  const std::int32_t* last = c.rep_last.data();
  const double* lat = c.lat.data();
  long* model_requests = out.model_requests.data();
  long* model_good = out.model_good.data();
  long* group_requests = out.group_requests.data();
  long good = 0;
  double latency_sum = 0;
  double tmp[max_stages];

  for (std::size_t i = begin; i < end; ++i) {
    const double t0 = rows[i].arrival;
    const std::int32_t m = rows[i].model;
    if (m < 0) {
      if constexpr (Rec)
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::failed, -1, 0, 0};
      continue;
    }
    ++model_requests[m];
    const std::int32_t rb = rep_begin[m], re = rep_begin[m + 1];
    if (rb == re) {
      if constexpr (Rec)
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::failed, -1, 0, 0};
      continue;
    }
    // Earliest free last stage; ties keep the lowest group (replicas are in group order).
    std::int32_t best;
    if constexpr (PP == 1) {
      best = rb;
      double best_clock = clocks[last[rb]];
      for (std::int32_t r = rb + 1; r < re; ++r) {
        const double cl = clocks[last[r]];
        const bool lt = cl < best_clock; // strict: the lowest group wins ties
        best = lt ? r : best;
        best_clock = lt ? cl : best_clock;
      }
      const replica& rp = reps[best];
      const double start = std::max(t0, best_clock);
      const double done = start + static_cast<double>(lat[rp.lat]);
      const double finish = done + overhead;
      ++group_requests[rp.group];
      if (finish - t0 <= static_cast<double>(rows[i].slo)) {
        clocks[rp.base] = done;
        ++model_good[m];
        ++good;
        latency_sum += finish - t0;
        if constexpr (Rec)
          rec[i - begin] = request_record{t0, t0, start, finish, request_status::ok, rp.group, 1, 0};
      } else if constexpr (Rec) {
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::rejected, rp.group, 1, 0};
      }
    } else {
      best = rb;
      double best_clock = clocks[last[rb]];
      for (std::int32_t r = rb + 1; r < re; ++r) {
        const double cl = clocks[last[r]];
        const bool lt = cl < best_clock; // strict: the lowest group wins ties
        best = lt ? r : best;
        best_clock = lt ? cl : best_clock;
      }
      const replica& rp = reps[best];
      double* gc = clocks + rp.base;
      const double* l = lat + rp.lat;
      const std::int32_t pp = PP > 0 ? PP : rp.pp;
      double x = t0;
      for (std::int32_t k = 0; k < pp; ++k) {
        x = std::max(x, gc[k]) + static_cast<double>(l[k]);
        tmp[k] = x;
      }
      const double finish = x + overhead;
      ++group_requests[rp.group];
      if (finish - t0 <= static_cast<double>(rows[i].slo)) {
        if constexpr (Rec)
          rec[i - begin] =
              request_record{t0, t0, std::max(t0, gc[0]), finish, request_status::ok, rp.group, 1, 0};
        for (std::int32_t k = 0; k < pp; ++k)
          gc[k] = tmp[k];
        ++model_good[m];
        ++good;
        latency_sum += finish - t0;
      } else if constexpr (Rec) {
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::rejected, rp.group, 1, 0};
      }
    }
  }
  out.good += good;
  out.latency_sum += latency_sum;
}

} // namespace

void run_compat(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, double overhead,
                std::vector<double>& scratch, counts& out, request_record* rec) {
  scratch.assign(static_cast<std::size_t>(c.total_stages) + 1, 0.0);
  double* clocks = scratch.data();
  int uniform = c.group_pp.empty() ? 1 : c.group_pp.front();
  for (auto pp : c.group_pp)
    if (pp != uniform)
      uniform = 0;
  auto go = [&](auto pp_tag) {
    constexpr int P = decltype(pp_tag)::value;
    if (rec)
      kernel<true, P>(c, t, begin, end, overhead, clocks, out, rec);
    else
      kernel<false, P>(c, t, begin, end, overhead, clocks, out, rec);
  };
  switch (c.max_pp == 1 ? 1 : uniform) {
  case 1:
    go(std::integral_constant<int, 1>{});
    break;
  case 2:
    go(std::integral_constant<int, 2>{});
    break;
  case 4:
    go(std::integral_constant<int, 4>{});
    break;
  case 8:
    go(std::integral_constant<int, 8>{});
    break;
  default:
    go(std::integral_constant<int, 0>{});
    break;
  }
}

} // namespace sy::sim::internal
