// The compat kernel (ALGORITHMS.md §2): the hot loop of the placement search. Keep it allocation-free.
//
// Speed notes (`switchyard bench sim`): the replica scan runs over whole chunks of compiled::scan_width slots
// (padding slots read a clock that stays +infinity), reduced as a tree, so that it has no data-dependent loop
// exit. Every operation on times is the same as in the plain statement (max, +, <= on the same values in the
// same order), so results are bit-for-bit the same.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "sim/internal/compiled.hpp"

namespace sy::sim::internal {

namespace {

static_assert(compiled::scan_width == 4, "scan4 reduces chunks of 4 slots");


// The scan is the serial part of the simulation: a request's choice reads the clocks the previous request
// wrote, so the time per request is the latency of clock load -> choice -> pipeline -> clock store. The
// choice is a tree (depth 3 for up to 8 replicas) of branch-free minimum steps (which replica frees first is
// random: a branch on it mispredicts often) that carry the chosen clock's index along, so that the group's
// clocks can be loaded right away; the slot (group, inline latencies) is loaded in parallel.

// The comparisons run on the clocks' bit patterns as unsigned integers: clocks are never negative (arrivals are
// >= 0, prepare() checks; latencies are >= 0) nor NaN, and for such doubles the IEEE 754 bit patterns are in the
// same order as the values (+infinity, the padding, above all). Integer compare + cmov is 2 cycles per tree level
// where comisd + setcc + masking is about 7.

inline std::uint64_t bits(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

inline double from_bits(std::uint64_t u) {
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
}

/// (bv, bj, bc) = (v, j, c) when v < bv (strict: on ties the earlier candidate stays).
inline void keep_min(std::uint64_t v, std::int32_t j, std::int32_t c, std::uint64_t& bv, std::int32_t& bj,
                     std::int32_t& bc) {
  const bool lt = v < bv;
  bj = lt ? j : bj;
  bc = lt ? c : bc;
  bv = lt ? v : bv;
}

/// Offset in [0, 4), clock index and value (bits) of the first minimum of the 4 clocks of a chunk.
inline void scan4(const double* clocks, const std::int32_t* s, std::uint64_t& v, std::int32_t& j, std::int32_t& c) {
  const std::int32_t s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
  std::uint64_t a = bits(clocks[s0]), b = bits(clocks[s2]);
  std::int32_t ia = 0, ib = 2, ca = s0, cb = s2;
  keep_min(bits(clocks[s1]), 1, s1, a, ia, ca);
  keep_min(bits(clocks[s3]), 3, s3, b, ib, cb);
  keep_min(b, ib, cb, a, ia, ca); // the pair (0, 1) holds the lower offsets
  v = a;
  j = ia;
  c = ca;
}

// PP: the pipeline degree of every group when uniform (1, 2, 4, 8: loops unrolled), 0: mixed degrees.
template <bool Rec, int PP>
void kernel(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, double overhead,
            double* clocks, counts& out, request_record* rec) {
  const prepared_trace::packed* rows = t.rows.data();
  const std::int32_t* rep_begin = c.rep_begin.data();
  const std::int32_t* scan_begin = c.scan_begin.data();
  const std::int32_t* scan = c.scan.data();
  const compiled::slot* slots = c.slots.data();
  const double* lat = c.lat.data();
  long* model_requests = out.model_requests.data();
  long* model_good = out.model_good.data();
  long* group_requests = out.group_requests.data();
  long good = 0;
  double latency_sum = 0;
  double tmp[max_stages];
  constexpr bool inline_lat = PP >= 1 && PP <= compiled::inline_stages;

  for (std::size_t i = begin; i < end; ++i) {
    const double t0 = rows[i].arrival;
    const std::int32_t m = rows[i].model;
    if (m < 0) {
      if constexpr (Rec)
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::failed, -1, 0, 0};
      continue;
    }
    ++model_requests[m];
    const std::int32_t sb = scan_begin[m], se = scan_begin[m + 1];
    if (sb == se) {
      if constexpr (Rec)
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::failed, -1, 0, 0};
      continue;
    }
    // Earliest free last stage; ties keep the lowest group (replicas are in group order).
    std::uint64_t best_bits;
    std::int32_t best, clock;
    if (rep_begin[m + 1] - rep_begin[m] <= 2) { // one step (the planner's early rounds: 1-2 replicas each)
      best = 0;
      clock = scan[sb];
      best_bits = bits(clocks[clock]);
      keep_min(bits(clocks[scan[sb + 1]]), 1, scan[sb + 1], best_bits, best, clock); // padding never wins
    } else {
      scan4(clocks, scan + sb, best_bits, best, clock);
      for (std::int32_t s = sb + compiled::scan_width; s < se; s += compiled::scan_width) {
        std::uint64_t v;
        std::int32_t j, ci;
        scan4(clocks, scan + s, v, j, ci);
        keep_min(v, j + (s - sb), ci, best_bits, best, clock); // the earlier chunk wins ties
      }
    }
    const double best_clock = from_bits(best_bits);
    const compiled::slot& sl = slots[sb + best];
    ++group_requests[sl.group];
    if constexpr (PP == 1) {
      const double start = std::max(t0, best_clock);
      const double done = start + static_cast<double>(sl.l[0]);
      const double finish = done + overhead;
      if (finish - t0 <= static_cast<double>(rows[i].slo)) {
        clocks[clock] = done;
        ++model_good[m];
        ++good;
        latency_sum += finish - t0;
        if constexpr (Rec)
          rec[i - begin] = request_record{t0, t0, start, finish, request_status::ok, sl.group, 1, 0};
      } else if constexpr (Rec) {
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::rejected, sl.group, 1, 0};
      }
    } else {
      const std::int32_t pp = PP > 0 ? PP : sl.pp;
      double* gc = clocks + (clock - (pp - 1));
      double x = t0;
      for (std::int32_t k = 0; k < pp; ++k) {
        const double l = inline_lat ? static_cast<double>(sl.l[k]) : lat[sl.lat + k];
        x = std::max(x, gc[k]) + l;
        tmp[k] = x;
      }
      const double finish = x + overhead;
      if (finish - t0 <= static_cast<double>(rows[i].slo)) {
        if constexpr (Rec)
          rec[i - begin] =
              request_record{t0, t0, std::max(t0, gc[0]), finish, request_status::ok, sl.group, 1, 0};
        for (std::int32_t k = 0; k < pp; ++k)
          gc[k] = tmp[k];
        ++model_good[m];
        ++good;
        latency_sum += finish - t0;
      } else if constexpr (Rec) {
        rec[i - begin] = request_record{t0, t0, t0, t0, request_status::rejected, sl.group, 1, 0};
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
  scratch.back() = std::numeric_limits<double>::infinity(); // the padding slots' clock (never written)
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
