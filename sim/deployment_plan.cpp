#include "sim/deployment_plan.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "messages/json.hpp"
#include "policies/placement/plan_check.hpp"
#include "policies/placement/profile_table.hpp"
#include "policies/placement/registry.hpp"
#include "policies/policy_numbers.hpp"
#include "policies/runtime_registry.hpp"
#include "sim/evaluator.hpp"
#include "sim/simulator.hpp"

namespace sy::sim {

namespace {

error config_error(const std::string& where, const std::string& what) {
  return make_error("config", where + ": " + what);
}

std::string policy_where(const config::cluster_config& cfg) {
  const auto& w = cfg.placement.policy.where;
  return w.empty() ? cfg.source + ": placement.policy (default " + std::string{config::default_placement_policy} + ")"
                   : w + ": placement.policy";
}

std::string workload_where(const config::cluster_config& cfg) {
  const auto& w = cfg.placement.workload.where;
  return w.empty() ? cfg.source + ": placement.workload (default: synthetic)" : w;
}

std::string profile_where(const config::cluster_config& cfg) {
  const auto& w = cfg.placement.profile.where;
  return w.empty() ? cfg.source + ": placement.profile" : w;
}

std::string names_of(const config::cluster_config& cfg) {
  std::string s;
  for (const auto& m : cfg.models)
    s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

/// One CSV line split at commas outside double quotes ("" inside quotes is a quote).
std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  return out;
}

std::int64_t min_memory(const config::cluster_config& cfg) {
  std::int64_t mem = 0;
  for (const auto& n : cfg.nodes)
    for (const auto& d : n.devices)
      mem = mem == 0 ? d.memory_bytes : std::min(mem, d.memory_bytes);
  return mem;
}

int min_node_devices(const config::cluster_config& cfg) {
  int k = 0;
  for (const auto& n : cfg.nodes)
    k = k == 0 ? static_cast<int>(n.devices.size()) : std::min(k, static_cast<int>(n.devices.size()));
  return std::max(k, 1);
}

double number_param(const config::policy_config& p, const char* key, double dflt) {
  auto it = p.params.find(key);
  if (it == p.params.end())
    return dflt;
  if (const auto* d = std::get_if<double>(&it->second))
    return *d;
  if (const auto* i = std::get_if<std::int64_t>(&it->second))
    return static_cast<double>(*i);
  return dflt;
}

} // namespace

result<std::string> deployment_device_kind(const config::cluster_config& cfg) {
  std::string kind;
  for (const auto& n : cfg.nodes)
    for (const auto& d : n.devices) {
      std::string k{config::to_string(d.kind)};
      if (!kind.empty() && k != kind)
        return make_error("config", cfg.source + ": nodes: the placement planner needs devices of one kind, found "
                                      + kind + " and " + k);
      kind = k;
    }
  if (kind.empty())
    return make_error("config", cfg.source + ": nodes: no devices");
  return kind;
}

result<trace> parse_records_csv(const std::string& text, const std::string& source, int tokens) {
  std::size_t pos = 0, line_no = 0;
  int col_model = -1, col_arrival = -1;
  std::vector<std::pair<double, std::string>> rows;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty() || line == "\r" || line[0] == '#')
      continue;
    auto f = split_csv(line);
    if (col_model < 0) { // the header
      for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "model")
          col_model = static_cast<int>(i);
        if (f[i] == "arrival")
          col_arrival = static_cast<int>(i);
      }
      if (col_model < 0 || col_arrival < 0)
        return make_error("workload", source + ":" + std::to_string(line_no)
                                        + ": header: expected a records header naming the columns model and arrival "
                                          "(id,model,arrival,dispatch,...), found '" + line + "'");
      continue;
    }
    const auto need = static_cast<std::size_t>(std::max(col_model, col_arrival)) + 1;
    if (f.size() < need)
      return make_error("workload", source + ":" + std::to_string(line_no) + ": expected at least "
                                      + std::to_string(need) + " fields, found " + std::to_string(f.size()));
    const std::string& a = f[static_cast<std::size_t>(col_arrival)];
    char* stop = nullptr;
    double t = a.empty() ? -1 : std::strtod(a.c_str(), &stop);
    if (a.empty() || stop != a.c_str() + a.size() || !std::isfinite(t) || t < 0)
      return make_error("workload", source + ":" + std::to_string(line_no)
                                      + ": arrival: expected a non-negative number of seconds, found '" + a + "'");
    const std::string& m = f[static_cast<std::size_t>(col_model)];
    if (m.empty())
      return make_error("workload", source + ":" + std::to_string(line_no) + ": model: expected a model name, found ''");
    rows.emplace_back(t, m);
  }
  if (col_model < 0)
    return make_error("workload", source + ": expected a records CSV with a header, found no lines");
  std::stable_sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  trace out;
  std::map<std::string, int> index;
  for (const auto& [t, m] : rows) {
    auto it = index.find(m);
    if (it == index.end()) {
      it = index.emplace(m, static_cast<int>(out.models.size())).first;
      out.models.push_back(m);
    }
    out.requests.push_back(trace_request{t, it->second, tokens, 0});
  }
  return out;
}

