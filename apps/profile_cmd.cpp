// `switchyard profile`: profile database from the analytic cost model, or measured on the engine (--measure).
#include <algorithm>
#include <cstdio>
#include <optional>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/profile_measure.hpp"
#include "apps/profile_runtime.hpp"
#include "config/cluster_config.hpp"
#include "gpu/model_spec.hpp"
#include "messages/logging.hpp"
#include "policies/cost_model.hpp"
#include "policies/parallel/plan.hpp"

namespace sy::apps {

namespace {

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

/// --measure's devices: explicit flags, else -c (the kind of its first device, its largest node, its
/// smallest device memory), else auto, 1 device, the backend's default budget.
result<measure_options> measure_setup(const profile_options& o, const config::cluster_config* cfg) {
  measure_options m;
  m.seq = o.seq_len;
  m.reps = o.reps;
  if (cfg && cfg->nodes.front().devices.front().kind == config::device_kind::sim)
    return make_error("profile", cfg->source + ": sim devices take the times of their `profile` ("
                                   + cfg->nodes.front().devices.front().profile + "): nothing to measure");
  if (cfg) {
    m.backend = cfg->nodes.front().devices.front().kind == config::device_kind::cuda ? gpu::backend_kind::cuda
                                                                                     : gpu::backend_kind::cpu;
    std::int64_t mem = 0;
    for (const auto& n : cfg->nodes) {
      m.devices = std::max(m.devices, static_cast<int>(n.devices.size()));
      for (const auto& d : n.devices)
        mem = mem == 0 ? d.memory_bytes : std::min(mem, d.memory_bytes);
    }
    m.budget_bytes = static_cast<std::size_t>(mem);
  }
  if (!o.backend.empty()) {
    auto k = gpu::parse_backend_kind(o.backend);
    if (!k)
      return k.err();
    m.backend = *k;
  }
  if (o.devices != 0)
    m.devices = o.devices;
  if (o.memory_gib > 0)
    m.budget_bytes = static_cast<std::size_t>(o.memory_gib * (1 << 30));
  if (m.devices < 1 || m.reps < 1 || m.seq < 1)
    return make_error("profile", "--devices, --reps and --seq: expected >= 1, found " + std::to_string(m.devices) +
                                   ", " + std::to_string(m.reps) + ", " + std::to_string(m.seq));
  return m;
}

} // namespace

int run_profile(const profile_options& o) {
  auto log = logger("profile");
  std::vector<gpu::model_spec> specs;
  std::optional<config::cluster_config> cfg;
  if (!o.config_path.empty()) {
    auto c = config::load_config(o.config_path);
    if (!c) {
      log->error("{}", c.err().message);
      return 2;
    }
    cfg = std::move(*c);
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
  // `profile -c cluster.yaml` measures the deployment's own devices; --hardware asks for the analytic model
  // (the default when there is no config), --calibrate fits the analytic model to a measured db.
  const bool measure = o.measure || (cfg && o.hardware.empty() && o.calibrate.empty());
  const std::string hw_name = o.hardware.empty() ? "V100-16GB" : o.hardware;
  if (measure && !o.measure)
    log->info("measuring the engine on {}'s devices (--hardware NAME: the analytic cost model instead)",
              o.config_path);
  auto hw = policies::hardware(hw_name);
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
  std::optional<measure_options> mo;
  if (measure) {
    auto m = measure_setup(o, cfg ? &*cfg : nullptr);
    if (!m) {
      log->error("{}", m.err().to_string());
      return 2;
    }
    mo = *m;
  }
  if (!o.runtime_only.empty() && !cfg) {
    log->error("--runtime-only needs -c: the deployment whose runtime to probe");
    return 2;
  }
  auto db = !o.runtime_only.empty() ? policies::profile_db::load(o.runtime_only)
            : mo                    ? measure_profile(specs, *configs, *mo)
                                    : cm.profile_all(specs, *configs);
  if (!db) {
    log->error("{}", db.err().to_string());
    return 1;
  }
  // The runtime's own time around the steps (actor hops, the request path): measured on the deployment.
  if (cfg && (mo || !o.runtime_only.empty()) && (o.runtime_probe > 0 || !o.runtime_only.empty())) {
    runtime_probe_options ro;
    if (o.runtime_probe > 0)
      ro.requests = o.runtime_probe;
    ro.one_pass_tokens = o.seq_len; // the one-pass probe sends what the engine entries were measured with
    if (!o.runtime_only.empty() && policies::device_kind_of(db->device()) == "cpu") {
      // re-probing right before a live run: the cores the host gives now, as --measure does
      auto m = measure_setup(o, &*cfg);
      if (!m) {
        log->error("{}", m.err().to_string());
        return 2;
      }
      db->set_host_cores(measure_host_cores(specs, *m));
    }
    if (auto st = measure_runtime_overhead(*cfg, *db, ro); !st) {
      if (!o.runtime_only.empty()) {
        log->error("{}", st.err().to_string());
        return 1;
      }
      // Part of a measurement: the engine's entries stand without the overheads (they stay 0).
      log->warn("{} (the profile is written without runtime overheads)", st.err().to_string());
    }
  }
  if (!mo)
    db->set_device(hw_name); // an analytic profile is for that GPU (kind cuda)
  if (o.print) {
    std::printf("%-14s %3s %3s %10s %10s %12s %10s %12s %12s %12s\n", "model", "op", "pp", "lat_b1_s", "lat_b16_s",
                "max_w_GiB", "load_s", "prefill_ms/t", "dec_b1_ms", "dec_b16_ms");
    for (const auto& [key, e] : db->entries()) {
      double load = 0;
      for (double x : e.load_seconds)
        load = std::max(load, x);
      std::printf("%-14s %3d %3d %10.4f %10.4f %12.3f %10.3f", e.model.c_str(), e.config.op, e.config.pp,
                  e.total_latency(0), e.total_latency(4), static_cast<double>(e.max_weight_bytes()) / (1 << 30),
                  load);
      if (e.has_generation()) { // one step summed over stages: a prefill token; b decodes at context 512
        double pre = 0, d1 = 0, d16 = 0;
        for (std::size_t k = 0; k < e.gen_step_s.size(); ++k) {
          pre += e.prefill_s_per_token[k];
          d1 += e.step_seconds(k, 0, 1, 512);
          d16 += e.step_seconds(k, 0, 16, 16 * 512);
        }
        std::printf(" %12.4f %12.3f %12.3f", pre * 1e3, d1 * 1e3, d16 * 1e3);
      }
      std::printf("\n");
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
  log->info("wrote {} entries for {} models ({}) to {}", db->entries().size(), specs.size(),
            measure ? "measured" : hw_name, o.output);
  return 0;
}

void add_profile_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<profile_options>();
  auto* profile = app.add_subcommand("profile", "write a profile database (analytic cost model of a named GPU)");
  profile->add_option("-c,--config", o->config_path, "deployment YAML whose models to profile");
  profile->add_option("--models", o->models, "model presets, comma-separated")->delimiter(',');
  profile->add_option("--hardware", o->hardware,
                      "analytic cost model of V100-16GB | A100-40GB | H100-80GB (default: V100-16GB; with -c and "
                      "no --hardware: measure the config's devices)");
  profile->add_option("-o,--output", o->output, "output file, .msgpack or .json")->capture_default_str();
  profile->add_option("--seq", o->seq_len, "input tokens per request profiled")->capture_default_str();
  profile->add_option("--memory-gib", o->memory_gib, "per-GPU budget (0: device memory; --measure: -c's)");
  profile->add_option("--configs", o->configs, "OPxPP list (default: all)")->delimiter(',');
  profile->add_option("--calibrate", o->calibrate, "measured profile db to fit the cost model to");
  profile->add_flag("--measure", o->measure, "measure the real engine instead of the cost model (the "
                                                      "default with -c and no --hardware)");
  profile->add_option("--backend", o->backend, "--measure: cpu|cuda|auto (default: -c's device kind, else auto)");
  profile->add_option("--devices", o->devices, "--measure: devices to open (default: -c's largest node, else 1)");
  profile->add_option("--reps", o->reps, "--measure: timed runs per point (median)")->capture_default_str();
  profile->add_flag("--print", o->print, "print a latency table");
  profile->add_flag("--plan", o->plan, "print stage boundaries and the intra-op ILP's sharding");
  profile->add_option("--runtime-probe", o->runtime_probe,
                      "-c, measured: generations per decoder through an in-process runtime of the deployment, "
                      "for the runtime's overheads gen_hop_s and gen_request_s (0: none; at least 5)")
      ->capture_default_str();
  profile->add_option("--runtime-only", o->runtime_only,
                      "measured profile db (.json/.msgpack): only add the runtime probe's overheads to it (needs -c)");
  profile->add_option("--ilp-time-limit", o->ilp_time_limit, "seconds per intra-op ILP")->capture_default_str();
  profile->callback([o, &rc] { rc = run_profile(*o); });
}

} // namespace sy::apps
