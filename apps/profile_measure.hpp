#pragma once
// `switchyard profile --measure`: a profile database measured on the real engine (gpu/pipeline.hpp) instead
// of the analytic cost model. Main thread only; blocks while the engine runs.
#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>
#include <vector>

#include "gpu/device.hpp"
#include "gpu/model_spec.hpp"
#include "gpu/pipeline.hpp"
#include "gpu/shard.hpp"
#include "messages/result.hpp"
#include "policies/profile.hpp"

namespace sy::apps {

struct measure_options {
  gpu::backend_kind backend = gpu::backend_kind::automatic;
  int devices = 1;                // devices opened; configs needing more are skipped
  std::size_t budget_bytes = 0;   // per device (0: the backend's default); configs that do not fit are skipped
  int seq = 16;                   // tokens per sequence (clipped to each model's max_seq)
  int reps = 3;                   // timed runs per (config, batch size); the median is kept
  int cpu_threads = 0;            // cpu backend: OpenBLAS threads (0: hardware threads / devices)
  bool generation = true;         // decoders: also measure the generation step costs (measure_generation)
};

/// A prefill's cost in its prompt length n: t(n) = a + per_token n + per_pair n (n + 1) / 2 (the pairs of
/// (new token, context token) its attention visits; profile_entry::prefill_s_per_pair).
struct prefill_fit {
  double per_token = 0, per_pair = 0;
};

/// The fit through three (prompt tokens, seconds) points with distinct lengths, exact; non-negative: when
/// one coefficient comes out negative it is 0 and the other is taken from the first and the last point
/// (per_pair < 0: the linear model of two lengths). Degenerate points (collinear lengths): linear.
inline prefill_fit fit_prefill(const std::array<std::pair<double, double>, 3>& pt) {
  auto pairs = [](double n) { return n * (n + 1) / 2; };
  const double n1 = pt[1].first - pt[0].first, n2 = pt[2].first - pt[0].first;
  const double p1 = pairs(pt[1].first) - pairs(pt[0].first), p2 = pairs(pt[2].first) - pairs(pt[0].first);
  const double d1 = pt[1].second - pt[0].second, d2 = pt[2].second - pt[0].second;
  const double det = n1 * p2 - n2 * p1;
  prefill_fit f;
  if (det != 0) {
    f.per_token = (d1 * p2 - d2 * p1) / det;
    f.per_pair = (n1 * d2 - n2 * d1) / det;
  }
  if (det == 0 || f.per_pair < 0) {
    f.per_pair = 0;
    f.per_token = n2 > 0 ? std::max(0.0, d2 / n2) : 0.0;
  } else if (f.per_token < 0) {
    f.per_token = 0;
    f.per_pair = p2 > 0 ? std::max(0.0, d2 / p2) : 0.0;
  }
  return f;
}

/// Decoders (others: nothing): fills e's generation fields from generations on the loaded pipeline `pl`
/// (gpu::generate, i.e. stage_executor::step): prefill_s_per_token and prefill_s_per_pair from the
/// first-token time of one sequence at three prompt lengths (8, max positions - 1 up to 512, and their middle;
/// fit_prefill), and decode(b, ctx) = a + c1*b + c2*b*ctx fitted by least squares to the time per output
/// token of b = 1, 4, 16 sequences at two context lengths (points whose KV does not fit are left out; fewer
/// than 3: an error). Totals are split over stages in proportion to the stages' times in these runs
/// (gpu::generation_stats: decode-only steps for the step and decode terms, the longest prompt's prefill for
/// the prefill terms); kv_bytes_per_token from the stage's KV layout. `reps` timed runs per point after one
/// warm-up (median).
[[nodiscard]] status measure_generation(gpu::pipeline& pl, const gpu::model_spec& spec,
                                        const gpu::parallel_layout& layout, gpu::dtype kv_type, int reps,
                                        policies::profile_entry& e);

/// How many cpu device threads the host runs at full speed at once right now: the same compute-bound kernel
/// (about 10 ms) on one thread, then on every hardware thread at once; capacity = threads x t_alone /
/// t_together (median thread), within [1, threads]; the median of 5 tries. Fewer than the hardware threads
/// when other processes (other tenants' builds) take cores. Main thread; starts `threads` short threads.
struct cpu_capacity {
  int threads = 1;     // hardware threads
  double capacity = 1; // cores' worth of full-speed threads
};
cpu_capacity measure_cpu_capacity();

/// The same question asked of the engine itself (issue 11 §3): the synthetic kernel runs in L1 and said ~1.9 on
/// this 2-core host while the engine's forwards, which stream their weights, got ~1.06 cores' worth. Opens
/// o.devices cpu devices, loads the largest of `models` (layers x hidden x (hidden + ffn)) unsplit on each,
/// times batch-1 forwards of o.seq tokens on device 0 alone and then on every device at once (one thread per
/// device, each its own pipeline); capacity = devices x t_alone / t_together (medians) within
/// [1, min(devices, hardware threads)], the median of 3 rounds. threads = the devices. Error when the model
/// does not fit a device or a forward fails.
result<cpu_capacity> measure_engine_capacity(const std::vector<gpu::model_spec>& models, const measure_options& o);

/// host_cores for a cpu profile: the engine's capacity (measure_engine_capacity) when o.devices > 1 and it could be
/// measured, else the synthetic kernel's (measure_cpu_capacity); logs both ("profile").
double measure_host_cores(const std::vector<gpu::model_spec>& models, const measure_options& o);

/// For each model and each config of `configs` that fits (tp divides heads and ffn, pp <= layers,
/// tp * pp <= devices, the shards and a batch-1 forward fit the budget): per-stage latency at batch sizes
/// 1, 2, 4, 8, 16 (median of `reps` runs after one warm-up; a batch whose workspace does not fit ends the
/// rows), weight bytes per GPU per stage, activation (workspace) bytes per GPU per stage and batch, and the
/// seconds of each stage's host->device shard load (stages loaded one at a time, median of `reps`).
/// Weights are seeded (latency does not depend on their values). Skipped configs are logged ("profile").
/// Error when no entry at all could be measured for a model. On the cpu backend the db's host_cores is
/// measure_cpu_capacity()'s capacity (the simulator's model of device threads sharing the cores).
result<policies::profile_db> measure_profile(const std::vector<gpu::model_spec>& models,
                                             const std::vector<policies::parallel_config>& configs,
                                             const measure_options& options);

} // namespace sy::apps
