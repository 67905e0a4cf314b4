// Trace parsers (sim/workload.hpp): native CSV, Azure Functions 2019 / 2021, Azure LLM inference 2023/2024.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "sim/workload.hpp"

namespace sy::sim {

namespace {

std::string trim(std::string s) {
  auto issp = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && issp(s.back()))
    s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && issp(s[i]))
    ++i;
  return s.substr(i);
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == ',') {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(trim(cur));
  return out;
}

bool to_double(const std::string& s, double& v) {
  if (s.empty())
    return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(v);
}

// Iterates over lines with 1-based numbers; skips blank lines and '#' comments.
template <class Fn>
status each_line(const std::string& text, Fn&& fn) {
  std::size_t pos = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0; // skip a UTF-8 byte-order mark
  int line_no = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos)
      nl = text.size();
    ++line_no;
    auto line = trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    if (line.empty() || line[0] == '#')
      continue;
    if (auto st = fn(line_no, line); !st)
      return st;
  }
  return {};
}

error bad(const std::string& source, int line, const std::string& what) {
  return make_error("workload", source + ":" + std::to_string(line) + ": " + what);
}

void sort_requests(trace& t) {
  std::stable_sort(t.requests.begin(), t.requests.end(),
                   [](const trace_request& a, const trace_request& b) { return a.arrival_s < b.arrival_s; });
}

// Howard Hinnant's days_from_civil.
long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  long long era = (y >= 0 ? y : y - 399) / 400;
  auto yoe = static_cast<unsigned>(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

// "YYYY-MM-DD HH:MM:SS[.frac][+00:00|Z]" (or 'T' separator) or plain seconds -> seconds.
bool parse_timestamp(const std::string& s, double& out) {
  if (to_double(s, out))
    return true;
  int Y, M, D, h, m;
  double sec;
  char sep;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%c%2d:%2d:%lf%n", &Y, &M, &D, &sep, &h, &m, &sec, &n) < 7)
    return false;
  if ((sep != ' ' && sep != 'T') || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec >= 61)
    return false;
  auto rest = s.substr(static_cast<std::size_t>(n));
  if (!(rest.empty() || rest == "Z" || rest == "+00:00" || rest == "+0000"))
    return false;
  out = static_cast<double>(days_from_civil(Y, static_cast<unsigned>(M), static_cast<unsigned>(D))) * 86400.0 +
        h * 3600.0 + m * 60.0 + sec;
  return true;
}

status need_models(const std::vector<std::string>& models, const std::string& source) {
  if (models.empty())
    return make_error("workload", source + ": no models given to map the trace onto");
  return {};
}

} // namespace

result<trace> parse_csv(const std::string& text, const std::string& source, const std::vector<std::string>& models) {
  trace t;
  t.models = models;
  std::map<std::string, int> index;
  for (std::size_t i = 0; i < models.size(); ++i)
    index[models[i]] = static_cast<int>(i);
  bool first = true;
  auto st = each_line(text, [&](int n, const std::string& line) -> status {
    auto f = split(line);
    bool header = first && !f.empty() && f[0] == "arrival_s";
    first = false;
    if (header)
      return {};
    if (f.size() < 3 || f.size() > 5)
      return bad(source, n, "expected 3 to 5 fields (arrival_s,model,input_tokens[,slo_ms[,output_tokens]]), found " +
                                std::to_string(f.size()));
    trace_request q;
    if (!to_double(f[0], q.arrival_s) || q.arrival_s < 0)
      return bad(source, n, "arrival_s: expected a non-negative number of seconds, found '" + f[0] + "'");
    if (f[1].empty())
      return bad(source, n, "model: expected a model name, found an empty field");
    auto it = index.find(f[1]);
    if (it == index.end()) {
      if (!models.empty())
        return bad(source, n, "model: unknown model '" + f[1] + "'");
      it = index.emplace(f[1], static_cast<int>(t.models.size())).first;
      t.models.push_back(f[1]);
    }
    q.model = it->second;
    double tok;
    if (!to_double(f[2], tok) || tok < 1 || tok != std::floor(tok) || tok > 1e9)
      return bad(source, n, "input_tokens: expected a positive integer, found '" + f[2] + "'");
    q.input_tokens = static_cast<int>(tok);
    if (f.size() >= 4 && !f[3].empty()) {
      double slo;
      if (!to_double(f[3], slo) || slo < 0)
        return bad(source, n, "slo_ms: expected a non-negative number of milliseconds, found '" + f[3] + "'");
      q.slo_s = slo / 1000;
    }
    if (f.size() == 5 && !f[4].empty()) {
      double out;
      if (!to_double(f[4], out) || out < 0 || out != std::floor(out) || out > 1e9)
        return bad(source, n, "output_tokens: expected a non-negative integer, found '" + f[4] + "'");
      q.output_tokens = static_cast<int>(out);
    }
    t.requests.push_back(q);
    return {};
  });
  if (!st)
    return st.err();
  sort_requests(t);
  return t;
}

