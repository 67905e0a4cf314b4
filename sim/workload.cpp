#include "sim/workload.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace sy::sim {

namespace {
void sort_by_arrival(trace& t) {
  std::stable_sort(t.requests.begin(), t.requests.end(),
                   [](const trace_request& a, const trace_request& b) { return a.arrival_s < b.arrival_s; });
}
} // namespace

std::vector<double> gamma_arrivals(double rate, double cv, double start, double duration, std::mt19937_64& rng) {
  std::vector<double> out;
  if (!(rate > 0) || !(cv > 0) || !(duration > 0))
    return out;
  double shape = 1 / (cv * cv), scale = cv * cv / rate;
  std::gamma_distribution<double> gap{shape, scale};
  double t = start, end = start + duration;
  while (true) {
    t += gap(rng);
    if (t >= end)
      break;
    out.push_back(t);
  }
  return out;
}

std::vector<double> power_law_rates(int models, double total_rate, double exponent) {
  std::vector<double> r(static_cast<std::size_t>(std::max(models, 0)));
  double sum = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    r[i] = std::pow(static_cast<double>(i + 1), -exponent);
    sum += r[i];
  }
  for (auto& x : r)
    x *= total_rate / sum;
  return r;
}

result<trace> synthesize(const synth_options& o) {
  if (o.models.empty())
    return make_error("workload", "synthetic trace: no models given");
  if (!(o.total_rate > 0) || !(o.cv > 0) || !(o.duration_s > 0))
    return make_error("workload", "synthetic trace: rate, cv and duration must be > 0, found rate " +
                                      std::to_string(o.total_rate) + ", cv " + std::to_string(o.cv) +
                                      ", duration " + std::to_string(o.duration_s));
  if (o.input_tokens < 1)
    return make_error("workload", "synthetic trace: input_tokens must be >= 1");
  int n = static_cast<int>(o.models.size());
  auto rates = o.uniform ? std::vector<double>(o.models.size(), o.total_rate / n)
                         : power_law_rates(n, o.total_rate, o.exponent);
  trace t;
  t.models = o.models;
  std::mt19937_64 rng{o.seed};
  for (int m = 0; m < n; ++m)
    for (double a : gamma_arrivals(rates[static_cast<std::size_t>(m)], o.cv, 0, o.duration_s, rng))
      t.requests.push_back({a, m, o.input_tokens, 0});
  sort_by_arrival(t);
  return t;
}

trace time_scaled(const trace& t, double factor) {
  trace r = t;
  if (factor > 0)
    for (auto& q : r.requests)
      q.arrival_s /= factor;
  return r;
}

trace rate_scaled(const trace& t, double factor, std::uint64_t seed) {
  trace r;
  r.models = t.models;
  std::mt19937_64 rng{seed};
  std::uniform_real_distribution<double> u{0, 1};
  int whole = static_cast<int>(std::floor(std::max(factor, 0.0)));
  double frac = std::max(factor, 0.0) - whole;
  for (std::size_t i = 0; i < t.requests.size(); ++i) {
    const auto& q = t.requests[i];
    if (factor < 1) {
      if (u(rng) < factor)
        r.requests.push_back(q);
      continue;
    }
    r.requests.push_back(q);
    double next = i + 1 < t.requests.size() ? t.requests[i + 1].arrival_s : q.arrival_s;
    int copies = whole - 1 + (u(rng) < frac ? 1 : 0);
    for (int c = 0; c < copies; ++c) {
      auto cp = q;
      cp.arrival_s = q.arrival_s + u(rng) * (next - q.arrival_s);
      r.requests.push_back(cp);
    }
  }
  sort_by_arrival(r);
  return r;
}

trace sliced(const trace& t, double start_s, double end_s) {
  trace r;
  r.models = t.models;
  for (const auto& q : t.requests)
    if (q.arrival_s >= start_s && q.arrival_s < end_s) {
      auto c = q;
      c.arrival_s -= start_s;
      r.requests.push_back(c);
    }
  return r;
}

trace merged(const std::vector<trace>& ts) {
  trace r;
  std::map<std::string, int> index;
  for (const auto& t : ts)
    for (const auto& m : t.models)
      if (index.emplace(m, static_cast<int>(r.models.size())).second)
        r.models.push_back(m);
  for (const auto& t : ts)
    for (auto q : t.requests) {
      q.model = index.at(t.models.at(static_cast<std::size_t>(q.model)));
      r.requests.push_back(q);
    }
  sort_by_arrival(r);
  return r;
}

std::string to_csv(const trace& t) {
  bool gen = std::any_of(t.requests.begin(), t.requests.end(),
                         [](const trace_request& q) { return q.output_tokens > 0; });
  bool slo = gen || std::any_of(t.requests.begin(), t.requests.end(), [](const trace_request& q) { return q.slo_s > 0; });
  std::string out = gen   ? "arrival_s,model,input_tokens,slo_ms,output_tokens\n"
                    : slo ? "arrival_s,model,input_tokens,slo_ms\n"
                          : "arrival_s,model,input_tokens\n";
  char buf[64];
  for (const auto& q : t.requests) {
    std::snprintf(buf, sizeof buf, "%.9f", q.arrival_s);
    out += buf;
    out += ',';
    out += t.models.at(static_cast<std::size_t>(q.model));
    out += ',';
    out += std::to_string(q.input_tokens);
    if (gen) {
      out += ',';
      if (q.slo_s > 0) {
        std::snprintf(buf, sizeof buf, "%.6g", q.slo_s * 1000);
        out += buf;
      }
      out += ',';
      out += std::to_string(std::max(q.output_tokens, 0));
    } else if (slo) {
      std::snprintf(buf, sizeof buf, ",%.6g", q.slo_s * 1000);
      out += buf;
    }
    out += '\n';
  }
  return out;
}

status write_csv(const trace& t, const std::string& path) {
  std::ofstream f{path, std::ios::binary};
  if (!f)
    return make_error("workload", "cannot open '" + path + "' for writing");
  auto s = to_csv(t);
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
  if (!f)
    return make_error("workload", "write to '" + path + "' failed");
  return {};
}

result<std::string> read_text_file(const std::string& path) {
  std::ifstream f{path, std::ios::binary};
  if (!f)
    return make_error("workload", "cannot open trace file '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

result<trace> load_trace_file(const std::string& path, const trace_file_options& o) {
  if (o.format != "csv" && o.format != "azure2019" && o.format != "azure2021" && o.format != "azure-llm")
    return make_error("workload", "--format: expected csv, azure2019, azure2021 or azure-llm, found '" + o.format + "'");
  auto text = read_text_file(path);
  if (!text)
    return text.err();
  if (o.format == "csv")
    return parse_csv(*text, path, o.models);
  if (o.format == "azure2019") {
    auto a = o.azure2019;
    a.models = o.models;
    return parse_azure_functions_2019(*text, path, a);
  }
  if (o.format == "azure2021") {
    auto a = o.azure2021;
    a.models = o.models;
    return parse_azure_functions_2021(*text, path, a);
  }
  auto a = o.azure_llm;
  a.models = o.models;
  return parse_azure_llm(*text, path, a);
}

} // namespace sy::sim
