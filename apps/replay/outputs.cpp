#include "apps/replay/outputs.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "messages/json.hpp"

namespace sy::driver {

replay_summary summarize(const driver_result& r, const std::vector<std::string>& model_names,
                         double warmup_s, const std::vector<generation_slo>& slos) {
  // Records are in arrival order (the trace order; sends are in that order too).
  const auto& rec = r.records;
  auto out = sim::summarize_outcomes(
      rec.size(),
      [&](std::size_t i) {
        const auto& x = rec[i];
        sim::outcome o{x.arrival, x.finish, x.load_wait, x.status, x.model};
        if (x.max_new_tokens > 0) {
          generation_slo slo;
          if (x.model >= 0 && static_cast<std::size_t>(x.model) < slos.size())
            slo = slos[static_cast<std::size_t>(x.model)];
          o.first_token = x.first_token;
          o.new_tokens = x.new_tokens;
          o.ttft_slo_s = x.ttft_slo_s > 0 ? x.ttft_slo_s : slo.ttft_s;
          o.tpot_slo_s = x.tpot_slo_s > 0 ? x.tpot_slo_s : slo.tpot_s;
          o.generation = true;
        }
        return o;
      },
      model_names, warmup_s);
  out.extra = {{"duplicates", std::to_string(r.duplicates)},
               {"unknown_ids", std::to_string(r.unknown_ids)},
               {"unanswered", std::to_string(r.unanswered)},
               {"wall_s", json::number(r.wall_s)}};
  // Generation-only defects, written only when the replay had generations (one-pass outputs stay as they were).
  if (std::any_of(rec.begin(), rec.end(), [](const replay_record& x) { return x.max_new_tokens > 0; })) {
    out.extra.emplace_back("late_stream_frames", std::to_string(r.late_frames));
    out.extra.emplace_back("stream_mismatches", std::to_string(r.stream_mismatches));
  }
  return out;
}

std::string summary_json(const replay_summary& s) {
  return sim::to_json(s);
}

std::string records_csv(const std::vector<replay_record>& records, const std::vector<std::string>& model_names) {
  std::string o = sim::records_header;
  o.reserve(o.size() + records.size() * 120);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    const std::string_view model = r.model >= 0 && static_cast<std::size_t>(r.model) < model_names.size()
                                       ? std::string_view{model_names[static_cast<std::size_t>(r.model)]}
                                       : std::string_view{};
    const double tpot = r.new_tokens > 1 && r.first_token >= 0 ? (r.finish - r.first_token) / (r.new_tokens - 1) : 0;
    sim::append_record(o, sim::record_row{i, model, r.arrival, r.dispatch, r.start, r.finish, r.status, r.reason,
                                          r.group, r.batch_size, r.load_wait, r.new_tokens, r.first_token, tpot});
  }
  return o;
}

std::string summary_text(const replay_summary& s) {
  std::string o = fmt::format("{:<14} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>9}\n", "model", "requests", "ok",
                              "attain", "goodput/s", "p50 ms", "p90 ms", "p99 ms");
  auto row = [&](const std::string& name, const sim::latency_summary& st) {
    o += fmt::format("{:<14} {:>8} {:>8} {:>10.4f} {:>10.2f} {:>9.2f} {:>9.2f} {:>9.2f}\n", name, st.requests,
                     st.ok, st.attainment, st.goodput_rps, st.p50_s * 1e3, st.p90_s * 1e3, st.p99_s * 1e3);
  };
  for (const auto& m : s.models)
    row(m.name, m.s);
  row("overall", s.overall);
  std::string statuses = fmt::format(" ok={} rejected={} failed={} deadline_exceeded={}", s.overall.ok,
                                     s.overall.rejected, s.overall.failed, s.overall.deadline_exceeded);
  for (const auto& [k, v] : s.overall.other_status)
    statuses += fmt::format(" {}={}", k, v);
  std::string extra;
  for (const auto& [k, v] : s.extra)
    extra += fmt::format(" {}={}", k, v);
  o += fmt::format("statuses:{};{}\n", statuses, extra);
  if (s.overall.gen.requests == 0)
    return o;
  o += fmt::format("generation ({} requests; TTFT, TPOT and end-to-end of ok ones; attain = ok and both SLOs met)\n",
                   s.overall.gen.requests);
  o += fmt::format("{:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8}\n", "model", "requests",
                   "ttft p50", "p90", "p99", "tpot p50", "p99", "e2e p50", "p99", "tok/s", "attain", "misses");
  auto gen_row = [&](const std::string& name, const sim::generation_summary& g) {
    o += fmt::format("{:<14} {:>8} {:>8.1f} {:>8.1f} {:>8.1f} {:>8.2f} {:>8.2f} {:>8.1f} {:>8.1f} {:>8.1f} {:>9.4f} "
                     "{:>8}\n",
                     name, g.requests, g.ttft_p50_s * 1e3, g.ttft_p90_s * 1e3, g.ttft_p99_s * 1e3, g.tpot_p50_s * 1e3,
                     g.tpot_p99_s * 1e3, g.e2e_p50_s * 1e3, g.e2e_p99_s * 1e3, g.tokens_per_s, g.attainment,
                     fmt::format("{}/{}", g.ttft_misses, g.tpot_misses));
  };
  for (const auto& m : s.models)
    if (m.s.gen.requests > 0)
      gen_row(m.name, m.s.gen);
  gen_row("overall", s.overall.gen);
  o += "(times in ms; misses = TTFT/TPOT SLO misses)\n";
  return o;
}

} // namespace sy::driver
