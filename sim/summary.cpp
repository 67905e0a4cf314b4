#include "sim/summary.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "messages/json.hpp"

namespace sy::sim {

namespace {

double pick(std::vector<double>& v, double f) {
  if (v.empty())
    return 0;
  return v[std::min(v.size() - 1, static_cast<std::size_t>(f * static_cast<double>(v.size())))];
}

struct gen_acc {
  generation_summary g;
  std::vector<double> ttfts, tpots, e2es;
  double first_arrival = 0, last_finish = 0, tokens = 0;
  long good = 0;
  void add(const outcome& r) {
    if (g.requests == 0)
      first_arrival = r.arrival;
    first_arrival = std::min(first_arrival, r.arrival);
    ++g.requests;
    const bool ok = r.status == "ok";
    const double ttft = r.first_token >= 0 ? r.first_token - r.arrival : r.finish - r.arrival;
    const double tpot = tpot_of(r.first_token >= 0 ? r.first_token : r.finish, r.finish, r.new_tokens);
    const bool ttft_miss = r.ttft_slo_s > 0 && ttft > r.ttft_slo_s;
    const bool tpot_miss = r.tpot_slo_s > 0 && r.new_tokens > 1 && tpot > r.tpot_slo_s;
    // A TTFT miss (summary.hpp): a first token later than the SLO, or no first token at all because the
    // request ended deadline_exceeded (its TTFT deadline, or the request timeout, passed first). A rejected
    // request was refused at admission: it never waited for a token, so it is no miss.
    const bool expired_before_token = r.first_token < 0 && r.status == "deadline_exceeded";
    if (((r.first_token >= 0 || ok) && ttft_miss) || expired_before_token)
      ++g.ttft_misses;
    if (ok && tpot_miss)
      ++g.tpot_misses;
    if (!ok)
      return;
    good += !ttft_miss && !tpot_miss ? 1 : 0;
    ttfts.push_back(ttft);
    if (r.new_tokens > 1)
      tpots.push_back(tpot);
    e2es.push_back(r.finish - r.arrival);
    tokens += r.new_tokens;
    last_finish = std::max(last_finish, r.finish);
  }
  generation_summary done() {
    if (g.requests == 0)
      return g;
    g.attainment = static_cast<double>(good) / static_cast<double>(g.requests);
    for (auto* v : {&ttfts, &tpots, &e2es})
      std::sort(v->begin(), v->end());
    g.ttft_p50_s = pick(ttfts, 0.5);
    g.ttft_p90_s = pick(ttfts, 0.9);
    g.ttft_p99_s = pick(ttfts, 0.99);
    g.tpot_p50_s = pick(tpots, 0.5);
    g.tpot_p99_s = pick(tpots, 0.99);
    g.e2e_p50_s = pick(e2es, 0.5);
    g.e2e_p99_s = pick(e2es, 0.99);
    if (last_finish > first_arrival)
      g.tokens_per_s = tokens / (last_finish - first_arrival);
    return g;
  }
};

struct acc {
  latency_summary s;
  gen_acc gen;
  double latency_sum = 0, load_sum = 0;
  double first = 0, last = 0;
  std::vector<double> lat;
  void add(const outcome& r) {
    if (s.requests == 0)
      first = r.arrival;
    last = r.arrival;
    ++s.requests;
    if (r.generation || r.new_tokens > 0 || r.first_token >= 0)
      gen.add(r);
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
    s.gen = gen.done();
    return s;
  }
};

std::string fields(const latency_summary& s) {
  std::string o = "\"requests\": " + std::to_string(s.requests) + ", \"ok\": " + std::to_string(s.ok) +
                  ", \"rejected\": " + std::to_string(s.rejected) + ", \"failed\": " + std::to_string(s.failed) +
                  ", \"deadline_exceeded\": " + std::to_string(s.deadline_exceeded);
  for (const auto& [k, v] : s.other_status)
    o += ", " + json::quote(k) + ": " + std::to_string(v);
  o += ", \"attainment\": " + json::number(s.attainment) + ", \"goodput_rps\": " + json::number(s.goodput_rps) +
       ", \"mean_latency_s\": " + json::number(s.mean_latency_s) +
       ", \"mean_served_latency_s\": " + json::number(s.mean_served_latency_s) +
       ", \"p50_s\": " + json::number(s.p50_s) + ", \"p90_s\": " + json::number(s.p90_s) +
       ", \"p99_s\": " + json::number(s.p99_s) + ", \"mean_load_wait_s\": " + json::number(s.mean_load_wait_s);
  if (s.gen.requests > 0) {
    const auto& g = s.gen;
    o += ", \"generation\": {\"requests\": " + std::to_string(g.requests) +
         ", \"attainment\": " + json::number(g.attainment) + ", \"ttft_p50_s\": " + json::number(g.ttft_p50_s) +
         ", \"ttft_p90_s\": " + json::number(g.ttft_p90_s) + ", \"ttft_p99_s\": " + json::number(g.ttft_p99_s) +
         ", \"tpot_p50_s\": " + json::number(g.tpot_p50_s) + ", \"tpot_p99_s\": " + json::number(g.tpot_p99_s) +
         ", \"e2e_p50_s\": " + json::number(g.e2e_p50_s) + ", \"e2e_p99_s\": " + json::number(g.e2e_p99_s) +
         ", \"tokens_per_s\": " + json::number(g.tokens_per_s) +
         ", \"ttft_misses\": " + std::to_string(g.ttft_misses) +
         ", \"tpot_misses\": " + std::to_string(g.tpot_misses) + "}";
  }
  return o;
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
  long ok_all = 0;
  for (std::size_t i = 0; i < n; ++i)
    ok_all += at(i).status == "ok" ? 1 : 0;
  out.untrimmed_requests = static_cast<long>(n);
  out.untrimmed_attainment = n > 0 ? static_cast<double>(ok_all) / static_cast<double>(n) : 0.0;
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
        return outcome{r.arrival,     r.finish,     r.load_wait, to_string(r.status), i < model.size() ? model[i] : -1,
                       r.first_token, r.new_tokens, r.ttft_slo,  r.tpot_slo,          r.generation};
      },
      model_names, warmup_s);
}

