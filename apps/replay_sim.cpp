#include "apps/replay_sim.hpp"

#include <algorithm>
#include <chrono>

#include "actors/cluster.hpp"
#include "apps/sim_inputs.hpp"
#include "messages/logging.hpp"
#include "policies/policy_registry.hpp"
#include "policies/runtime_registry.hpp"
#include "sim/simulator.hpp"
#include "sim/summary.hpp"

namespace sy::apps {

result<driver::driver_result> simulate_replay(const replay_options& o, const config::cluster_config& cfg,
                                              const sim::trace& trace) {
  auto t0 = std::chrono::steady_clock::now();
  auto placement = actors::runtime_placement(cfg);
  if (!placement)
    return placement.err();
  auto mode = sim::parse_sim_mode(o.sim_mode);
  if (!mode)
    return mode.err();
  // The trace at the replay's time scale (the live driver sends request i at arrival_s / time_scale).
  sim::trace scaled = trace;
  for (auto& r : scaled.requests)
    r.arrival_s /= o.time_scale;
  sim_input_options in;
  in.config_path = o.config_path; // analytic profiles from the config's specs (inline architectures too)
  in.profile = o.sim_profile;
  in.hardware = o.sim_hardware;
  in.slo_scale = o.slo_scale;
  auto inputs = load_inputs(in, placement->model_names, &scaled);
  if (!inputs)
    return inputs.err();
  // SLOs as the runtime uses them: the config's slo_ms (also for the embedded default), else slo_scale x latency.
  for (std::size_t m = 0; m < cfg.models.size(); ++m)
    if (cfg.models[m].slo)
      inputs->model_slo_s[m] = std::chrono::duration<double>(*cfg.models[m].slo).count();
  auto prepared = sim::prepare(inputs->trace, inputs->table, o.slo_scale, inputs->model_slo_s);
  if (!prepared)
    return prepared.err();
  sim::sim_options opt;
  opt.mode = *mode;
  std::int64_t mem = 0;
  for (const auto& n : cfg.nodes)
    for (const auto& d : n.devices)
      mem = mem == 0 ? d.memory_bytes : std::min(mem, d.memory_bytes);
  opt.mem_budget_bytes = static_cast<double>(actors::weight_budget(mem));
  if (opt.mode == sim::sim_mode::swapping) {
    auto e = policies::make_eviction(cfg.policies.eviction.name, policies::numbers_of(cfg.policies.eviction.params));
    if (!e)
      return make_error("replay", cfg.source + ": policies.eviction: " + e.err().message);
    opt.eviction = *e;
  }
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
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  logger("replay")->info("simulated {} requests on {} group(s) ({} mode) in {:.3f} s", records.size(),
                         placement->groups.size(), o.sim_mode, out.wall_s);
  return out;
}

} // namespace sy::apps
