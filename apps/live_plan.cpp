#include "apps/live_plan.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "apps/profile_measure.hpp"
#include "messages/logging.hpp"
#include "policies/cost_model.hpp"
#include "policies/placement/plan_file.hpp"
#include "sim/deployment_plan.hpp"

namespace sy::apps {

namespace {

/// The fields of a spec that decide its measured cost (not its name or weights).
std::string spec_key(const gpu::model_spec& s) {
  return fmt::format("{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}", gpu::to_string(s.kind), s.layers,
                     s.hidden, s.heads, s.kv_heads_or_heads(), s.head_dim_or_default(), s.ffn, s.vocab, s.max_seq,
                     gpu::to_string(s.type), gpu::to_string(s.norm), s.pre_norm, gpu::to_string(s.ffn_act),
                     gpu::to_string(s.positions), s.qkv_bias, s.ffn_bias, s.tied_head, s.type_vocab, s.embed_norm,
                     s.final_norm, s.pooler);
}

std::string fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

int median_tokens(const sim::trace& t) {
  if (t.requests.empty())
    return 16;
  std::vector<int> v;
  v.reserve(t.requests.size());
  for (const auto& r : t.requests)
    v.push_back(r.input_tokens);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return std::max(1, v[v.size() / 2]);
}

std::set<std::string> read_lines(const std::string& path) {
  std::set<std::string> out;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);)
    if (!line.empty())
      out.insert(line);
  return out;
}

/// Writes through a temporary file and a rename, so that a concurrent reader sees the old or the new file.
status write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f)
      return make_error("io", "cannot write '" + tmp + "'");
    f << text;
    if (!f)
      return make_error("io", "write to '" + tmp + "' failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    return make_error("io", "cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
  return {};
}

void log_plan(const sim::deployment_plan& p, const config::cluster_config& cfg) {
  auto log = logger("up");
  log->info("placement: {} planned {} group(s) on {} device(s) for {} request(s) in {:.3f} s; expected SLO attainment "
            "{:.4f} (planning workload, compat simulator)",
            p.plan.policy, p.resolved.placement.groups.size(), cfg.device_count(), p.requests, p.planning_s,
            p.plan.expected_attainment);
  for (const auto& g : p.resolved.placement.groups) {
    std::string devs, models;
    for (auto d : g.devices)
      devs += (devs.empty() ? "" : " ") + cfg.nodes[static_cast<std::size_t>(d.node)].name + ":"
              + std::to_string(cfg.device(d).ordinal);
    for (int m : g.models)
      models += (models.empty() ? "" : ", ") + cfg.models[static_cast<std::size_t>(m)].name;
    log->info("placement:   {} (tensor {}, pipeline {}) on [{}]: {}", g.name, g.op, g.pp, devs, models);
  }
}

} // namespace

std::string profile_cache_dir(const config::cluster_config& cfg) {
  if (!cfg.placement.profile.cache_dir.empty())
    return cfg.placement.profile.cache_dir;
  namespace fs = std::filesystem;
  if (const char* d = std::getenv("SWITCHYARD_CACHE_DIR"); d && *d)
    return (fs::path{d} / "profiles").string();
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return (fs::path{d} / "switchyard" / "profiles").string();
  if (const char* d = std::getenv("HOME"); d && *d)
    return (fs::path{d} / ".cache" / "switchyard" / "profiles").string();
  return (fs::temp_directory_path() / "switchyard-profiles").string();
}

