#include "policies/placement/plan_check.hpp"

#include <set>

namespace sy::policies {

namespace {

std::string model_list(const config::cluster_config& cfg) {
  std::string s;
  for (std::size_t i = 0; i < cfg.models.size() && i < 8; ++i)
    s += (i ? ", " : "") + cfg.models[i].name;
  if (cfg.models.size() > 8)
    s += ", ... (" + std::to_string(cfg.models.size()) + " models)";
  return s;
}

} // namespace

status check_plan(const plan_file& plan, const config::cluster_config& cfg, const std::string& src) {
  auto fail = [&](const std::string& key, const std::string& expected, const std::string& found) {
    return make_error("plan", src + ": " + key + ": expected " + expected + ", found " + found);
  };
  const int count = cfg.device_count();
  const std::string of_cfg = " (" + cfg.source + " has " + std::to_string(count) + ")";
  if (plan.devices > count)
    return fail("devices", "at most " + std::to_string(count) + " devices" + of_cfg, std::to_string(plan.devices));
  if (plan.schedule.placements.empty())
    return fail("windows", "at least one window", "none");
  for (const auto& name : plan.schedule.placements.front().model_names)
    if (cfg.model_index(name) < 0)
      return fail("models", "models of " + cfg.source + " (" + model_list(cfg) + ")", "'" + name + "'");
  for (std::size_t w = 0; w < plan.schedule.placements.size(); ++w) {
    const auto& p = plan.schedule.placements[w];
    std::set<int> used;
    for (std::size_t g = 0; g < p.groups.size(); ++g) {
      const auto& grp = p.groups[g];
      const std::string key = "windows[" + std::to_string(w) + "].groups[" + std::to_string(g) + "].devices";
      for (std::size_t i = 0; i < grp.devices.size(); ++i) {
        const int d = grp.devices[i];
        const std::string k = key + "[" + std::to_string(i) + "]";
        if (d < 0 || d >= count)
          return fail(k, "a device index in [0, " + std::to_string(count) + ")" + of_cfg, std::to_string(d));
        if (!used.insert(d).second)
          return fail(k, "each device in one group of the window", "device " + std::to_string(d) + " again");
      }
      if (grp.devices.empty())
        continue;
      const int op = grp.config.op;
      if (op < 1 || grp.config.pp < 1 || grp.devices.size() != static_cast<std::size_t>(op) * grp.config.pp)
        return fail(key, "op x pp = " + std::to_string(op) + " x " + std::to_string(grp.config.pp) + " devices",
                    std::to_string(grp.devices.size()) + " devices");
      for (int s = 0; s < grp.config.pp; ++s)
        for (int r = 1; r < op; ++r) {
          const auto a = cfg.device_at(grp.devices[static_cast<std::size_t>(s * op)]);
          const auto b = cfg.device_at(grp.devices[static_cast<std::size_t>(s * op + r)]);
          if (a.node != b.node)
            return fail(key, "the tensor ranks of stage " + std::to_string(s) + " on one node",
                        "devices on nodes " + cfg.nodes[static_cast<std::size_t>(a.node)].name + " and " +
                          cfg.nodes[static_cast<std::size_t>(b.node)].name);
        }
    }
  }
  return {};
}

} // namespace sy::policies
