#include "apps/sim_inputs.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>

#include "gpu/model_spec.hpp"
#include "policies/cost_model.hpp"
#include "policies/policy_numbers.hpp"
#include "policies/profile.hpp"
#include "policies/runtime_registry.hpp"
#include "sim/deployment_plan.hpp"
#include "sim/workload.hpp"

namespace sy::apps {

result<deployment_sim> deployment_sim_options(const config::cluster_config& cfg, const std::string& mode_flag) {
  deployment_sim out;
  const auto& b = cfg.policies.batching;
  int max_batch = 1;
  if (b.name == "greedy") {
    auto it = b.params.find("max_batch");
    max_batch = 8; // policies/runtime_registry.cpp's default
    if (it != b.params.end()) {
      if (const auto* i = std::get_if<std::int64_t>(&it->second))
        max_batch = static_cast<int>(*i);
      else if (const auto* d = std::get_if<double>(&it->second))
        max_batch = static_cast<int>(*d);
    }
  } else if (b.name != "none" && mode_flag.empty()) {
    return make_error("cli", cfg.source + ": policies.batching: the simulator models none and greedy, found '" + b.name
                               + "' (a plug-in's): pass --mode/--sim-mode compat|batching|swapping");
  }
  std::string mode = mode_flag;
  if (mode.empty())
    mode = max_batch > 1 ? "batching" : "swapping";
  auto m = sim::parse_sim_mode(mode);
  if (!m)
    return m.err();
  out.opt.mode = *m;
  // Simulated devices add no fixed overhead of their own (AlpaServe's 0.011 s is its GPUs' per-request cost).
  if (auto kind = sim::deployment_device_kind(cfg); kind && *kind == "sim")
    out.opt.overhead_s = 0;
  out.opt.max_batch = *m == sim::sim_mode::batching && max_batch > 1 ? max_batch : 16;
  if (*m == sim::sim_mode::batching && b.name != "greedy")
    out.opt.max_batch = 16;
  if (*m == sim::sim_mode::swapping) {
    auto e = policies::make_eviction(cfg.policies.eviction.name, policies::numbers_of(cfg.policies.eviction.params));
    if (!e)
      return make_error("cli", cfg.source + ": policies.eviction: " + e.err().message);
    out.opt.eviction = *e;
  }
  out.described = mode + (mode_flag.empty() ? std::string{" (from the deployment: batching "} + b.name
                                                 + (b.name == "greedy" ? " max_batch " + std::to_string(max_batch) : "")
                                                 + (*m == sim::sim_mode::swapping ? ", eviction " + cfg.policies.eviction.name : "")
                                                 + ")"
                                           : std::string{" (--mode)"});
  if (*m == sim::sim_mode::batching) {
    out.described += ", batches up to " + std::to_string(out.opt.max_batch);
    // the runtime's admission rule (the controller's `slo` policy), also under --mode batching
    const auto& a = cfg.policies.admission;
    if (a.name == "slo") {
      auto params = policies::numbers_of(a.params);
      auto it = params.find("slack");
      out.opt.admission.on = true;
      out.opt.admission.slack = it == params.end() ? 1.0 : it->second;
      char slack[32];
      std::snprintf(slack, sizeof slack, "%g", out.opt.admission.slack);
      out.described += std::string{", admission slo (slack "} + slack + ")";
    }
  }
  return out;
}

double cpu_host_cores(const sim_inputs& in, const config::cluster_config& cfg) {
  if (in.profile_host_cores <= 0 || policies::device_kind_of(in.profile_device) != "cpu")
    return 0;
  auto kind = sim::deployment_device_kind(cfg);
  return kind && *kind == "cpu" ? in.profile_host_cores : 0;
}

result<std::vector<std::string>> expand_models(const std::string& spec) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= spec.size()) {
    auto end = spec.find(',', pos);
    if (end == std::string::npos)
      end = spec.size();
    std::string item = spec.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty())
      continue;
    auto colon = item.find(':');
    if (colon == std::string::npos) {
      out.push_back(item);
      continue;
    }
    const std::string name = item.substr(0, colon), count = item.substr(colon + 1);
    if (name.empty() || count.empty() || !std::all_of(count.begin(), count.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return make_error("cli", "--models: expected NAME or NAME:COUNT, found '" + item + "'");
    const long k = std::stol(count);
    if (k < 1 || k > 100000)
      return make_error("cli", "--models: copies must be in [1, 100000], found '" + item + "'");
    for (long i = 0; i < k; ++i)
      out.push_back(name + "-" + std::to_string(i));
  }
  std::set<std::string> seen;
  for (const auto& n : out)
    if (!seen.insert(n).second)
      return make_error("cli", "--models: model '" + n + "' appears twice");
  return out;
}

