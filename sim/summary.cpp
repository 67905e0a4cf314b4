#include "sim/summary.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "messages/json.hpp"

namespace sy::sim {

namespace {

struct acc {
  latency_summary s;
  double latency_sum = 0, load_sum = 0;
  double first = 0, last = 0;
  std::vector<double> lat;
  void add(const outcome& r) {
    if (s.requests == 0)
      first = r.arrival;
    last = r.arrival;
    ++s.requests;
    if (r.status == "ok") {
      ++s.ok;
      latency_sum += r.finish - r.arrival;
      load_sum += r.load_wait;
      lat.push_back(r.finish - r.arrival);
    } else if (r.status == "rejected") {
      ++s.rejected;
    } else if (r.status == "failed") {
      ++s.failed;
    } else if (r.status == "deadline_exceeded") {
      ++s.deadline_exceeded;
    } else {
      ++s.other_status[std::string{r.status}];
    }
  }
  latency_summary done() {
    if (s.requests > 0) {
      s.attainment = static_cast<double>(s.ok) / static_cast<double>(s.requests);
      s.mean_latency_s = latency_sum / static_cast<double>(s.requests);
    }
    if (last > first)
      s.goodput_rps = static_cast<double>(s.ok) / (last - first);
    if (!lat.empty()) {
      std::sort(lat.begin(), lat.end());
      auto q = [&](double f) {
        return lat[std::min(lat.size() - 1, static_cast<std::size_t>(f * static_cast<double>(lat.size())))];
      };
      s.p50_s = q(0.5);
      s.p90_s = q(0.9);
      s.p99_s = q(0.99);
      s.mean_served_latency_s = latency_sum / static_cast<double>(s.ok);
      s.mean_load_wait_s = load_sum / static_cast<double>(s.ok);
    }
    return s;
  }
};

std::string fields(const latency_summary& s) {
  std::string o = "\"requests\": " + std::to_string(s.requests) + ", \"ok\": " + std::to_string(s.ok) +
                  ", \"rejected\": " + std::to_string(s.rejected) + ", \"failed\": " + std::to_string(s.failed) +
                  ", \"deadline_exceeded\": " + std::to_string(s.deadline_exceeded);
  for (const auto& [k, v] : s.other_status)
    o += ", " + json::quote(k) + ": " + std::to_string(v);
  return o + ", \"attainment\": " + json::number(s.attainment) +
         ", \"goodput_rps\": " + json::number(s.goodput_rps) +
         ", \"mean_latency_s\": " + json::number(s.mean_latency_s) +
         ", \"mean_served_latency_s\": " + json::number(s.mean_served_latency_s) +
         ", \"p50_s\": " + json::number(s.p50_s) + ", \"p90_s\": " + json::number(s.p90_s) +
         ", \"p99_s\": " + json::number(s.p99_s) + ", \"mean_load_wait_s\": " + json::number(s.mean_load_wait_s);
}

} // namespace

long latency_summary::count(std::string_view status) const {
  if (status == "ok")
    return ok;
  if (status == "rejected")
    return rejected;
  if (status == "failed")
    return failed;
  if (status == "deadline_exceeded")
    return deadline_exceeded;
  auto it = other_status.find(std::string{status});
  return it == other_status.end() ? 0 : it->second;
}

summary summarize_outcomes(std::size_t n, const std::function<outcome(std::size_t)>& at,
                           const std::vector<std::string>& model_names, double warmup_s) {
  summary out;
  std::size_t skip = 0;
  if (n > 1 && warmup_s > 0) {
    const double span = at(n - 1).arrival - at(0).arrival;
    if (span > 0) {
      const double k = warmup_s / span * static_cast<double>(n);
      skip = k >= static_cast<double>(n) ? n : static_cast<std::size_t>(k);
    }
    if (2 * skip >= n)
      skip = n / 2; // compat would produce an empty slice (NaN); keep the middle request(s)
  }
  out.trimmed_each_end = static_cast<long>(skip);
  acc all;
  std::vector<acc> per(model_names.size());
  for (std::size_t i = skip; i + skip < n; ++i) {
    const outcome o = at(i);
    all.add(o);
    if (o.model >= 0 && static_cast<std::size_t>(o.model) < per.size())
      per[static_cast<std::size_t>(o.model)].add(o);
  }
  out.overall = all.done();
  for (std::size_t m = 0; m < per.size(); ++m)
    out.models.push_back(model_summary{model_names[m], per[m].done()});
  return out;
}

summary summarize(const std::vector<request_record>& records, const std::vector<std::int32_t>& model,
                  const std::vector<std::string>& model_names, double warmup_s) {
  return summarize_outcomes(
      records.size(),
      [&](std::size_t i) {
        const auto& r = records[i];
        return outcome{r.arrival, r.finish, r.load_wait, to_string(r.status), i < model.size() ? model[i] : -1};
      },
      model_names, warmup_s);
}

std::string to_json(const summary& s) {
  std::string o = "{\n  \"trimmed_each_end\": " + std::to_string(s.trimmed_each_end);
  for (const auto& [k, v] : s.extra)
    o += ",\n  " + json::quote(k) + ": " + v;
  o += ",\n  \"overall\": {" + fields(s.overall) + "},\n  \"models\": [";
  for (std::size_t i = 0; i < s.models.size(); ++i) {
    o += i ? ",\n    " : "\n    ";
    o += "{\"name\": " + json::quote(s.models[i].name) + ", " + fields(s.models[i].s) + "}";
  }
  o += s.models.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return o;
}

std::string records_csv(const std::vector<request_record>& records) {
  std::string o = "arrival,dispatch,start,finish,status,group,batch_size,load_wait\n";
  o.reserve(o.size() + records.size() * 80);
  char buf[256];
  for (const auto& r : records) {
    std::snprintf(buf, sizeof buf, "%.9f,%.9f,%.9f,%.9f,%s,%d,%d,%.9f\n", r.arrival, r.dispatch, r.start, r.finish,
                  to_string(r.status), r.group, r.batch_size, r.load_wait);
    o += buf;
  }
  return o;
}

status write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f)
    return make_error("io", "cannot open '" + path + "' for writing");
  f << text;
  if (!f)
    return make_error("io", "write to '" + path + "' failed");
  return {};
}

} // namespace sy::sim
