#include "actors/internal/group_plan.hpp"

#include <algorithm>

#include "gpu/shard.hpp"

namespace sy::actors::internal {

namespace {

std::vector<config::group_config> round_robin(const config::cluster_config& cfg) {
  std::vector<config::group_config> gs;
  for (int g = 0; g < cfg.device_count(); ++g) {
    config::group_config gc;
    gc.name = "g" + std::to_string(g);
    gc.devices = {cfg.device_at(g)};
    gs.push_back(gc);
  }
  int models = static_cast<int>(cfg.models.size());
  int groups = static_cast<int>(gs.size());
  for (int m = 0; m < models && groups > 0; ++m)
    gs[static_cast<std::size_t>(m % groups)].models.push_back(m);
  for (int g = models; g < groups && models > 0; ++g) // more devices than models: replicas
    gs[static_cast<std::size_t>(g)].models.push_back(g % models);
  return gs;
}

} // namespace

result<std::vector<planned_group>> plan_groups(const config::cluster_config& cfg) {
  std::vector<config::group_config> gs;
  switch (cfg.placement.mode) {
    case config::placement_mode::explicit_groups: gs = cfg.placement.groups; break;
    case config::placement_mode::policy: gs = round_robin(cfg); break;
    case config::placement_mode::plan_file:
      return make_error("cluster", "placement.plan: plan files are not supported by the runtime yet; use groups");
  }
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
