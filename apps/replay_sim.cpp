#include "apps/replay_sim.hpp"

#include <algorithm>
#include <chrono>

#include "actors/cluster.hpp"
#include "apps/sim_inputs.hpp"
#include "messages/logging.hpp"
#include "policies/policy_registry.hpp"
#include "policies/runtime_registry.hpp"
#include "sim/deployment_plan.hpp"
#include "sim/simulator.hpp"
#include "sim/summary.hpp"

namespace sy::apps {

result<driver::driver_result> simulate_replay(const replay_options& o, const config::cluster_config& cfg,
                                              const sim::trace& trace) {
  auto t0 = std::chrono::steady_clock::now();
  auto placement = actors::runtime_placement(cfg);
  if (!placement)
    return placement.err();
  auto dsim = deployment_sim_options(cfg, o.sim_mode); // the runtime's batching and swapping, unless --sim-mode
  if (!dsim)
    return dsim.err();
  // The trace at the replay's time scale (the live driver sends request i at arrival_s / time_scale).
  sim::trace scaled = trace;
  for (auto& r : scaled.requests)
    r.arrival_s /= o.time_scale;
  sim_input_options in;
  in.config_path = o.config_path; // analytic profiles from the config's specs (inline architectures too)
  in.profile = o.sim_profile;
  in.hardware = o.sim_hardware;
  // Simulated devices: the simulator takes the profile the devices take their times from.
  if (auto kind = sim::deployment_device_kind(cfg); kind && *kind == "sim" && in.profile.empty() && in.hardware.empty())
    in.profile = cfg.nodes.front().devices.front().profile;
  in.slo_scale = o.slo_scale;
  in.force = true; // checked here against cfg (also the embedded default, which has no path)
  if (!o.force) {
    auto kind = sim::deployment_device_kind(cfg);
    if (!kind)
      return kind.err();
    std::string device = o.sim_hardware;
    if (!o.sim_profile.empty()) {
      auto db = policies::profile_db::load(o.sim_profile);
      if (!db)
        return db.err();
      device = db->device();
    }
    const std::string where = o.sim_profile.empty() ? "--hardware " + o.sim_hardware : "--profile " + o.sim_profile;
    if (auto st = sim::check_profile_kind(device, *kind, where); !st)
      return make_error("replay", st.err().message + " (" + cfg.source + "); measure one with `switchyard profile -c "
                                    + cfg.source + "`, or pass --force");
  }
  auto inputs = load_inputs(in, placement->model_names, &scaled);
  if (!inputs)
    return inputs.err();
  // SLOs as the runtime uses them: the config's slo_ms (also for the embedded default), else slo_scale x latency.
  // Generation SLOs likewise: the config's ttft_ms / tpot_ms.
  for (std::size_t m = 0; m < cfg.models.size(); ++m) {
    if (cfg.models[m].slo)
      inputs->model_slo_s[m] = std::chrono::duration<double>(*cfg.models[m].slo).count();
    // no ttft_ms: the runtime has no TTFT SLO for it (no admission check, the request timeout as deadline)
    inputs->model_ttft_s[m] = cfg.models[m].ttft ? std::chrono::duration<double>(*cfg.models[m].ttft).count() : -1.0;
    if (cfg.models[m].tpot)
      inputs->model_tpot_s[m] = std::chrono::duration<double>(*cfg.models[m].tpot).count();
  }
  auto prepared = prepare_inputs(*inputs, o.slo_scale);
  if (!prepared)
    return prepared.err();
  sim::sim_options opt = dsim->opt;
  std::int64_t mem = 0;
  for (const auto& n : cfg.nodes)
    for (const auto& d : n.devices)
      mem = mem == 0 ? d.memory_bytes : std::min(mem, d.memory_bytes);
  opt.mem_budget_bytes = static_cast<double>(actors::weight_budget(mem));
  opt.host_cores = cpu_host_cores(*inputs, cfg); // cpu devices share the host's cores (0: not modelled)
  // Generation: the runtime's settings (runtime.gen_max_seqs, runtime.gen_token_budget).
  if (auto st = apply_generation_options(opt, in, &cfg); !st)
    return st.err();
  policies::placement_schedule schedule{{0.0}, {*placement}};
  sim::simulator s(inputs->table, opt);
  std::vector<sim::request_record> records;
  auto ev = s.run(schedule, *prepared, &records);
  if (!ev)
    return ev.err();
  if (records.size() != trace.requests.size())
    return make_error("replay", "the simulator returned " + std::to_string(records.size()) + " records for "
                                  + std::to_string(trace.requests.size()) + " requests");
  driver::driver_result out;
  out.records.resize(records.size());
  std::vector<std::string> group_names;
  for (std::size_t g = 0; g < placement->groups.size(); ++g)
    group_names.push_back(cfg.placement.mode == config::placement_mode::explicit_groups ? cfg.placement.groups[g].name
                                                                                        : "g" + std::to_string(g));
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    auto& d = out.records[i];
    d.model = trace.requests[i].model;
    d.arrival = r.arrival;
    d.dispatch = r.dispatch;
    d.start = r.start;
    d.finish = r.finish;
    d.status = sim::to_string(r.status);
    d.reason = sim::reason_of(r, prepared->model[i]);
    d.group = r.group >= 0 && static_cast<std::size_t>(r.group) < group_names.size()
                ? group_names[static_cast<std::size_t>(r.group)]
                : std::string{};
    d.batch_size = r.batch_size;
    d.load_wait = r.load_wait;
    d.answers = 1;
    // Generation (the simulator's generation kernel): what the live replay measures from the stream.
    d.first_token = r.first_token;
    d.new_tokens = r.new_tokens;
    d.streamed = r.new_tokens;
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  logger("replay")->info("simulated {} requests on {} group(s), mode {}{}, in {:.3f} s", records.size(),
                         placement->groups.size(), dsim->described,
                         opt.host_cores > 0 ? fmt::format(", cpu devices sharing {:.2f} cores", opt.host_cores)
                                            : std::string{}, out.wall_s);
  return out;
}

} // namespace sy::apps
