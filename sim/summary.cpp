#include "sim/summary.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace sy::sim {

namespace {

struct acc {
  long requests = 0, ok = 0, rejected = 0, failed = 0;
  double latency_sum = 0, load_sum = 0;
  double first = 0, last = 0;
  std::vector<double> lat;
  void add(const request_record& r) {
    if (requests == 0)
      first = r.arrival;
    last = r.arrival;
    ++requests;
    switch (r.status) {
    case request_status::ok:
      ++ok;
      latency_sum += r.finish - r.arrival;
      load_sum += r.load_wait;
      lat.push_back(r.finish - r.arrival);
      break;
    case request_status::rejected:
      ++rejected;
      break;
    case request_status::failed:
      ++failed;
      break;
    }
  }
  latency_summary done() {
    latency_summary s;
    s.requests = requests;
    s.ok = ok;
    s.rejected = rejected;
    s.failed = failed;
    if (requests > 0) {
      s.attainment = static_cast<double>(ok) / static_cast<double>(requests);
      s.mean_latency_s = latency_sum / static_cast<double>(requests);
    }
    if (last > first)
      s.goodput_rps = static_cast<double>(ok) / (last - first);
    if (!lat.empty()) {
      std::sort(lat.begin(), lat.end());
      auto q = [&](double f) { return lat[std::min(lat.size() - 1, static_cast<std::size_t>(f * static_cast<double>(lat.size())))]; };
      s.p50_s = q(0.5);
      s.p90_s = q(0.9);
      s.p99_s = q(0.99);
      s.mean_load_wait_s = load_sum / static_cast<double>(ok);
      s.mean_served_latency_s = latency_sum / static_cast<double>(ok);
    }
    return s;
  }
};

std::string json_string(const std::string& s) {
  std::string o = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      o += buf;
    } else {
      o += ch;
    }
  }
  return o + "\"";
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string fields(const latency_summary& s) {
  return "\"requests\": " + std::to_string(s.requests) + ", \"ok\": " + std::to_string(s.ok) +
         ", \"rejected\": " + std::to_string(s.rejected) + ", \"failed\": " + std::to_string(s.failed) +
         ", \"attainment\": " + num(s.attainment) + ", \"goodput_rps\": " + num(s.goodput_rps) +
         ", \"mean_latency_s\": " + num(s.mean_latency_s) +
         ", \"mean_served_latency_s\": " + num(s.mean_served_latency_s) + ", \"p50_s\": " + num(s.p50_s) +
         ", \"p90_s\": " + num(s.p90_s) + ", \"p99_s\": " + num(s.p99_s) +
         ", \"mean_load_wait_s\": " + num(s.mean_load_wait_s);
}

} // namespace

summary summarize(const std::vector<request_record>& records, const std::vector<std::int32_t>& model,
                  const std::vector<std::string>& model_names, double warmup_s) {
  summary out;
  const auto n = records.size();
  std::size_t skip = 0;
  if (n > 1) {
    const double span = records.back().arrival - records.front().arrival;
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
    all.add(records[i]);
    const auto m = i < model.size() ? model[i] : -1;
    if (m >= 0 && static_cast<std::size_t>(m) < per.size())
      per[static_cast<std::size_t>(m)].add(records[i]);
  }
  out.overall = all.done();
  for (std::size_t m = 0; m < per.size(); ++m)
    out.models.push_back(model_summary{model_names[m], per[m].done()});
  return out;
}

std::string to_json(const summary& s) {
  std::string o = "{\n  \"trimmed_each_end\": " + std::to_string(s.trimmed_each_end) + ",\n  \"overall\": {" +
                  fields(s.overall) + "},\n  \"models\": [";
  for (std::size_t i = 0; i < s.models.size(); ++i) {
    o += i ? ",\n    " : "\n    ";
    o += "{\"name\": " + json_string(s.models[i].name) + ", " + fields(s.models[i].s) + "}";
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
