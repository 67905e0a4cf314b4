#include "apps/replay/outputs.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "messages/json.hpp"

namespace sy::driver {

replay_summary summarize(const driver_result& r, const std::vector<std::string>& model_names,
                         double warmup_s) {
  // Records are in arrival order (the trace order; sends are in that order too).
  const auto& rec = r.records;
  auto out = sim::summarize_outcomes(
      rec.size(),
      [&](std::size_t i) {
        return sim::outcome{rec[i].arrival, rec[i].finish, rec[i].load_wait, rec[i].status, rec[i].model};
      },
      model_names, warmup_s);
  out.extra = {{"duplicates", std::to_string(r.duplicates)},
               {"unknown_ids", std::to_string(r.unknown_ids)},
               {"unanswered", std::to_string(r.unanswered)},
               {"wall_s", json::number(r.wall_s)}};
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
    sim::append_record(o, sim::record_row{i, model, r.arrival, r.dispatch, r.start, r.finish, r.status, r.reason,
                                          r.group, r.batch_size, r.load_wait});
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
  return o;
}

} // namespace sy::driver
