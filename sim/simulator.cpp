#include "sim/simulator.hpp"

#include <algorithm>
#include <unordered_map>

#include "sim/internal/compiled.hpp"

namespace sy::sim {

result<sim_mode> parse_sim_mode(const std::string& s) {
  if (s == "compat")
    return sim_mode::compat;
  if (s == "batching")
    return sim_mode::batching;
  if (s == "swapping")
    return sim_mode::swapping;
  return make_error("sim", "mode: expected compat|batching|swapping, found '" + s + "'");
}

const char* to_string(request_status s) {
  switch (s) {
  case request_status::ok:
    return "ok";
  case request_status::rejected:
    return "rejected";
  case request_status::failed:
    return "failed";
  case request_status::deadline_exceeded:
    return "deadline_exceeded";
  }
  return "failed";
}

namespace {
/// The one-pass view of a trace with generation requests: those mapped to -1.
std::shared_ptr<const prepared_trace> one_pass_view(const prepared_trace& p) {
  if (p.generation_requests == 0)
    return nullptr;
  auto r = std::make_shared<prepared_trace>();
  r->arrival = p.arrival;
  r->model = p.model;
  r->slo = p.slo;
  r->rows = p.rows;
  r->num_models = p.num_models;
  r->model_slo = p.model_slo;
  for (std::size_t i = 0; i < r->model.size(); ++i)
    if (p.output_tokens[i] > 0) {
      r->model[i] = -1;
      r->rows[i].model = -1;
    }
  return r;
}
} // namespace

result<prepared_trace> prepare(const trace& t, const policies::profile_table& table, double slo_scale,
                               const std::vector<double>& model_slo_s, const std::vector<double>& model_ttft_s,
                               const std::vector<double>& model_tpot_s) {
  const auto nm = static_cast<std::size_t>(table.num_models());
  for (const auto* v : {&model_slo_s, &model_ttft_s, &model_tpot_s})
    if (!v->empty() && v->size() != nm)
      return make_error("sim", "model SLOs: expected one per model (" + std::to_string(table.num_models()) +
                                 "), found " + std::to_string(v->size()));
  std::unordered_map<std::string, int> index;
  for (int m = 0; m < table.num_models(); ++m)
    index.emplace(table.model_names()[static_cast<std::size_t>(m)], m);
  std::vector<int> map(t.models.size(), -1);
  for (std::size_t i = 0; i < t.models.size(); ++i) {
    auto it = index.find(t.models[i]);
    if (it == index.end())
      return make_error("sim", "trace model '" + t.models[i] + "' is not among the " +
                                   std::to_string(table.num_models()) +
                                   " simulated models (the plan's models, each needing a profile)");
    map[i] = it->second;
  }
  std::vector<float> model_slo(static_cast<std::size_t>(table.num_models()));
  for (int m = 0; m < table.num_models(); ++m)
    model_slo[static_cast<std::size_t>(m)] =
      !model_slo_s.empty() && model_slo_s[static_cast<std::size_t>(m)] > 0
        ? static_cast<float>(model_slo_s[static_cast<std::size_t>(m)])
        : static_cast<float>(slo_scale * table.single_latency(m));
  prepared_trace p;
  p.num_models = table.num_models();
  p.model_slo = model_slo;
  const auto n = t.requests.size();
  p.arrival.resize(n);
  p.model.resize(n);
  p.slo.resize(n);
  double last = -1e300;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = t.requests[i];
    if (r.model < 0 || static_cast<std::size_t>(r.model) >= map.size())
      return make_error("sim", "trace request " + std::to_string(i) + ": model index " + std::to_string(r.model) +
                                   " out of range [0, " + std::to_string(map.size()) + ")");
    if (!(r.arrival_s >= 0)) // the compat kernel compares clocks as bit patterns: never negative, never NaN
      return make_error("sim", "trace request " + std::to_string(i) + ": arrival: expected a non-negative number of "
                                   "seconds, found " + std::to_string(r.arrival_s));
    if (r.arrival_s < last)
      return make_error("sim", "trace request " + std::to_string(i) + ": arrivals must be sorted (" +
                                   std::to_string(r.arrival_s) + " after " + std::to_string(last) + ")");
    last = r.arrival_s;
    const int m = map[static_cast<std::size_t>(r.model)];
    p.arrival[i] = r.arrival_s;
    p.model[i] = m;
    p.slo[i] = r.slo_s > 0 ? static_cast<float>(r.slo_s) : model_slo[static_cast<std::size_t>(m)];
    if (r.output_tokens > 0) {
      if (p.output_tokens.empty()) {
        p.input_tokens.assign(n, 0);
        p.output_tokens.assign(n, 0);
        p.ttft_slo.assign(n, 0);
        p.tpot_slo.assign(n, 0);
      }
      const auto mu = static_cast<std::size_t>(m);
      p.input_tokens[i] = std::max(1, r.input_tokens);
      p.output_tokens[i] = r.output_tokens;
      p.ttft_slo[i] = r.slo_s > 0                                     ? r.slo_s
                      : !model_ttft_s.empty() && model_ttft_s[mu] != 0 ? std::max(0.0, model_ttft_s[mu]) // < 0: none
                                                                       : static_cast<double>(model_slo[mu]);
      p.tpot_slo[i] = r.tpot_slo_s > 0 ? r.tpot_slo_s : !model_tpot_s.empty() ? model_tpot_s[mu] : 0.0;
      ++p.generation_requests;
    }
  }
  if (p.generation_requests > 0)
    for (std::size_t i = 0; i < n; ++i)
      if (p.output_tokens[i] == 0)
        p.input_tokens[i] = std::max(1, t.requests[i].input_tokens);
  p.rows.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    p.rows[i] = prepared_trace::packed{p.arrival[i], p.model[i], p.slo[i]};
  p.one_pass = one_pass_view(p);
  return p;
}