std::vector<std::string> natural_order(std::vector<std::string> names) {
  // Compare runs of digits by value (then by length, so "01" after "1"), everything else byte by byte.
  auto less = [](const std::string& a, const std::string& b) {
    std::size_t i = 0, j = 0;
    auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    while (i < a.size() && j < b.size()) {
      if (digit(a[i]) && digit(b[j])) {
        std::size_t i2 = i, j2 = j;
        while (i2 < a.size() && digit(a[i2]))
          ++i2;
        while (j2 < b.size() && digit(b[j2]))
          ++j2;
        std::size_t ia = i, jb = j; // skip leading zeros for the value comparison
        while (ia + 1 < i2 && a[ia] == '0')
          ++ia;
        while (jb + 1 < j2 && b[jb] == '0')
          ++jb;
        if (i2 - ia != j2 - jb)
          return i2 - ia < j2 - jb;
        if (int c = a.compare(ia, i2 - ia, b, jb, j2 - jb); c != 0)
          return c < 0;
        if (i2 - i != j2 - j)
          return i2 - i < j2 - j;
        i = i2;
        j = j2;
        continue;
      }
      if (a[i] != b[j])
        return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
    return a.size() - i < b.size() - j;
  };
  std::stable_sort(names.begin(), names.end(), less);
  return names;
}

result<std::string> preset_of(const std::string& model) {
  if (gpu::preset(model).ok())
    return model;
  auto dash = model.rfind('-');
  if (dash != std::string::npos && dash + 1 < model.size() &&
      std::all_of(model.begin() + static_cast<std::ptrdiff_t>(dash) + 1, model.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) &&
      gpu::preset(model.substr(0, dash)).ok())
    return model.substr(0, dash);
  return make_error("cli", "model '" + model + "' is neither a preset nor PRESET-<n> (presets: `switchyard presets`)");
}

namespace {

/// Analytic entries for (name, spec) pairs; specs of the same architecture are profiled once.
result<std::vector<policies::profile_entry>> analytic_entries(
    const std::string& hw_name, const std::vector<std::pair<std::string, gpu::model_spec>>& models,
    const std::vector<policies::parallel_config>* only) {
  auto hw = policies::hardware(hw_name);
  if (!hw)
    return hw.err();
  policies::cost_model cm(*hw);
  std::vector<policies::parallel_config> configs = policies::default_configs();
  if (only)
    configs.erase(std::remove_if(configs.begin(), configs.end(),
                                 [only](const policies::parallel_config& c) {
                                   return !(c == policies::parallel_config{1, 1}) &&
                                          std::find(only->begin(), only->end(), c) == only->end();
                                 }),
                  configs.end());
  std::map<std::string, std::vector<policies::profile_entry>> by_arch;
  std::vector<policies::profile_entry> out;
  for (const auto& [name, spec0] : models) {
    const auto& sp = spec0;
    const std::string key = std::to_string(static_cast<int>(sp.kind)) + "/" + std::to_string(sp.layers) + "/" +
                            std::to_string(sp.hidden) + "/" + std::to_string(sp.heads) + "/" + std::to_string(sp.ffn) +
                            "/" + std::to_string(sp.vocab) + "/" + std::to_string(sp.max_seq) + "/" +
                            std::to_string(static_cast<int>(sp.type));
    auto it = by_arch.find(key);
    if (it == by_arch.end()) {
      auto db = cm.profile_all({sp}, configs);
      if (!db)
        return db.err();
      std::vector<policies::profile_entry> es;
      for (const auto& [k, e] : db->entries())
        es.push_back(e);
      it = by_arch.emplace(key, std::move(es)).first;
    }
    for (auto e : it->second) {
      e.model = name;
      out.push_back(std::move(e));
    }
  }
  return out;
}

result<sim::trace> read_trace_file(const std::string& path) {
  auto text = sim::read_text_file(path);
  if (!text)
    return text.err();
  return sim::parse_csv(*text, path);
}

result<sim::trace> synthetic_trace(const std::vector<std::string>& models, const sim_input_options& in) {
  sim::synth_options o;
  o.models = models;
  o.total_rate = in.rate > 0 ? in.rate : 10.0 * static_cast<double>(models.size());
  o.cv = in.cv;
  o.duration_s = in.duration_s;
  o.seed = in.seed;
  o.uniform = in.popularity == 0;
  o.exponent = in.popularity;
  o.input_tokens = in.input_tokens;
  auto t = sim::synthesize(o);
  if (t && in.output_tokens > 0)
    for (auto& r : t->requests)
      r.output_tokens = in.output_tokens;
  return t;
}

} // namespace

result<sim_inputs> load_inputs(const sim_input_options& in, std::vector<std::string> table_models,
                               const sim::trace* given, const std::vector<policies::parallel_config>* analytic_configs) {
  if (in.profile.empty() == in.hardware.empty())
    return make_error("cli", "give exactly one of --profile FILE (e.g. from `switchyard profile`) or --hardware GPU");
  if (!(in.slo_scale > 0))
    return make_error("cli", "--slo-scale: expected > 0, found " + std::to_string(in.slo_scale));
  if (in.input_tokens < 1 || in.output_tokens < 0)
    return make_error("cli", "--input-tokens must be >= 1 and --output-tokens >= 0, found " +
                               std::to_string(in.input_tokens) + " and " + std::to_string(in.output_tokens));
  if (!(in.ttft_ms >= 0) || !(in.tpot_ms >= 0))
    return make_error("cli", "--ttft-ms and --tpot-ms: expected >= 0 milliseconds");
  sim_inputs out;
  if (!in.config_path.empty()) {
    if (!in.models.empty())
      return make_error("cli", "--models and -c exclude each other: the models are those of " + in.config_path);
    auto cfg = config::load_config(in.config_path);
    if (!cfg)
      return cfg.err();
    if (cfg->models.empty())
      return make_error("cli", in.config_path + ": models: expected at least one model, found none");
    if (table_models.empty())
      for (const auto& m : cfg->models)
        table_models.push_back(m.name);
    for (const auto& m : table_models)
      if (cfg->model_index(m) < 0)
        return make_error("cli", "model '" + m + "' (of the plan) is not a model of " + in.config_path);
    out.config = std::move(*cfg);
  }
  std::vector<std::string> cli_models;
  if (!in.models.empty()) {
    auto m = expand_models(in.models);
    if (!m)
      return m.err();
    cli_models = std::move(*m);
  }
  // Workload.
  if (given) {
    out.trace = *given;
  } else if (!in.trace.empty()) {
    auto t = read_trace_file(in.trace);
    if (!t)
      return t.err();
    out.trace = std::move(*t);
  } else {
    const auto& models = !cli_models.empty() ? cli_models : table_models;
    if (models.empty())
      return make_error("cli", "a synthetic trace needs models: --models, -c cluster.yaml, or a plan naming them");
    auto t = synthetic_trace(models, in);
    if (!t)
      return t.err();
    out.trace = std::move(*t);
  }
  if (table_models.empty()) {
    // Model ids are the registration order (AlpaServe's): --models, else the trace's names in natural order
    // (m2 before m10), never the order in which the trace first names them.
    table_models = !cli_models.empty() ? cli_models : natural_order(out.trace.models);
  }
  // Profiles.
  std::vector<policies::profile_entry> entries;
  std::string profile_device;
  if (!in.profile.empty()) {
    auto db = policies::profile_db::load(in.profile);
    if (!db)
      return db.err();
    profile_device = db->device();
    out.profile_device = profile_device;
    out.profile_host_cores = db->host_cores();
    for (const auto& [key, e] : db->entries())
      entries.push_back(e);
  } else {
    std::vector<std::pair<std::string, gpu::model_spec>> specs;
    for (const auto& m : table_models) {
      if (out.config) {
        specs.emplace_back(m, out.config->find_model(m)->spec);
        continue;
      }
      auto p = preset_of(m);
      if (!p)
        return p.err();
      auto spec = gpu::preset(*p);
      if (!spec)
        return spec.err();
      specs.emplace_back(m, *spec);
    }
    auto es = analytic_entries(in.hardware, specs, analytic_configs);
    if (!es)
      return es.err();
    entries = std::move(*es);
  }
  // A profile for the deployment's kind of device (an analytic V100 profile says nothing about cpu devices).
  if (out.config && !in.force) {
    auto kind = sim::deployment_device_kind(*out.config);
    if (!kind)
      return kind.err();
    const std::string device = in.profile.empty() ? in.hardware : profile_device;
    const std::string where = in.profile.empty() ? "--hardware " + in.hardware : "--profile " + in.profile;
    if (auto st = sim::check_profile_kind(device, *kind, where); !st)
      return make_error("cli", st.err().message + " (" + in.config_path + "); measure one with `switchyard profile -c "
                                 + in.config_path + "`, or pass --force");
  }
  // Model types, so that one profile entry per preset (`bert-1.3b`) serves all its models.
  std::vector<std::string> types(table_models.size());
  for (std::size_t i = 0; i < table_models.size(); ++i) {
    if (out.config) {
      types[i] = out.config->find_model(table_models[i])->preset;
    } else if (auto p = preset_of(table_models[i])) {
      types[i] = *p;
    }
  }
  auto table = policies::profile_table::build(table_models, entries, types);
  if (!table)
    return table.err();
  // The memory rule keeps room for one full sequence's KV per decoder (sim/deployment_plan.hpp kv_room_tokens).
  for (std::size_t i = 0; i < table_models.size(); ++i) {
    std::optional<gpu::model_spec> spec;
    if (out.config) {
      if (const auto* mc = out.config->find_model(table_models[i]))
        spec = mc->spec;
    } else if (!types[i].empty()) {
      if (auto p = gpu::preset(types[i]))
        spec = *p;
    }
    if (spec && spec->kind == gpu::arch::decoder)
      table->reserve_kv(static_cast<int>(i), static_cast<double>(sim::kv_room_tokens(spec->max_seq)));
  }
  out.table = std::move(*table);
  // SLOs: the config's slo_ms where given.
  out.model_slo_s.assign(table_models.size(), 0.0);
  if (out.config)
    for (std::size_t i = 0; i < table_models.size(); ++i) {
      const auto& slo = out.config->find_model(table_models[i])->slo;
      if (slo)
        out.model_slo_s[i] = static_cast<double>(slo->count()) / 1e6;
    }
  // Generation SLOs: the flags, else the config's ttft_ms / tpot_ms.
  out.model_ttft_s.assign(table_models.size(), in.ttft_ms / 1e3);
  out.model_tpot_s.assign(table_models.size(), in.tpot_ms / 1e3);
  if (out.config)
    for (std::size_t i = 0; i < table_models.size(); ++i) {
      const auto* mc = out.config->find_model(table_models[i]);
      if (in.ttft_ms == 0) // the runtime: no ttft_ms, no TTFT SLO (not the one-pass slo_ms)
        out.model_ttft_s[i] = mc->ttft ? static_cast<double>(mc->ttft->count()) / 1e6 : -1.0;
      if (in.tpot_ms == 0 && mc->tpot)
        out.model_tpot_s[i] = static_cast<double>(mc->tpot->count()) / 1e6;
    }
  // Generation requests need a decoder (where the architecture is known: -c, or a preset name).
  {
    std::vector<long> gen_requests(out.trace.models.size(), 0);
    for (const auto& r : out.trace.requests)
      if (r.output_tokens > 0 && r.model >= 0 && static_cast<std::size_t>(r.model) < gen_requests.size())
        ++gen_requests[static_cast<std::size_t>(r.model)];
    for (std::size_t m = 0; m < gen_requests.size(); ++m) {
      if (gen_requests[m] == 0)
        continue;
      const auto& name = out.trace.models[m];
      std::optional<gpu::model_spec> spec;
      if (out.config && out.config->find_model(name))
        spec = out.config->find_model(name)->spec;
      else if (auto p = preset_of(name); p && gpu::preset(*p))
        spec = *gpu::preset(*p);
      if (spec && spec->kind != gpu::arch::decoder)
        return make_error("cli", (in.trace.empty() ? std::string{"the workload"} : in.trace) + ": " +
                                   std::to_string(gen_requests[m]) + " generation request(s) (output_tokens > 0) for "
                                   "model '" + name + "', which is an encoder; generation needs a decoder");
    }
  }
  // Rates measured on the trace (mp-search-sep's shares).
  out.model_rates.assign(table_models.size(), 0.0);
  const auto& rq = out.trace.requests;
  if (rq.size() > 1 && rq.back().arrival_s > rq.front().arrival_s) {
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < table_models.size(); ++i)
      index[table_models[i]] = i;
    const double span = rq.back().arrival_s - rq.front().arrival_s;
    for (const auto& r : rq) {
      auto it = index.find(out.trace.models[static_cast<std::size_t>(r.model)]);
      if (it != index.end())
        out.model_rates[it->second] += 1.0 / span;
    }
  }
  return out;
}