std::string to_json(const summary& s) {
  std::string o = "{\n  \"trimmed_each_end\": " + std::to_string(s.trimmed_each_end) +
                  ",\n  \"untrimmed_requests\": " + std::to_string(s.untrimmed_requests) +
                  ",\n  \"untrimmed_attainment\": " + json::number(s.untrimmed_attainment);
  if (s.slo_scale > 0)
    o += ",\n  \"slo_scale\": " + json::number(s.slo_scale);
  for (const auto& [k, v] : s.extra)
    o += ",\n  " + json::quote(k) + ": " + v;
  o += ",\n  \"overall\": {" + fields(s.overall) + "},\n  \"models\": [";
  for (std::size_t i = 0; i < s.models.size(); ++i) {
    o += i ? ",\n    " : "\n    ";
    o += "{\"name\": " + json::quote(s.models[i].name) + ", ";
    if (s.models[i].slo_s > 0)
      o += "\"slo_s\": " + json::number(s.models[i].slo_s) + ", ";
    o += fields(s.models[i].s) + "}";
  }
  o += s.models.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return o;
}

namespace {

void append_text(std::string& o, std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) {
    o += s;
    return;
  }
  o += '"';
  for (char c : s) {
    if (c == '"')
      o += '"';
    o += c;
  }
  o += '"';
}

void append_number(std::string& o, double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  o += buf;
}

} // namespace

double tpot_of(double first_token, double finish, int new_tokens) {
  return new_tokens > 1 && first_token >= 0 ? (finish - first_token) / static_cast<double>(new_tokens - 1) : 0.0;
}

void append_record(std::string& o, const record_row& r) {
  o += std::to_string(r.id);
  o += ',';
  append_text(o, r.model);
  for (double x : {r.arrival, r.dispatch, r.start, r.finish}) {
    o += ',';
    append_number(o, x);
  }
  o += ',';
  append_text(o, r.status);
  o += ',';
  append_text(o, r.reason);
  o += ',';
  append_text(o, r.group.empty() ? std::string_view{"-1"} : r.group);
  o += ',';
  o += std::to_string(r.batch_size);
  o += ',';
  append_number(o, r.load_wait);
  o += ',';
  o += std::to_string(r.new_tokens);
  o += ',';
  append_number(o, r.first_token);
  o += ',';
  append_number(o, r.tpot);
  o += '\n';
}

const char* reason_of(const request_record& r, std::int32_t model) {
  switch (r.status) {
  case request_status::ok: return "";
  case request_status::rejected: return "would miss its SLO";
  case request_status::failed:
    return model < 0         ? "model outside the simulated set"
           : r.group >= 0 ? "no room in the KV cache even for this sequence alone" // generation only
                          : "no replica of the model";
  case request_status::deadline_exceeded: return "no first token before the TTFT deadline";
  }
  return "";
}

std::string records_csv(const std::vector<request_record>& records, const std::vector<std::int32_t>& model,
                        const std::vector<std::string>& model_names) {
  std::string o = records_header;
  o.reserve(o.size() + records.size() * 120);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    const std::int32_t m = i < model.size() ? model[i] : -1;
    const std::string group = std::to_string(r.group);
    append_record(o, record_row{i, m >= 0 && static_cast<std::size_t>(m) < model_names.size()
                                       ? std::string_view{model_names[static_cast<std::size_t>(m)]}
                                       : std::string_view{},
                                r.arrival, r.dispatch, r.start, r.finish, to_string(r.status), reason_of(r, m), group,
                                r.batch_size, r.load_wait, r.new_tokens, r.first_token,
                                tpot_of(r.first_token, r.finish, r.new_tokens)});
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