prepared_trace restrict_models(const prepared_trace& t, const std::vector<char>& keep) {
  prepared_trace r = t;
  for (std::size_t i = 0; i < r.model.size(); ++i) {
    auto& m = r.model[i];
    if (m >= 0 && (static_cast<std::size_t>(m) >= keep.size() || !keep[static_cast<std::size_t>(m)]))
      m = -1;
    if (i < r.rows.size())
      r.rows[i].model = m;
  }
  r.one_pass = one_pass_view(r);
  return r;
}

namespace internal {

result<compiled> compile(const policies::placement& p, const policies::profile_table& table, bool extended,
                         double overhead) {
  compiled c;
  c.model_names = &table.model_names();
  c.num_models = table.num_models();
  c.num_groups = static_cast<int>(p.groups.size());
  const auto nm = static_cast<std::size_t>(c.num_models);
  c.group_pp.resize(p.groups.size());
  c.group_base.resize(p.groups.size());
  std::vector<std::int32_t> count(nm + 1, 0);
  for (std::size_t g = 0; g < p.groups.size(); ++g) {
    const auto& grp = p.groups[g];
    if (grp.config.pp < 1 || grp.config.pp > max_stages || grp.config.op < 1)
      return make_error("sim", "group " + std::to_string(g) + ": pipeline degree must be in [1, " +
                                   std::to_string(max_stages) + "], found " + std::to_string(grp.config.pp));
    c.group_pp[g] = grp.config.pp;
    c.group_base[g] = c.total_stages;
    c.total_stages += grp.config.pp;
    c.max_pp = std::max(c.max_pp, grp.config.pp);
    for (std::size_t j = 0; j < grp.models.size(); ++j) {
      const int m = grp.models[j];
      if (m < 0 || m >= c.num_models)
        return make_error("sim", "group " + std::to_string(g) + ": model index " + std::to_string(m) +
                                     " out of range [0, " + std::to_string(c.num_models) + ")");
      for (std::size_t j2 = 0; j2 < j; ++j2)
        if (grp.models[j2] == m)
          return make_error("sim", "group " + std::to_string(g) + ": model " + std::to_string(m) + " listed twice");
      ++count[static_cast<std::size_t>(m) + 1];
    }
  }
  c.rep_begin.assign(nm + 1, 0);
  for (std::size_t m = 0; m < nm; ++m)
    c.rep_begin[m + 1] = c.rep_begin[m] + count[m + 1];
  const auto nrep = static_cast<std::size_t>(c.rep_begin[nm]);
  c.reps.resize(nrep);
  std::vector<std::int32_t> fill(c.rep_begin.begin(), c.rep_begin.end() - 1);
  std::vector<std::int32_t> rep_of_slot; // group-major order, for greps
  if (extended) {
    c.grep_begin.assign(p.groups.size() + 1, 0);
    c.greps.reserve(nrep);
  }
  std::vector<std::pair<std::int32_t, int>> lat_slots; // (rep, g) in group order
  lat_slots.reserve(nrep);
  for (std::size_t g = 0; g < p.groups.size(); ++g) {
    for (int m : p.groups[g].models) {
      const auto r = fill[static_cast<std::size_t>(m)]++;
      lat_slots.emplace_back(r, static_cast<int>(g));
      if (extended)
        c.greps.push_back(r);
    }
    if (extended)
      c.grep_begin[g + 1] = static_cast<std::int32_t>(c.greps.size());
  }
  // Latencies laid out in replica order (model-major) so that a model's replicas are contiguous.
  std::vector<int> group_of(nrep);
  for (auto [r, g] : lat_slots)
    group_of[static_cast<std::size_t>(r)] = g;
  std::int32_t lat_off = 0;
  for (std::size_t m = 0; m < nm; ++m) {
    for (auto r = c.rep_begin[m]; r < c.rep_begin[m + 1]; ++r) {
      const int g = group_of[static_cast<std::size_t>(r)];
      auto& rep = c.reps[static_cast<std::size_t>(r)];
      rep.group = g;
      rep.base = c.group_base[static_cast<std::size_t>(g)];
      rep.pp = c.group_pp[static_cast<std::size_t>(g)];
      rep.lat = lat_off;
      rep.model = static_cast<std::int32_t>(m);
      lat_off += rep.pp;
      c.rep_last.push_back(rep.base + rep.pp - 1);
    }
  }
  c.scan_begin.assign(nm + 1, 0);
  for (std::size_t m = 0; m < nm; ++m) {
    const auto n = c.rep_begin[m + 1] - c.rep_begin[m];
    c.scan_begin[m + 1] = c.scan_begin[m] + (n + compiled::scan_width - 1) / compiled::scan_width * compiled::scan_width;
  }
  c.lat.assign(static_cast<std::size_t>(lat_off), static_cast<double>(static_cast<float>(policies::compat_inf)));
  if (extended) {
    c.blat.assign(static_cast<std::size_t>(lat_off) * 5, static_cast<float>(policies::compat_inf));
    c.load.assign(static_cast<std::size_t>(lat_off), 0.0);
    c.weight.assign(nrep, policies::compat_inf);
    c.rep_overhead.assign(nrep, overhead);
    c.clock_devices.assign(static_cast<std::size_t>(c.total_stages) + 1, 0); // the +inf padding clock: none
    for (std::size_t g = 0; g < p.groups.size(); ++g)
      for (int k = 0; k < c.group_pp[g]; ++k)
        c.clock_devices[static_cast<std::size_t>(c.group_base[g] + k)] = p.groups[g].config.op;
  }
  for (std::size_t r = 0; r < nrep; ++r) {
    const auto& rep = c.reps[r];
    const auto* v = table.view(p.groups[static_cast<std::size_t>(rep.group)].config);
    const auto m = static_cast<std::size_t>(rep.model);
    if (!v || !v->present[m])
      continue; // compat: no entry -> infinite latency and memory
    const auto pp = static_cast<std::size_t>(rep.pp);
    for (std::size_t k = 0; k < pp; ++k) {
      c.lat[static_cast<std::size_t>(rep.lat) + k] = static_cast<double>(v->stage_lat[m * pp + k]);
      if (extended) {
        for (std::size_t b = 0; b < 5; ++b)
          c.blat[(static_cast<std::size_t>(rep.lat) + k) * 5 + b] = v->batch_lat[(m * pp + k) * 5 + b];
        c.load[static_cast<std::size_t>(rep.lat) + k] = v->load_seconds[m * pp + k];
      }
    }
    if (extended) {
      c.weight[r] = v->max_weight[m];
      if (m < v->request.size() && v->request[m] > 0)
        c.rep_overhead[r] = v->request[m];
    }
  }
  c.scan.assign(static_cast<std::size_t>(c.scan_begin[nm]), c.total_stages); // padding: the +inf clock
  c.slots.assign(c.scan.size(), compiled::slot{-1, 0, 1, 0, {0, 0, 0, 0}});
  for (std::size_t m = 0; m < nm; ++m)
    for (auto r = c.rep_begin[m]; r < c.rep_begin[m + 1]; ++r) {
      const auto i = static_cast<std::size_t>(c.scan_begin[m] + (r - c.rep_begin[m]));
      const auto& rep = c.reps[static_cast<std::size_t>(r)];
      c.scan[i] = c.rep_last[static_cast<std::size_t>(r)];
      auto& sl = c.slots[i];
      sl.group = rep.group;
      sl.lat = rep.lat;
      sl.pp = rep.pp;
      for (int k = 0; k < std::min(rep.pp, compiled::inline_stages); ++k)
        sl.l[k] = static_cast<float>(c.lat[static_cast<std::size_t>(rep.lat + k)]); // exact: float32 values
    }
  return c;
}

} // namespace internal

