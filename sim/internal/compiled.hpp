#pragma once
// Private to sim/: a placement flattened for the simulation kernels. Built per run (cheap: groups x models).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "policies/placement/placement.hpp"
#include "policies/placement/profile_table.hpp"
#include "sim/simulator.hpp"

namespace sy::sim::internal {

inline constexpr int max_stages = 64;

struct replica {
  std::int32_t group;
  std::int32_t base; // first clock of the group
  std::int32_t pp;
  std::int32_t lat;  // first index into compiled::lat (stage k at lat + k)
  std::int32_t model;
};

struct compiled {
  const std::vector<std::string>* model_names = nullptr; // the table's, index -> name
  int num_models = 0;
  int num_groups = 0;
  int total_stages = 0;
  int max_pp = 1;
  std::vector<std::int32_t> group_pp, group_base;
  std::vector<std::int32_t> rep_begin; // [m], size num_models + 1; replicas of m in ascending group order
  std::vector<replica> reps;
  std::vector<std::int32_t> rep_last;  // [rep] index of the replica group's last-stage clock (hot scan)
  // The compat kernel's scan: model m's replicas' last-stage clock indices at slots [scan_begin[m],
  // scan_begin[m + 1]), in replica order, padded to a multiple of scan_width with the index of a clock that
  // stays +infinity (clock `total_stages`), so that the scan runs whole chunks without a data-dependent exit.
  // slots[i] describes the replica behind scan[i] (padding: group -1, never chosen), with the first stage
  // latencies inline so that the pipeline computation needs no load that waits for another.
  static constexpr int scan_width = 4;
  static constexpr int inline_stages = 4;
  struct slot {
    std::int32_t group;
    std::int32_t lat; // first index into lat
    std::int32_t pp;
    std::int32_t pad;
    float l[inline_stages]; // batch-1 stage latencies (float32, penalty applied) for k < min(pp, 4)
  };
  std::vector<std::int32_t> scan_begin; // [m], size num_models + 1
  std::vector<std::int32_t> scan;
  std::vector<slot> slots;
  std::vector<double> lat;             // batch-1 stage latencies (float32 values with the penalty, widened)
  // batching / swapping only
  std::vector<float> blat;             // [(lat + k) * 5 + b]
  std::vector<double> load;            // [lat + k]
  std::vector<double> weight;          // [rep] max_k weight bytes
  std::vector<double> rep_overhead;     // [rep] per-request overhead: the profile's request_s, else the option's
  std::vector<std::int32_t> clock_devices; // [clock] devices computing a stage op of that clock (group's op)
  std::vector<std::int32_t> grep_begin; // [g], size num_groups + 1
  std::vector<std::int32_t> greps;      // replica indices of group g, in the group's model order
};

/// `overhead`: the per-request overhead of replicas whose profile entry has no request_s (extended only).
result<compiled> compile(const policies::placement& p, const policies::profile_table& table, bool extended,
                         double overhead = 0);

/// Host cores shared by cpu device threads (sim_options::host_cores): remembers, per stage clock, the interval
/// of the last op scheduled on it, and stretches an op that starts while others compute. Deterministic; with
/// cores <= 0 every stretch is 1 and nothing is recorded.
class cpu_share {
public:
  cpu_share(const compiled& c, double cores)
      : cores_(cores), devices_(&c.clock_devices),
        from_(cores > 0 ? c.clock_devices.size() : 0, 0.0), to_(cores > 0 ? c.clock_devices.size() : 0, 0.0) {}
  bool on() const { return cores_ > 0; }
  /// The factor for an op of clock `k` starting at `start`: max(1, n / cores) / max(1, own / cores), n = the
  /// clock's own devices plus those of every other clock whose last op covers start (from <= start < to). The
  /// divisor: the profile measured the op with its own `own` devices (tensor ranks) busy at once, so that
  /// much sharing is in its time already.
  double stretch(std::size_t k, double start) const {
    if (cores_ <= 0)
      return 1.0;
    const int own = (*devices_)[k];
    int n = own;
    for (std::size_t j = 0; j < from_.size(); ++j)
      if (j != k && from_[j] <= start && start < to_[j])
        n += (*devices_)[j];
    return std::max(1.0, static_cast<double>(n) / cores_) / std::max(1.0, static_cast<double>(own) / cores_);
  }
  /// Stage clock k computes over [from, to).
  void mark(std::size_t k, double from, double to) {
    if (cores_ <= 0)
      return;
    from_[k] = from;
    to_[k] = to;
  }

private:
  double cores_;
  const std::vector<std::int32_t>* devices_;
  std::vector<double> from_, to_;
};

struct counts {
  std::vector<long> model_requests, model_good, group_requests;
  long good = 0;
  double latency_sum = 0; // good requests: finish - arrival (dropped count as 0)
  generation_stats gen{};  // the generation kernel's
  void reset(int models, int groups) {
    gen = {};
    model_requests.assign(static_cast<std::size_t>(models), 0);
    model_good.assign(static_cast<std::size_t>(models), 0);
    group_requests.assign(static_cast<std::size_t>(groups), 0);
    good = 0;
    latency_sum = 0;
  }
};

void run_compat(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, double overhead,
                std::vector<double>& scratch, counts& out, request_record* rec);
/// batching and swapping: overheads per replica (compiled::rep_overhead); cpu sharing with host_cores > 0;
/// batching: the runtime's admission rule when admission.on.
void run_batching(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, int max_batch,
                  double host_cores, const sim_options::runtime_admission& admission, counts& out,
                  request_record* rec);
/// The generation kernel (sim/generation_sim.cpp): requests of [begin, end) with output_tokens > 0; adds to
/// `out` and fills their records. Errors: a placed model with generation requests whose entry lacks the
/// generation fields (naming the model and config).
[[nodiscard]] status run_generation(const policies::placement& p, const policies::profile_table& table,
                                    const prepared_trace& t, std::size_t begin, std::size_t end, const sim_options& opt,
                                    counts& out, request_record* rec);
void run_swapping(const compiled& c, const prepared_trace& t, std::size_t begin, std::size_t end, double host_cores,
                  double mem_budget, const policies::eviction_fn& eviction, counts& out, request_record* rec);

} // namespace sy::sim::internal