result<trace> load_workload(const config::cluster_config& cfg) {
  const auto& w = cfg.placement.workload;
  const std::string where = workload_where(cfg);
  result<trace> t = trace{};
  switch (w.kind) {
    case config::workload_config::source::synthetic: {
      synth_options o;
      for (const auto& m : cfg.models)
        o.models.push_back(m.name);
      o.total_rate = w.rate > 0 ? w.rate : 10.0 * static_cast<double>(cfg.models.size());
      o.cv = w.cv;
      o.duration_s = w.duration_s;
      o.seed = w.seed;
      o.uniform = w.popularity == 0;
      o.exponent = w.popularity;
      o.input_tokens = w.tokens;
      t = synthesize(o);
      break;
    }
    case config::workload_config::source::trace:
    case config::workload_config::source::records: {
      auto text = read_text_file(w.path);
      if (!text)
        return config_error(where, "cannot read the workload: " + text.err().message);
      t = w.kind == config::workload_config::source::trace ? parse_csv(*text, w.path)
                                                           : parse_records_csv(*text, w.path, w.tokens);
      break;
    }
  }
  if (!t)
    return config_error(where, t.err().message);
  for (const auto& m : t->models)
    if (cfg.model_index(m) < 0)
      return config_error(where, "expected requests for the deployment's models (" + names_of(cfg) + "), found model '"
                                   + m + "'");
  if (t->requests.empty())
    return config_error(where, "expected at least one request to plan for, found none");
  return t;
}

status check_profile_kind(const std::string& device, const std::string& deployment_kind,
                          const std::string& where) {
  const std::string kind = policies::device_kind_of(device);
  if (kind.empty() || kind == deployment_kind || deployment_kind == "sim")
    return {};
  return make_error("config", where + ": expected a profile for the deployment's " + deployment_kind
                                + " devices, found one for " + device + (device != kind ? " (kind " + kind + ")" : ""));
}

result<policies::profile_db> load_placement_profile(const config::cluster_config& cfg) {
  const std::string where = profile_where(cfg);
  auto db = policies::profile_db::load(cfg.placement.profile.path);
  if (!db)
    return config_error(where, db.err().message);
  auto kind = deployment_device_kind(cfg);
  if (!kind)
    return kind.err();
  if (auto st = check_profile_kind(db->device(), *kind, where); !st)
    return st.err();
  return db;
}

result<config_profile> profile_for_config(const config::cluster_config& cfg, const policies::profile_db& db) {
  std::vector<std::string> names, types;
  std::vector<double> slo_s;
  for (const auto& m : cfg.models) {
    names.push_back(m.name);
    types.push_back(m.preset);
    slo_s.push_back(m.slo ? std::chrono::duration<double>(*m.slo).count() : 0.0);
  }
  std::vector<policies::profile_entry> entries;
  for (const auto& [key, e] : db.entries())
    entries.push_back(e);
  auto table = policies::profile_table::build(names, entries, types);
  if (!table)
    return table.err();
  // The memory rule leaves room for the KV of one full sequence (the model's max positions, in whole KV
  // blocks) next to each generating decoder's weights (README "KV room in the memory rule").
  for (std::size_t m = 0; m < cfg.models.size(); ++m) {
    const auto& spec = cfg.models[m].spec;
    if (spec.kind == gpu::arch::decoder)
      table->reserve_kv(static_cast<int>(m), static_cast<double>(kv_room_tokens(spec.max_seq)));
  }
  return config_profile{std::move(*table), std::move(slo_s)};
}