namespace {

policies::evaluation to_evaluation(const internal::counts& k, long requests) {
  policies::evaluation e;
  e.requests = requests;
  e.good = k.good;
  e.attainment = requests > 0 ? static_cast<double>(k.good) / static_cast<double>(requests) : 0.0;
  e.mean_latency = requests > 0 ? k.latency_sum / static_cast<double>(requests) : 0.0;
  e.model_requests = k.model_requests;
  e.model_good = k.model_good;
  e.group_requests = k.group_requests;
  e.model_attainment.resize(k.model_requests.size());
  for (std::size_t m = 0; m < k.model_requests.size(); ++m)
    e.model_attainment[m] = k.model_requests[m] > 0 ? static_cast<double>(k.model_good[m]) /
                                                          static_cast<double>(k.model_requests[m])
                                                    : 0.0;
  return e;
}

void accumulate(internal::counts& into, const internal::counts& k) {
  auto add = [](std::vector<long>& a, const std::vector<long>& b) {
    if (a.size() < b.size())
      a.resize(b.size(), 0);
    for (std::size_t i = 0; i < b.size(); ++i)
      a[i] += b[i];
  };
  add(into.model_requests, k.model_requests);
  add(into.model_good, k.model_good);
  add(into.group_requests, k.group_requests);
  into.good += k.good;
  into.latency_sum += k.latency_sum;
  into.gen.requests += k.gen.requests;
  into.gen.tokens += k.gen.tokens;
  into.gen.preemptions += k.gen.preemptions;
  into.gen.steps += k.gen.steps;
  into.gen.peak_kv_fraction = std::max(into.gen.peak_kv_fraction, k.gen.peak_kv_fraction);
}

} // namespace

