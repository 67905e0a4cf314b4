#include "apps/replay/outputs.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "actors/json.hpp"

namespace sy::driver {
namespace {

struct acc {
  replay_stats s;
  double first = 0, last = 0, lat_sum = 0, load_sum = 0;
  std::vector<double> lat;
  void add(const replay_record& r) {
    if (s.requests == 0)
      first = r.arrival;
    first = std::min(first, r.arrival);
    last = std::max(last, r.arrival);
    ++s.requests;
    ++s.by_status[r.status];
    if (r.status == "ok") {
      double l = r.finish - r.arrival;
      lat.push_back(l);
      lat_sum += l;
      load_sum += r.load_wait;
    }
  }
  replay_stats done() {
    long ok = s.count("ok");
    if (s.requests > 0) {
      s.attainment = static_cast<double>(ok) / static_cast<double>(s.requests);
      s.mean_latency_s = lat_sum / static_cast<double>(s.requests);
    }
    if (last > first)
      s.goodput_rps = static_cast<double>(ok) / (last - first);
    if (!lat.empty()) {
      std::sort(lat.begin(), lat.end());
      auto q = [&](double f) {
        return lat[std::min(lat.size() - 1, static_cast<std::size_t>(f * static_cast<double>(lat.size())))];
      };
      s.p50_s = q(0.5);
      s.p90_s = q(0.9);
      s.p99_s = q(0.99);
      s.mean_served_latency_s = lat_sum / static_cast<double>(ok);
      s.mean_load_wait_s = load_sum / static_cast<double>(ok);
    }
    return s;
  }
};

std::string fields(const replay_stats& s) {
  using actors::json_number;
  std::string o = fmt::format("\"requests\": {}", s.requests);
  // The simulator's fixed keys first, then any other status seen.
  for (const char* k : {"ok", "rejected", "failed", "deadline_exceeded"})
    o += fmt::format(", \"{}\": {}", k, s.count(k));
  for (const auto& [k, v] : s.by_status)
    if (k != "ok" && k != "rejected" && k != "failed" && k != "deadline_exceeded")
      o += fmt::format(", {}: {}", actors::json_quote(k), v);
  o += ", \"attainment\": " + json_number(s.attainment) + ", \"goodput_rps\": " + json_number(s.goodput_rps) +
       ", \"mean_latency_s\": " + json_number(s.mean_latency_s) +
       ", \"mean_served_latency_s\": " + json_number(s.mean_served_latency_s) +
       ", \"p50_s\": " + json_number(s.p50_s) + ", \"p90_s\": " + json_number(s.p90_s) +
       ", \"p99_s\": " + json_number(s.p99_s) + ", \"mean_load_wait_s\": " + json_number(s.mean_load_wait_s);
  return o;
}

} // namespace

replay_summary summarize(const driver_result& r, const std::vector<std::string>& model_names,
                         double warmup_s) {
  replay_summary out;
  out.duplicates = r.duplicates;
  out.unknown_ids = r.unknown_ids;
  out.unanswered = r.unanswered;
  out.wall_s = r.wall_s;
  // Records in arrival order (the trace order; sends are in that order too).
  const auto& rec = r.records;
  const auto n = rec.size();
  std::size_t skip = 0;
  if (n > 1 && warmup_s > 0) {
    double span = rec.back().arrival - rec.front().arrival;
    if (span > 0) {
      double k = warmup_s / span * static_cast<double>(n);
      skip = k >= static_cast<double>(n) ? n : static_cast<std::size_t>(k);
    }
    if (2 * skip >= n)
      skip = n / 2;
  }
  out.trimmed_each_end = static_cast<long>(skip);
  acc all;
  std::vector<acc> per(model_names.size());
  for (std::size_t i = skip; i + skip < n; ++i) {
    all.add(rec[i]);
    auto m = rec[i].model;
    if (m >= 0 && static_cast<std::size_t>(m) < per.size())
      per[static_cast<std::size_t>(m)].add(rec[i]);
  }
  out.overall = all.done();
  for (std::size_t m = 0; m < per.size(); ++m)
    out.models.emplace_back(model_names[m], per[m].done());
  return out;
}

std::string summary_json(const replay_summary& s) {
  std::string o = fmt::format("{{\n  \"trimmed_each_end\": {},\n  \"duplicates\": {},\n  \"unknown_ids\": {},"
                              "\n  \"unanswered\": {},\n  \"wall_s\": {},\n  \"overall\": {{",
                              s.trimmed_each_end, s.duplicates, s.unknown_ids, s.unanswered,
                              actors::json_number(s.wall_s));
  o += fields(s.overall) + "},\n  \"models\": [";
  for (std::size_t i = 0; i < s.models.size(); ++i) {
    o += i ? ",\n    " : "\n    ";
    o += "{\"name\": " + actors::json_quote(s.models[i].first) + ", " + fields(s.models[i].second) + "}";
  }
  o += s.models.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return o;
}

std::string records_csv(const std::vector<replay_record>& records) {
  std::string o = "arrival,dispatch,start,finish,status,group,batch_size,load_wait\n";
  char buf[320];
  for (const auto& r : records) {
    std::string group = r.group.empty() ? "-1" : r.group;
    std::snprintf(buf, sizeof buf, "%.9f,%.9f,%.9f,%.9f,%s,%s,%d,%.9f\n", r.arrival, r.dispatch, r.start,
                  r.finish, r.status.c_str(), group.c_str(), r.batch_size, r.load_wait);
    o += buf;
  }
  return o;
}

std::string summary_text(const replay_summary& s) {
  std::string o = fmt::format("{:<14} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>9}\n", "model", "requests", "ok",
                              "attain", "goodput/s", "p50 ms", "p90 ms", "p99 ms");
  auto row = [&](const std::string& name, const replay_stats& st) {
    o += fmt::format("{:<14} {:>8} {:>8} {:>10.4f} {:>10.2f} {:>9.2f} {:>9.2f} {:>9.2f}\n", name, st.requests,
                     st.count("ok"), st.attainment, st.goodput_rps, st.p50_s * 1e3, st.p90_s * 1e3,
                     st.p99_s * 1e3);
  };
  for (const auto& [name, st] : s.models)
    row(name, st);
  row("overall", s.overall);
  std::string statuses;
  for (const auto& [k, v] : s.overall.by_status)
    statuses += fmt::format(" {}={}", k, v);
  o += fmt::format("statuses:{}; duplicates={} unanswered={} wall {:.2f} s\n", statuses, s.duplicates,
                   s.unanswered, s.wall_s);
  return o;
}

status write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f)
    return make_error("io", "cannot open '" + path + "' for writing");
  f << text;
  if (!f)
    return make_error("io", "write to '" + path + "' failed");
  return {};
}

} // namespace sy::driver