result<deployment_plan> plan_deployment(const config::cluster_config& cfg, const policies::profile_db& db,
                                        const trace& workload) {
  const std::string pwhere = policy_where(cfg);
  const auto& name = cfg.placement.policy.name;
  if (cfg.placement.mode != config::placement_mode::policy)
    return make_error("config", cfg.source + ": placement: expected a policy placement to plan, found "
                                  + std::string{config::to_string(cfg.placement.mode)});
  if (name.rfind("sr-replace", 0) == 0)
    return config_error(pwhere, "expected a policy that places once (mp-search, mp-search-sep, sr-greedy, swap-aware, "
                                "mp-round-robin, mp-greedy-<k>), found '" + name
                                  + "', which re-places over time (the runtime serves one placement)");
  auto policy = policies::make_placement_policy(name);
  if (!policy)
    return config_error(pwhere, policy.err().message);
  auto kind = deployment_device_kind(cfg);
  if (!kind)
    return kind.err();
  if (auto st = check_profile_kind(db.device(), *kind, profile_where(cfg)); !st)
    return st.err();

  auto prof = profile_for_config(cfg, db);
  if (!prof)
    return config_error(profile_where(cfg), prof.err().message);
  auto* table = &prof->table;
  auto prepared = prepare(workload, *table, cfg.placement.slo_scale, prof->slo_s);
  if (!prepared)
    return config_error(workload_where(cfg), prepared.err().message);
  auto trace_ptr = std::make_shared<const prepared_trace>(std::move(*prepared));

  sim_options sopt;
  const double budget = static_cast<double>(min_memory(cfg)) * runtime_weight_fraction;
  sopt.mem_budget_bytes = budget;
  if (name == "swap-aware") { // swapping is scored with the deployment's eviction policy
    auto e = policies::make_eviction(cfg.policies.eviction.name, policies::numbers_of(cfg.policies.eviction.params));
    if (!e)
      return make_error("config", cfg.source + ": policies.eviction: " + e.err().message);
    sopt.eviction = *e;
  }
  policies::placement_problem pb;
  pb.profiles = &*table;
  pb.num_devices = cfg.device_count();
  pb.devices_per_node = min_node_devices(cfg);
  pb.mem_budget = budget;
  pb.arrivals = trace_ptr->arrival;
  pb.model_rates.assign(cfg.models.size(), 0.0);
  if (const auto& rq = workload.requests; rq.size() > 1 && rq.back().arrival_s > rq.front().arrival_s) {
    const double span = rq.back().arrival_s - rq.front().arrival_s;
    for (const auto& r : rq) {
      int m = cfg.model_index(workload.models[static_cast<std::size_t>(r.model)]);
      if (m >= 0)
        pb.model_rates[static_cast<std::size_t>(m)] += 1.0 / span;
    }
  }
  pb.make_evaluator = make_evaluator_factory(*table, trace_ptr, sopt);
  pb.threads = static_cast<int>(number_param(cfg.placement.policy, "threads", 2));
  pb.swap_overcommit = number_param(cfg.placement.policy, "overcommit", 4);

  const auto t0 = std::chrono::steady_clock::now();
  auto s = (*policy)(pb);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!s)
    return config_error(pwhere, "the planner failed: " + s.err().message);
  if (s->placements.size() != 1)
    return config_error(pwhere, "expected one placement, found " + std::to_string(s->placements.size()) + " windows");
  const auto& pl = s->placements.front();
  // Every model needs a replica: say why a model has none (its smallest shard against the budget).
  for (std::size_t m = 0; m < cfg.models.size(); ++m) {
    bool placed = false;
    for (const auto& g : pl.groups)
      placed = placed || std::find(g.models.begin(), g.models.end(), static_cast<int>(m)) != g.models.end();
    if (placed)
      continue;
    double smallest = -1;
    for (const auto& c : table->configs())
      if (const auto* v = table->view(c); v && v->present[m])
        smallest = smallest < 0 ? v->max_weight[m] : std::min(smallest, v->max_weight[m]);
    char buf[160];
    std::snprintf(buf, sizeof buf, "its smallest per-device shard in the profile is %.0f bytes, the weight budget %.0f "
                                   "bytes per device (0.85 x the smallest device memory)",
                  smallest, budget);
    return config_error(pwhere, "expected a placement that serves every model, found that " + name
                                  + " placed no replica of model '" + cfg.models[m].name + "' (" + buf + ")");
  }
  sim::simulator check(*table, sopt);
  auto ev = check.run(*s, *trace_ptr);
  deployment_plan out;
  out.plan.policy = name;
  out.plan.devices = cfg.device_count();
  out.plan.mem_budget_bytes = std::floor(budget);
  out.plan.expected_attainment = ev ? ev->attainment : -1;
  out.plan.slo_scale = cfg.placement.slo_scale;
  out.plan.schedule = std::move(*s);
  out.planning_s = wall;
  out.requests = static_cast<long>(workload.requests.size());
  if (auto st = policies::check_plan(out.plan, cfg, pwhere + ": the chosen plan"); !st)
    return make_error("config", st.err().message);

  // The config's groups.
  out.resolved = cfg;
  out.resolved.placement.mode = config::placement_mode::explicit_groups;
  out.resolved.placement.groups.clear();
  const auto& chosen = out.plan.schedule.placements.front();
  for (std::size_t g = 0; g < chosen.groups.size(); ++g) {
    const auto& pg = chosen.groups[g];
    if (static_cast<int>(pg.devices.size()) != pg.config.gpus())
      return config_error(pwhere, "the chosen plan's group " + std::to_string(g) + " lists "
                                    + std::to_string(pg.devices.size()) + " devices for tensor x pipeline = "
                                    + std::to_string(pg.config.gpus()));
    config::group_config gc;
    gc.name = "g" + std::to_string(g);
    gc.op = pg.config.op;
    gc.pp = pg.config.pp;
    for (int d : pg.devices)
      gc.devices.push_back(cfg.device_at(d));
    for (int m : pg.models) {
      const int mi = cfg.model_index(chosen.model_names[static_cast<std::size_t>(m)]);
      const auto& sp = cfg.models[static_cast<std::size_t>(mi)].spec;
      // The runtime shards evenly (gpu::even_layout): a profile entry for a config it cannot shard is refused.
      if (sp.heads % gc.op != 0 || sp.kv_heads_or_heads() % gc.op != 0 || sp.ffn % gc.op != 0 || gc.pp > sp.layers)
        return config_error(profile_where(cfg), "the profile has an entry for model '" + sp.name + "' with tensor "
                                                  + std::to_string(gc.op) + " x pipeline " + std::to_string(gc.pp)
                                                  + ", which the runtime cannot shard (heads " + std::to_string(sp.heads)
                                                  + ", ffn " + std::to_string(sp.ffn) + ", layers "
                                                  + std::to_string(sp.layers) + "); the planner chose it");
      gc.models.push_back(mi);
    }
    if (!gc.models.empty()) // a group the planner left empty serves nothing: the runtime gets no idle group
      out.resolved.placement.groups.push_back(std::move(gc));
  }
  return out;
}

