#include "policies/placement/profile_table.hpp"

#include <algorithm>
#include <unordered_map>

namespace sy::policies {

namespace {

std::string where(const profile_entry& e) {
  return "profile entry (" + e.model + ", op=" + std::to_string(e.config.op) + ", pp=" + std::to_string(e.config.pp) +
         ")";
}

status check_entry(const profile_entry& e) {
  auto pp = static_cast<std::size_t>(e.config.pp);
  if (e.config.op < 1 || e.config.pp < 1)
    return make_error("profile", where(e) + ": op and pp must be >= 1");
  if (e.stage_latency.empty())
    return make_error("profile", where(e) + ": stage_latency: expected at least batch size 1, found none");
  for (std::size_t b = 0; b < e.stage_latency.size(); ++b) {
    if (e.stage_latency[b].size() != pp)
      return make_error("profile", where(e) + ": stage_latency[" + std::to_string(b) + "]: expected " +
                                       std::to_string(pp) + " stages, found " +
                                       std::to_string(e.stage_latency[b].size()));
    for (double v : e.stage_latency[b])
      if (!(v >= 0))
        return make_error("profile", where(e) + ": stage_latency: expected non-negative seconds");
  }
  if (e.weight_bytes.size() != pp)
    return make_error("profile", where(e) + ": weight_bytes: expected " + std::to_string(pp) + " stages, found " +
                                     std::to_string(e.weight_bytes.size()));
  if (!e.load_seconds.empty() && e.load_seconds.size() != pp)
    return make_error("profile", where(e) + ": load_seconds: expected " + std::to_string(pp) + " stages, found " +
                                     std::to_string(e.load_seconds.size()));
  return {};
}

} // namespace

result<profile_table> profile_table::build(std::vector<std::string> model_names,
                                           const std::vector<profile_entry>& entries,
                                           const std::vector<std::string>& model_types) {
  profile_table t;
  t.names_ = std::move(model_names);
  const auto n = t.names_.size();
  std::unordered_map<std::string, int> index;
  for (std::size_t i = 0; i < n; ++i)
    if (!index.emplace(t.names_[i], static_cast<int>(i)).second)
      return make_error("profile", "model '" + t.names_[i] + "' is listed twice");
  t.single_latency_.assign(n, -1);
  t.single_max_stage_.assign(n, -1);

  if (!model_types.empty() && model_types.size() != n)
    return make_error("profile", "model types: expected one per model (" + std::to_string(n) + "), found " +
                                     std::to_string(model_types.size()));
  // An entry names a model, or a model type (a preset): a type's entry serves every model of that type that
  // has no entry of its own for the config.
  std::unordered_map<std::string, std::vector<std::size_t>> of_type;
  for (std::size_t i = 0; i < model_types.size(); ++i)
    if (!model_types[i].empty() && !index.count(model_types[i]))
      of_type[model_types[i]].push_back(i);
  std::vector<std::pair<const profile_entry*, std::size_t>> uses; // (entry, model): own entries first
  for (const auto& e : entries)
    if (auto it = index.find(e.model); it != index.end())
      uses.emplace_back(&e, static_cast<std::size_t>(it->second));
  const std::size_t own = uses.size();
  for (const auto& e : entries)
    if (auto it = of_type.find(e.model); it != of_type.end())
      for (std::size_t m : it->second)
        uses.emplace_back(&e, m);
  for (std::size_t u = 0; u < uses.size(); ++u) {
    const auto& e = *uses[u].first;
    const auto m = uses[u].second;
    if (auto st = check_entry(e); !st)
      return st.err();
    if (u >= own) {
      auto vi = t.views_.find(e.config);
      if (vi != t.views_.end() && vi->second.present[m])
        continue; // the model's own entry wins
    }
    const auto pp = static_cast<std::size_t>(e.config.pp);
    auto& v = t.views_[e.config];
    if (v.present.empty()) {
      v.config = e.config;
      v.present.assign(n, 0);
      v.max_weight.assign(n, compat_inf);
      v.stage_lat.assign(n * pp, static_cast<float>(compat_inf));
      v.batch_lat.assign(n * pp * 5, static_cast<float>(compat_inf));
      v.load_seconds.assign(n * pp, 0.0);
      v.has_load.assign(n, 0);
      v.weight_bytes.assign(n * pp, 0.0);
      v.has_gen.assign(n, 0);
      v.gen.assign(n * pp * 5, 0.0);
      v.gen_pair.assign(n * pp, 0.0);
      v.gen_hop.assign(n, 0.0);
      v.gen_request.assign(n, 0.0);
      v.gen_live.assign(n, 0);
      v.gen_sdlog.assign(n * pp, 0.0);
      v.request.assign(n, 0.0);
      t.configs_.push_back(e.config);
    }
    v.present[m] = 1;
    v.has_load[m] = e.load_seconds.empty() ? 0 : 1;
    double mw = 0;
    for (auto w : e.weight_bytes)
      mw = std::max(mw, w);
    v.max_weight[m] = mw;
    const double penalty = 1 + 0.009 * static_cast<double>(pp); // AlpaServe: 0.009 * number of stages
    for (std::size_t k = 0; k < pp; ++k) {
      v.stage_lat[m * pp + k] = static_cast<float>(e.stage_latency[0][k] * penalty);
      for (std::size_t b = 0; b < 5; ++b) {
        // Missing batch sizes stay "infinite": the batching simulator never grows into them.
        if (b < e.stage_latency.size())
          v.batch_lat[(m * pp + k) * 5 + b] = static_cast<float>(e.stage_latency[b][k] * penalty);
      }
      v.load_seconds[m * pp + k] = e.load_seconds.empty() ? 0.0 : e.load_seconds[k];
      v.weight_bytes[m * pp + k] = e.weight_bytes[k];
      if (e.has_generation() && e.gen_step_s.size() == pp && e.prefill_s_per_token.size() == pp &&
          e.decode_s_per_seq.size() == pp && e.decode_s_per_ctx.size() == pp && e.kv_bytes_per_token.size() == pp) {
        double* g = &v.gen[(m * pp + k) * 5];
        g[0] = e.gen_step_s[k];
        g[1] = e.prefill_s_per_token[k];
        g[2] = e.decode_s_per_seq[k];
        g[3] = e.decode_s_per_ctx[k];
        g[4] = e.kv_bytes_per_token[k];
        if (e.prefill_s_per_pair.size() == pp)
          v.gen_pair[m * pp + k] = e.prefill_s_per_pair[k];
        if (e.gen_step_sdlog.size() == pp)
          v.gen_sdlog[m * pp + k] = e.gen_step_sdlog[k];
      }
    }
    v.gen_hop[m] = e.gen_hop_s;
    v.gen_request[m] = e.gen_request_s;
    v.gen_live[m] = e.gen_fitted_live ? 1 : 0;
    v.request[m] = e.request_s;
    v.has_gen[m] = e.has_generation() && e.gen_step_s.size() == pp && e.prefill_s_per_token.size() == pp &&
                           e.decode_s_per_seq.size() == pp && e.decode_s_per_ctx.size() == pp &&
                           e.kv_bytes_per_token.size() == pp
                       ? 1
                       : 0;
    if (e.config == parallel_config{1, 1}) {
      double sum = 0, mx = 0;
      for (double x : e.stage_latency[0]) {
        sum += x;
        mx = std::max(mx, x);
      }
      t.single_latency_[m] = sum;
      t.single_max_stage_[m] = mx;
    }
  }
  for (std::size_t m = 0; m < n; ++m)
    if (t.single_latency_[m] < 0)
      return make_error("profile", "model '" + t.names_[m] + "': expected a profile entry for config (op=1, pp=1) (the SLO base)" +
                                       (m < model_types.size() && !model_types[m].empty()
                                            ? " named after it or its type '" + model_types[m] + "'"
                                            : std::string{}) +
                                       ", found none");
  std::sort(t.configs_.begin(), t.configs_.end());
  return t;
}

result<profile_table> profile_table::from_db(std::vector<std::string> model_names, const profile_db& db) {
  std::vector<profile_entry> entries;
  entries.reserve(db.entries().size());
  for (const auto& [key, e] : db.entries())
    entries.push_back(e);
  return build(std::move(model_names), entries);
}

void profile_table::reserve_kv(int m, double tokens) {
  if (tokens <= 0 || m < 0 || m >= num_models())
    return;
  const auto mu = static_cast<std::size_t>(m);
  for (auto& [c, v] : views_) {
    if (!v.present[mu] || !v.has_gen[mu])
      continue;
    const auto pp = static_cast<std::size_t>(c.pp);
    double mw = 0;
    for (std::size_t k = 0; k < pp; ++k)
      mw = std::max(mw, v.weight_bytes[mu * pp + k] + v.gen[(mu * pp + k) * 5 + 4] * tokens);
    v.max_weight[mu] = mw;
  }
}

const config_view* profile_table::view(parallel_config c) const {
  auto it = views_.find(c);
  return it == views_.end() ? nullptr : &it->second;
}

} // namespace sy::policies
