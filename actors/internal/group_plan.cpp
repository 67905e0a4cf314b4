#include "actors/internal/group_plan.hpp"

#include <algorithm>

#include "gpu/shard.hpp"
#include "policies/placement/plan_check.hpp"

namespace sy::actors::internal {


result<std::vector<config::group_config>> groups_from_plan(const config::cluster_config& cfg,
                                                           const policies::plan_file& plan,
                                                           const std::string& source) {
  auto fail = [&](const std::string& what) { return make_error("cluster", source + ": " + what); };
  const auto& sched = plan.schedule;
  if (sched.placements.size() != 1)
    return fail("the plan has " + std::to_string(sched.placements.size())
                + " windows (a placement that changes over time); the runtime serves one placement: plan with a "
                  "policy other than sr-replace-*");
  const auto& pl = sched.placements.front();
  for (std::size_t g = 0; g < pl.groups.size(); ++g) { // sizes first: check_plan indexes devices by op and pp
    const auto& pg = pl.groups[g];
    auto where = "group " + std::to_string(g);
    int size = pg.config.gpus();
    if (pg.devices.empty())
      return fail(where + " has no devices (a plan for simulation only?); expected " + std::to_string(size)
                  + " device indices");
    if (static_cast<int>(pg.devices.size()) != size)
      return fail(where + ": tensor x pipeline = " + std::to_string(pg.config.op) + " x " + std::to_string(pg.config.pp)
                  + " = " + std::to_string(size) + " devices, but it lists " + std::to_string(pg.devices.size()));
  }
  // Models, device indices, one group per device, tensor ranks on one node: the planner's own check.
  if (auto st = policies::check_plan(plan, cfg, source); !st)
    return make_error("cluster", st.err().message);
  std::vector<config::group_config> out;
  for (std::size_t g = 0; g < pl.groups.size(); ++g) {
    const auto& pg = pl.groups[g];
    auto where = "group " + std::to_string(g);
    config::group_config gc;
    gc.name = "g" + std::to_string(g);
    gc.op = pg.config.op;
    gc.pp = pg.config.pp;
    for (int d : pg.devices)
      gc.devices.push_back(cfg.device_at(d));
    for (int m : pg.models) {
      if (m < 0 || m >= static_cast<int>(pl.model_names.size()))
        return fail(where + ": model index " + std::to_string(m) + " out of range");
      gc.models.push_back(cfg.model_index(pl.model_names[static_cast<std::size_t>(m)]));
    }
    out.push_back(std::move(gc));
  }
  return out;
}

result<std::vector<planned_group>> plan_groups(const config::cluster_config& cfg) {
  std::vector<config::group_config> gs;
  switch (cfg.placement.mode) {
    case config::placement_mode::explicit_groups: gs = cfg.placement.groups; break;
    case config::placement_mode::policy: // planned before the cluster starts (apps/live_plan.hpp)
      return make_error("cluster", (cfg.placement.policy.where.empty() ? cfg.source + ": placement" : cfg.placement.policy.where)
                                     + ": placement policy '" + cfg.placement.policy.name
                                     + "' has not been planned: run the planner first (switchyard up does; in C++ "
                                       "apps::plan_deployment), then start the cluster on its groups");
    case config::placement_mode::plan_file: {
      auto plan = policies::load_plan(cfg.placement.plan_path);
      if (!plan)
        return make_error("cluster", cfg.source + ": placement.plan: " + plan.err().message);
      auto groups = groups_from_plan(cfg, *plan, cfg.placement.plan_path);
      if (!groups)
        return groups.err();
      gs = std::move(*groups);
      break;
    }
  }
  return plan_group_configs(cfg, gs);
}

result<std::vector<planned_group>> plan_group_configs(const config::cluster_config& cfg,
                                                      const std::vector<config::group_config>& gs) {
  std::vector<planned_group> out;
  for (const auto& gc : gs) {
    planned_group pg;
    pg.name = gc.name;
    pg.op = gc.op;
    pg.pp = gc.pp;
    pg.devices = gc.devices;
    pg.models = gc.models;
    std::int64_t mem = -1;
    for (const auto& d : gc.devices) {
      auto m = cfg.device(d).memory_bytes;
      mem = mem < 0 ? m : std::min(mem, m);
    }
    pg.budget = static_cast<std::int64_t>(static_cast<double>(std::max<std::int64_t>(mem, 0)) * weight_budget_fraction);
    for (int s = 0; s < gc.pp; ++s)
      for (int r = 1; r < gc.op; ++r)
        if (gc.devices[static_cast<std::size_t>(s * gc.op + r)].node != gc.devices[static_cast<std::size_t>(s * gc.op)].node)
          return make_error("cluster", "group " + gc.name + ": the tensor ranks of stage " + std::to_string(s)
                                         + " must be on one node");
    for (int m : gc.models) {
      const auto& mc = cfg.models[static_cast<std::size_t>(m)];
      auto layout = gpu::even_layout(mc.spec, gc.op, gc.pp);
      if (!layout)
        return make_error("cluster", "group " + gc.name + ", model " + mc.name + ": " + layout.err().message);
      std::int64_t biggest = 0;
      for (int s = 0; s < gc.pp; ++s)
        for (int r = 0; r < gc.op; ++r) {
          auto plan = gpu::plan_shard(mc.spec, *layout, s, r, mc.spec.type);
          if (!plan)
            return make_error("cluster", "group " + gc.name + ", model " + mc.name + ": " + plan.err().message);
          biggest = std::max(biggest, static_cast<std::int64_t>(plan->bytes));
        }
      pg.bytes[mc.name] = biggest;
    }
    out.push_back(std::move(pg));
  }
  return out;
}

} // namespace sy::actors::internal
