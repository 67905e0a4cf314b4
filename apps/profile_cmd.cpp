// `switchyard profile`: profile database from the analytic cost model (or, later, the measured engine).
#include <cstdio>

#include "apps/commands.hpp"
#include "config/cluster_config.hpp"
#include "gpu/model_spec.hpp"
#include "messages/logging.hpp"
#include "policies/cost_model.hpp"
#include "policies/parallel/plan.hpp"

namespace sy::apps {

namespace {

// Hook for `--measure`: run each (model, config) on the real engine at batch sizes 1,2,4,8,16 and record
// per-stage latency, weight bytes, activation bytes and host->device load time per stage. To be filled in
// once the engine (gpu/) has landed; the analytic entries are then replaced by measured ones (or used to
// calibrate the cost model via --calibrate).
result<policies::profile_db> measure_profile(const std::vector<gpu::model_spec>&,
                                             const std::vector<policies::parallel_config>&) {
  return make_error("profile", "--measure needs the engine, which is not wired into `switchyard profile` yet; "
                               "use the analytic cost model (no --measure) or --calibrate with a measured db");
}

result<std::vector<policies::parallel_config>> parse_configs(const std::vector<std::string>& specs) {
  if (specs.empty())
    return policies::default_configs();
  std::vector<policies::parallel_config> r;
  for (const auto& s : specs) {
    int op = 0, pp = 0, n = 0;
    if (std::sscanf(s.c_str(), "%dx%d%n", &op, &pp, &n) != 2 || n != static_cast<int>(s.size()) || op < 1 || pp < 1)
      return make_error("profile", "--configs: expected OPxPP (e.g. 2x4), found '" + s + "'");
    r.push_back({op, pp});
  }
  return r;
}

} // namespace

int run_profile(const profile_options& o) {
  auto log = logger("profile");
  std::vector<gpu::model_spec> specs;
  if (!o.config_path.empty()) {
    auto cfg = config::load_config(o.config_path);
    if (!cfg) {
      log->error("{}", cfg.err().message);
      return 2;
    }
    for (const auto& m : cfg->models)
      specs.push_back(m.spec);
  }
  if (o.models.empty() && specs.empty()) {
    log->error("no models: pass -c cluster.yaml or --models m1,m2 (presets: switchyard presets)");
    return 2;
  }
  for (const auto& name : o.models) {
    auto s = gpu::preset(name);
    if (!s) {
      log->error("{}", s.err().to_string());
      return 2;
    }
    specs.push_back(*s);
  }
  auto configs = parse_configs(o.configs);
  if (!configs) {
    log->error("{}", configs.err().to_string());
    return 2;
  }
  auto hw = policies::hardware(o.hardware);
  if (!hw) {
    log->error("{}", hw.err().to_string());
    return 2;
  }
  policies::cost_model_options opt;
  opt.seq_len = o.seq_len;
  opt.memory_limit = static_cast<std::int64_t>(o.memory_gib * (1 << 30));
  policies::cost_model cm{*hw, opt};
  if (!o.calibrate.empty()) {
    auto measured = policies::profile_db::load(o.calibrate);
    if (!measured) {
      log->error("{}", measured.err().to_string());
      return 1;
    }
    auto fitted = cm.calibrate(*measured, specs);
    if (!fitted) {
      log->error("{}", fitted.err().to_string());
      return 1;
    }
    const auto& h = fitted->hardware();
    log->info("calibrated on {}: flops_eff {:.3f}, mem_eff {:.3f}, link_eff {:.3f}, pcie_eff {:.3f}, "
              "overhead {:.3g} s per layer, {:.3g} s per stage; rms relative error {:.3f} -> {:.3f}",
              o.calibrate, h.flops_eff, h.mem_eff, h.link_eff, h.pcie_eff, h.layer_overhead_s, h.stage_overhead_s,
              cm.rms_relative_error(*measured, specs), fitted->rms_relative_error(*measured, specs));
    cm = *fitted;
  }
  auto db = o.measure ? measure_profile(specs, *configs) : cm.profile_all(specs, *configs);
  if (!db) {
    log->error("{}", db.err().to_string());
    return 1;
  }
  if (o.print) {
    std::printf("%-14s %3s %3s %10s %10s %12s %10s\n", "model", "op", "pp", "lat_b1_s", "lat_b16_s",
                "max_w_GiB", "load_s");
    for (const auto& [key, e] : db->entries()) {
      double load = 0;
      for (double x : e.load_seconds)
        load = std::max(load, x);
      std::printf("%-14s %3d %3d %10.4f %10.4f %12.3f %10.3f\n", e.model.c_str(), e.config.op, e.config.pp,
                  e.total_latency(0), e.total_latency(4), static_cast<double>(e.max_weight_bytes()) / (1 << 30),
                  load);
    }
  }
  if (o.plan) {
    policies::parallel::ilp_options ilp;
    ilp.time_limit_s = o.ilp_time_limit;
    for (const auto& m : specs)
      for (const auto& c : db->configs(m.name)) {
        auto p = policies::parallel::plan_model(m, c, cm, ilp);
        if (!p) {
          log->warn("{}", p.err().to_string());
          continue;
        }
        std::string bounds, shard;
        for (int b : p->stages.boundaries)
          bounds += (bounds.empty() ? "" : ",") + std::to_string(b);
        for (const auto& n : p->layer_sharding.names)
          if (n.rfind("input:", 0) != 0)
            shard += " " + n;
        std::printf("%s op %d pp %d: stages [%s]; layer %.3g s (ILP) / %.3g s (model);%s\n", m.name.c_str(), c.op,
                    c.pp, bounds.c_str(), p->ilp_layer_seconds, p->model_layer_seconds, shard.c_str());
      }
  }
  if (auto st = db->save(o.output); !st) {
    log->error("{}", st.err().to_string());
    return 1;
  }
  log->info("wrote {} entries for {} models on {} to {}", db->entries().size(), specs.size(), o.hardware,
            o.output);
  return 0;
}

} // namespace sy::apps