result<trace> parse_azure_functions_2019(const std::string& text, const std::string& source,
                                         const azure2019_options& o) {
  if (auto st = need_models(o.models, source); !st)
    return st.err();
  if (o.start_minute < 0 || o.minutes < 1 || o.start_minute + o.minutes > 1440)
    return make_error("workload", source + ": window [" + std::to_string(o.start_minute) + ", " +
                                      std::to_string(o.start_minute + o.minutes) + ") is outside minutes 0..1440");
  trace t;
  t.models = o.models;
  std::mt19937_64 rng{o.seed};
  int function = 0; // functions with invocations in the window, in file order
  bool first = true;
  auto st = each_line(text, [&](int n, const std::string& line) -> status {
    auto f = split(line);
    bool header = first && f.size() > 0 && f[0] == "HashOwner";
    first = false;
    if (header)
      return {};
    if (f.size() != 4 + 1440)
      return bad(source, n, "expected 1444 fields (HashOwner,HashApp,HashFunction,Trigger,1..1440), found " +
                                std::to_string(f.size()));
    std::vector<double> counts;
    double total = 0;
    for (int m = o.start_minute; m < o.start_minute + o.minutes; ++m) {
      double c;
      const auto& s = f[static_cast<std::size_t>(4 + m)];
      if (!to_double(s, c) || c < 0 || c != std::floor(c))
        return bad(source, n, "minute " + std::to_string(m + 1) + ": expected a non-negative integer count, found '" +
                                  s + "'");
      counts.push_back(c);
      total += c;
    }
    if (total == 0)
      return {};
    int model = function++ % static_cast<int>(o.models.size());
    for (std::size_t i = 0; i < counts.size(); ++i)
      if (counts[i] > 0)
        for (double a : gamma_arrivals(counts[i] / 60 * o.rate_scale, o.cv_scale, 60.0 * static_cast<double>(i), 60, rng))
          t.requests.push_back({a, model, o.input_tokens, 0});
    return {};
  });
  if (!st)
    return st.err();
  sort_requests(t);
  return t;
}

result<trace> parse_azure_functions_2021(const std::string& text, const std::string& source,
                                         const azure2021_options& o) {
  if (auto st = need_models(o.models, source); !st)
    return st.err();
  if (!(o.interval_s > 0) || !(o.time_scale > 0))
    return make_error("workload", source + ": interval_s and time_scale must be > 0");
  std::map<std::string, int> fn_index;
  std::vector<std::vector<double>> arrivals; // per function
  bool first = true;
  auto st = each_line(text, [&](int n, const std::string& line) -> status {
    auto f = split(line);
    bool header = first && f.size() > 0 && f[0] == "app";
    first = false;
    if (header)
      return {};
    if (f.size() != 4)
      return bad(source, n, "expected 4 fields (app,func,end_timestamp,duration), found " + std::to_string(f.size()));
    double end, dur;
    if (!to_double(f[2], end))
      return bad(source, n, "end_timestamp: expected a number of seconds, found '" + f[2] + "'");
    if (!to_double(f[3], dur) || dur < 0)
      return bad(source, n, "duration: expected a non-negative number of seconds, found '" + f[3] + "'");
    auto key = f[0] + "/" + f[1];
    auto it = fn_index.emplace(key, static_cast<int>(arrivals.size())).first;
    if (it->second == static_cast<int>(arrivals.size()))
      arrivals.emplace_back();
    arrivals[static_cast<std::size_t>(it->second)].push_back(end - dur);
    return {};
  });
  if (!st)
    return st.err();
  trace t;
  t.models = o.models;
  double t0 = INFINITY, t1 = -INFINITY;
  for (auto& a : arrivals) {
    std::sort(a.begin(), a.end());
    if (!a.empty()) {
      t0 = std::min(t0, a.front());
      t1 = std::max(t1, a.back());
    }
  }
  int N = static_cast<int>(o.models.size());
  std::mt19937_64 rng{o.seed};
  for (std::size_t j = 0; j < arrivals.size(); ++j) {
    int model = static_cast<int>(j) % N;
    if (!o.fit_gamma) {
      for (double a : arrivals[j])
        t.requests.push_back({(a - t0) / o.time_scale, model, o.input_tokens, 0});
      continue;
    }
    // per interval: rate = count / interval, CV of the gaps inside it (1 when fewer than 3 arrivals)
    auto intervals = static_cast<std::size_t>(std::floor((t1 - t0) / o.interval_s)) + 1;
    std::vector<std::vector<double>> in(intervals);
    for (double a : arrivals[j])
      in[std::min(intervals - 1, static_cast<std::size_t>((a - t0) / o.interval_s))].push_back(a);
    for (std::size_t k = 0; k < intervals; ++k) {
      const auto& v = in[k];
      if (v.empty())
        continue;
      double rate = static_cast<double>(v.size()) / o.interval_s, cv = 1;
      if (v.size() >= 3) {
        double mean = (v.back() - v.front()) / static_cast<double>(v.size() - 1), var = 0;
        for (std::size_t i = 1; i < v.size(); ++i)
          var += (v[i] - v[i - 1] - mean) * (v[i] - v[i - 1] - mean);
        var /= static_cast<double>(v.size() - 2);
        if (mean > 0)
          cv = std::max(std::sqrt(var) / mean, 0.05);
      }
      for (double a : gamma_arrivals(rate * o.rate_scale, cv * o.cv_scale, static_cast<double>(k) * o.interval_s,
                                     o.interval_s, rng))
        t.requests.push_back({a, model, o.input_tokens, 0});
    }
  }
  sort_requests(t);
  return t;
}