namespace {

result<internal::counts> run_segment(const policies::placement& p, const policies::profile_table& table,
                                     const sim_options& opt, std::vector<double>& scratch, const prepared_trace& t,
                                     std::size_t begin, std::size_t end, request_record* rec) {
  const bool extended = opt.mode != sim_mode::compat;
  if (opt.mode == sim_mode::swapping)
    for (const auto& g : p.groups)
      for (int m : g.models) {
        const auto* v = table.view(g.config);
        if (v && m >= 0 && m < table.num_models() && v->present[static_cast<std::size_t>(m)] &&
            !v->has_load[static_cast<std::size_t>(m)])
          return make_error("sim", "model '" + table.model_names()[static_cast<std::size_t>(m)] + "' (op " +
                                       std::to_string(g.config.op) + ", pp " + std::to_string(g.config.pp) +
                                       "): the swapping simulator needs the profile's load_seconds, the entry has none");
      }
  auto c = internal::compile(p, table, extended, opt.overhead_s);
  if (!c)
    return c.err();
  internal::counts k;
  k.reset(c->num_models, c->num_groups);
  // Generation requests go through the generation kernel; the one-pass modes see them as model -1.
  const prepared_trace& one = t.one_pass ? *t.one_pass : t;
  switch (opt.mode) {
  case sim_mode::compat:
    internal::run_compat(*c, one, begin, end, opt.overhead_s, scratch, k, rec);
    break;
  case sim_mode::batching:
    internal::run_batching(*c, one, begin, end, opt.max_batch, opt.host_cores, opt.admission, k, rec);
    break;
  case sim_mode::swapping:
    internal::run_swapping(*c, one, begin, end, opt.host_cores, opt.mem_budget_bytes,
                           opt.eviction ? opt.eviction : policies::eviction_fn{policies::lru_eviction_policy{}}, k, rec);
    break;
  }
  if (t.generation_requests > 0)
    if (auto st = internal::run_generation(p, table, t, begin, end, opt, k, rec); !st)
      return st.err();
  return k;
}

} // namespace