status apply_generation_options(sim::sim_options& opt, const sim_input_options& in,
                                const config::cluster_config* cfg) {
  opt.gen.max_seqs = in.gen_max_seqs > 0 ? in.gen_max_seqs : cfg ? cfg->runtime.gen_max_seqs : 16;
  opt.gen.token_budget = in.gen_token_budget > 0 ? in.gen_token_budget : cfg ? cfg->runtime.gen_token_budget : 256;
  if (in.gen_max_seqs < 0 || in.gen_token_budget < 0 || opt.gen.max_seqs < 1 || opt.gen.token_budget < 1)
    return make_error("cli", "--gen-max-seqs and --gen-token-budget: expected >= 1, found " +
                               std::to_string(opt.gen.max_seqs) + " and " + std::to_string(opt.gen.token_budget));
  return {};
}

result<sim::prepared_trace> prepare_inputs(const sim_inputs& in, double slo_scale) {
  return sim::prepare(in.trace, in.table, slo_scale, in.model_slo_s, in.model_ttft_s, in.model_tpot_s);
}

std::string generation_line(const sim::generation_summary& g) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "generation: %ld requests, TTFT p50 %.4f s p99 %.4f s, TPOT p50 %.4f s p99 %.4f s, e2e p50 %.4f s, "
                "%.1f tokens/s, attainment (TTFT and TPOT SLOs) %.4f (TTFT misses %ld, TPOT misses %ld)",
                g.requests, g.ttft_p50_s, g.ttft_p99_s, g.tpot_p50_s, g.tpot_p99_s, g.e2e_p50_s, g.tokens_per_s,
                g.attainment, g.ttft_misses, g.tpot_misses);
  return buf;
}

} // namespace sy::apps