result<trace> parse_azure_llm(const std::string& text, const std::string& source, const azure_llm_options& o,
                              azure_llm_counts* counts) {
  azure_llm_counts local;
  azure_llm_counts& c = counts ? *counts : local;
  c = {};
  if (auto st = need_models(o.models, source); !st)
    return st.err();
  if (o.max_seq < 1)
    return make_error("workload", source + ": max_seq must be >= 1");
  struct row {
    double ts;
    int tokens;
    int generated;
  };
  std::vector<row> rows;
  bool first = true;
  auto st = each_line(text, [&](int n, const std::string& line) -> status {
    auto f = split(line);
    bool header = first && f.size() > 0 && f[0] == "TIMESTAMP";
    first = false;
    if (header)
      return {};
    if (f.size() != 3)
      return bad(source, n, "expected 3 fields (TIMESTAMP,ContextTokens,GeneratedTokens), found " +
                                std::to_string(f.size()));
    row r;
    if (!parse_timestamp(f[0], r.ts))
      return bad(source, n, "TIMESTAMP: expected 'YYYY-MM-DD HH:MM:SS[.frac]' or seconds, found '" + f[0] + "'");
    double ctx, gen;
    if (!to_double(f[1], ctx) || ctx < 0 || ctx != std::floor(ctx))
      return bad(source, n, "ContextTokens: expected a non-negative integer, found '" + f[1] + "'");
    if (!to_double(f[2], gen) || gen < 0 || gen != std::floor(gen) || gen > 1e9)
      return bad(source, n, "GeneratedTokens: expected a non-negative integer, found '" + f[2] + "'");
    r.tokens = static_cast<int>(std::clamp(ctx, 1.0, static_cast<double>(o.max_seq)));
    c.context_clipped += static_cast<double>(r.tokens) != ctx ? 1 : 0;
    // A row with 0 generated tokens still asks the model for one forward pass that yields a token: counted
    // as a 1-token generation (c.zero_generated says how many).
    r.generated = gen < 1 ? 1 : static_cast<int>(gen);
    c.zero_generated += gen < 1 ? 1 : 0;
    ++c.rows;
    rows.push_back(r);
    return {};
  });
  if (!st)
    return st.err();
  trace t;
  t.models = o.models;
  if (rows.empty())
    return t;
  double t0 = rows.front().ts;
  for (const auto& r : rows)
    t0 = std::min(t0, r.ts);
  auto n = static_cast<int>(o.models.size());
  auto weights = o.uniform ? std::vector<double>(o.models.size(), 1.0) : power_law_rates(n, 1.0, o.exponent);
  std::discrete_distribution<int> pick{weights.begin(), weights.end()};
  std::mt19937_64 rng{o.seed};
  for (const auto& r : rows)
    t.requests.push_back(trace_request{r.ts - t0, pick(rng), r.tokens, 0, r.generated, 0});
  sort_requests(t);
  return t;
}

} // namespace sy::sim