result<policies::evaluation> simulator::run(const policies::placement& p, const prepared_trace& t, std::size_t begin,
                                            std::size_t end, std::vector<request_record>* records) {
  end = std::min(end, t.arrival.size());
  begin = std::min(begin, end);
  request_record* rec = nullptr;
  if (records) {
    records->assign(end - begin, request_record{});
    rec = records->data();
  }
  auto k = run_segment(p, *table_, opt_, scratch_, t, begin, end, rec);
  if (!k)
    return k.err();
  gen_ = k->gen;
  return to_evaluation(*k, static_cast<long>(end - begin));
}

result<policies::evaluation> simulator::run(const policies::placement_schedule& s, const prepared_trace& t,
                                            std::vector<request_record>* records) {
  if (s.placements.empty())
    return make_error("sim", "placement schedule: expected at least one placement, found none");
  if (s.start_times.size() != s.placements.size())
    return make_error("sim", "placement schedule: " + std::to_string(s.start_times.size()) + " start times for " +
                                 std::to_string(s.placements.size()) + " placements");
  if (s.placements.size() == 1)
    return run(s.placements[0], t, 0, t.arrival.size(), records);
  // Segment boundaries, AlpaServe's rule: request i moves on to window pt + 1 when arrival[i] > start[pt + 1]
  // (one window per request at most).
  const auto n = t.arrival.size();
  std::vector<std::size_t> cut{0};
  std::size_t pt = 0;
  for (std::size_t i = 0; i < n && pt + 1 < s.placements.size(); ++i) {
    if (t.arrival[i] > s.start_times[pt + 1]) {
      cut.push_back(i);
      ++pt;
    }
  }
  cut.push_back(n);
  internal::counts total;
  if (records)
    records->assign(n, request_record{});
  for (std::size_t w = 0; w + 1 < cut.size(); ++w) {
    auto k = run_segment(s.placements[w], *table_, opt_, scratch_, t, cut[w], cut[w + 1],
                         records ? records->data() + cut[w] : nullptr);
    if (!k)
      return k.err();
    accumulate(total, *k);
  }
  gen_ = total.gen;
  return to_evaluation(total, static_cast<long>(n));
}

} // namespace sy::sim