std::string placement_json(const config::cluster_config& resolved, const config::placement_config& original,
                           const deployment_plan* plan) {
  auto doc = json::value::make_object();
  doc.set("source", std::string{config::to_string(original.mode)});
  if (original.mode == config::placement_mode::policy)
    doc.set("policy", original.policy.name);
  if (original.mode == config::placement_mode::plan_file)
    doc.set("plan_file", original.plan_path);
  if (plan) {
    if (plan->plan.expected_attainment >= 0)
      doc.set("expected_attainment", plan->plan.expected_attainment);
    doc.set("slo_scale", plan->plan.slo_scale);
    doc.set("planning_s", plan->planning_s);
    doc.set("requests", static_cast<std::int64_t>(plan->requests));
    if (!original.write_path.empty())
      doc.set("written_to", original.write_path);
  }
  doc.set("devices", resolved.device_count());
  auto groups = json::value::make_array();
  for (const auto& g : resolved.placement.groups) {
    auto o = json::value::make_object();
    o.set("name", g.name).set("tensor", g.op).set("pipeline", g.pp);
    auto devs = json::value::make_array();
    for (auto d : g.devices)
      devs.push(resolved.nodes[static_cast<std::size_t>(d.node)].name + ":"
                + std::to_string(resolved.device(d).ordinal));
    o.set("devices", std::move(devs));
    auto ms = json::value::make_array();
    for (int m : g.models)
      ms.push(resolved.models[static_cast<std::size_t>(m)].name);
    o.set("models", std::move(ms));
    groups.push(std::move(o));
  }
  doc.set("groups", std::move(groups));
  return json::write(doc) + "\n";
}

} // namespace sy::sim