result<policies::profile_db> placement_profile(const config::cluster_config& cfg, int tokens) {
  if (!cfg.placement.profile.path.empty())
    return sim::load_placement_profile(cfg);
  auto log = logger("up");
  const std::string where = cfg.source + ": placement.profile (none given: measured on the deployment's devices)";
  auto kind = sim::deployment_device_kind(cfg);
  if (!kind)
    return kind.err();
  if (*kind == "sim") { // the deployment's own profile: the one its simulated devices take their times from
    const std::string& path = cfg.nodes.front().devices.front().profile;
    auto db = policies::profile_db::load(path);
    if (!db)
      return make_error("config", cfg.source + ": nodes[0].devices.profile: " + db.err().message);
    log->info("placement: the sim devices' profile {}", path);
    return db;
  }
  measure_options mo;
  mo.backend = *kind == "cuda" ? gpu::backend_kind::cuda : gpu::backend_kind::cpu;
  mo.devices = 0;
  std::int64_t mem = 0;
  for (const auto& n : cfg.nodes) {
    mo.devices = mo.devices == 0 ? static_cast<int>(n.devices.size()) : std::min(mo.devices, static_cast<int>(n.devices.size()));
    for (const auto& d : n.devices)
      mem = mem == 0 ? d.memory_bytes : std::min(mem, d.memory_bytes);
  }
  mo.budget_bytes = static_cast<std::size_t>(mem);
  mo.seq = tokens;
  // The runtime's cpu devices each use hardware threads / devices OpenBLAS threads: part of the cost, so of the key.
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = std::max(1, hw / std::max(1, mo.devices));
  const std::string dir = profile_cache_dir(cfg);
  const std::string file = fmt::format("{}/{}-seq{}-threads{}.json", dir, *kind, tokens, threads);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  policies::profile_db cache;
  cache.set_device(*kind);
  if (std::filesystem::exists(file)) {
    auto c = policies::profile_db::load(file);
    if (c) {
      cache = std::move(*c);
    } else {
      log->warn("profile cache {} unreadable ({}); measuring again", file, c.err().message);
    }
  }
  std::set<std::string> skipped = read_lines(file + ".skipped"); // "<spec hash> <op>x<pp>": does not fit/shard
  policies::profile_db out;
  out.set_device(*kind);
  bool cache_changed = false;
  std::set<std::string> done_specs;
  for (const auto& m : cfg.models) {
    const std::string key = fnv1a(spec_key(m.spec) + "|" + std::to_string(mem));
    std::string measure_error;
    std::vector<policies::parallel_config> missing;
    for (auto c : policies::default_configs()) {
      if (c.gpus() > mo.devices || m.spec.heads % c.op != 0 || m.spec.kv_heads_or_heads() % c.op != 0 ||
          m.spec.ffn % c.op != 0 || c.pp > m.spec.layers)
        continue;
      if (cache.find(key, c) || skipped.count(key + " " + std::to_string(c.op) + "x" + std::to_string(c.pp)))
        continue;
      missing.push_back(c);
    }
    if (!missing.empty() && done_specs.insert(key).second) {
      log->info("placement: measuring model {} on {} {} device(s) at {} tokens ({} config(s); cached in {})", m.name,
                mo.devices, *kind, tokens, missing.size(), file);
      auto spec = m.spec;
      spec.name = key;
      auto db = measure_profile({spec}, missing, mo); // configs that do not fit are left out (logged)
      if (!db) { // nothing measured (or the devices did not open): nothing cached, the error is the model's
        measure_error = db.err().message;
      } else {
        for (auto c : missing) {
          if (db->find(key, c))
            cache.put(*db->find(key, c));
          else
            skipped.insert(key + " " + std::to_string(c.op) + "x" + std::to_string(c.pp));
        }
        cache_changed = true;
      }
    }
    int entries = 0;
    for (const auto& [k, e] : cache.entries())
      if (k.first == key) {
        auto copy = e;
        copy.model = m.name;
        out.put(std::move(copy));
        ++entries;
      }
    if (entries == 0)
      return make_error("config", where + ": model '" + m.name + "': no parallel config could be measured on "
                                    + std::to_string(mo.devices) + " " + *kind + " device(s) of "
                                    + std::to_string(mem) + " bytes"
                                    + (measure_error.empty() ? std::string{" (does it fit one device?)"} : ": " + measure_error));
  }
  if (cache_changed) {
    if (auto st = write_atomically(file, cache.to_json()); !st)
      log->warn("profile cache: {}", st.err().message);
    std::string lines;
    for (const auto& s : skipped)
      lines += s + "\n";
    if (auto st = write_atomically(file + ".skipped", lines); !st)
      log->warn("profile cache: {}", st.err().message);
  } else {
    log->info("placement: profile of {} model(s) from the cache {}", cfg.models.size(), file);
  }
  return out;
}

result<served_placement> plan_for_serving(const config::cluster_config& cfg) {
  if (cfg.placement.mode != config::placement_mode::policy)
    return served_placement{cfg, sim::placement_json(cfg, cfg.placement, nullptr)};
  auto log = logger("up");
  if (cfg.placement.policy.where.empty())
    log->info("placement: the config has no placement section: planning with the default policy {} on a synthetic "
              "workload", config::default_placement_policy);
  auto workload = sim::load_workload(cfg);
  if (!workload)
    return workload.err();
  auto db = placement_profile(cfg, median_tokens(*workload));
  if (!db)
    return db.err();
  auto plan = sim::plan_deployment(cfg, *db, *workload);
  if (!plan)
    return plan.err();
  log_plan(*plan, cfg);
  if (!cfg.placement.write_path.empty()) {
    if (auto st = policies::save_plan(cfg.placement.write_path, plan->plan); !st)
      return make_error("config", cfg.source + ": placement.write: " + st.err().message);
    log->info("placement: plan written to {}", cfg.placement.write_path);
  }
  served_placement out{plan->resolved, sim::placement_json(plan->resolved, cfg.placement, &*plan),
                       std::make_shared<const policies::profile_db>(std::move(*db))};
  return out;
}

} // namespace sy::apps
