#pragma once
// The replay driver's outputs (README "Outputs", the same format as the simulator's): the per-request CSV
// `id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait` and the summary JSON (warm-up trimming,
// SLO attainment, goodput, p50/p90/p99 of ok requests, counts per status; overall and per model).
// Pure functions; any thread.
#include <map>
#include <string>
#include <vector>

#include "apps/replay/driver.hpp"
#include "messages/result.hpp"
#include "sim/summary.hpp"

namespace sy::driver {

/// The simulator's summary (sim/summary.hpp: one implementation, one format) plus the driver's own
/// top-level fields in `extra`: duplicates, unknown_ids, unanswered, wall_s.
using replay_summary = sim::summary;

/// A model's generation SLOs (config ttft_ms / tpot_ms) in seconds; 0: none.
struct generation_slo {
  double ttft_s = 0, tpot_s = 0;
};

/// `warmup_s` > 0 drops int(warmup / (t_last - t_first) * N) requests from each end (as the simulator).
/// `slos` (by model index, may be shorter) are the SLOs of generations whose request named none; the
/// summary's `generation` blocks (TTFT, TPOT, end-to-end, tokens/s, attainment) cover the generations.
replay_summary summarize(const driver_result& r, const std::vector<std::string>& model_names,
                         double warmup_s = 0, const std::vector<generation_slo>& slos = {});

/// sim::to_json: the same document `switchyard simulate --summary` writes.
std::string summary_json(const replay_summary& s);
/// sim::records_header rows; `model_names` indexes replay_record::model.
std::string records_csv(const std::vector<replay_record>& records, const std::vector<std::string>& model_names);
/// A short human-readable table of the summary (what `replay` prints): every model's requests, attainment
/// and end-to-end latency; then, when there were generations, TTFT / TPOT / end-to-end percentiles,
/// tokens/s and attainment of both SLOs per generating model.
std::string summary_text(const replay_summary& s);


} // namespace sy::driver
