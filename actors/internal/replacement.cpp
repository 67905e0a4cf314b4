#include "actors/internal/replacement.hpp"

#include <algorithm>
#include <optional>

#include "gpu/shard.hpp"

namespace sy::actors::internal {

namespace {

/// pp stages of op devices each, every stage on one node, from the devices of `free` not yet `taken` (in
/// order); nullopt when they are not there.
std::optional<std::vector<config::device_ref>> pick_devices(const std::vector<config::device_ref>& free,
                                                            std::vector<char> taken, int op, int pp) {
  std::vector<config::device_ref> out;
  for (int s = 0; s < pp; ++s) {
    bool found = false;
    for (std::size_t i = 0; i < free.size() && !found; ++i) {
      if (taken[i])
        continue;
      std::vector<std::size_t> same_node;
      for (std::size_t j = i; j < free.size() && static_cast<int>(same_node.size()) < op; ++j)
        if (!taken[j] && free[j].node == free[i].node)
          same_node.push_back(j);
      if (static_cast<int>(same_node.size()) < op)
        continue;
      for (auto j : same_node) {
        taken[j] = 1;
        out.push_back(free[j]);
      }
      found = true;
    }
    if (!found)
      return std::nullopt;
  }
  return out;
}

std::int64_t budget_of(const config::cluster_config& cfg, const std::vector<config::device_ref>& devices) {
  std::int64_t mem = -1;
  for (const auto& d : devices)
    mem = mem < 0 ? cfg.device(d).memory_bytes : std::min(mem, cfg.device(d).memory_bytes);
  return static_cast<std::int64_t>(static_cast<double>(std::max<std::int64_t>(mem, 0)) * weight_budget_fraction);
}

std::int64_t used_bytes(const planned_group& g) {
  std::int64_t used = 0;
  for (const auto& [name, bytes] : g.bytes)
    used += bytes;
  return used;
}

std::string mib(std::int64_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

} // namespace

result<std::int64_t> largest_shard(const config::model_config& model, int op, int pp) {
  auto layout = gpu::even_layout(model.spec, op, pp);
  if (!layout)
    return make_error("cluster", "model " + model.name + ": " + layout.err().message);
  std::int64_t biggest = 0;
  for (int s = 0; s < pp; ++s)
    for (int r = 0; r < op; ++r) {
      auto plan = gpu::plan_shard(model.spec, *layout, s, r, model.spec.type);
      if (!plan)
        return make_error("cluster", "model " + model.name + ": " + plan.err().message);
      biggest = std::max(biggest, static_cast<std::int64_t>(plan->bytes));
    }
  return biggest;
}

replacement_plan plan_replacement(const config::cluster_config& cfg, const std::vector<config::device_ref>& free,
                                  std::vector<replacement_need> needs, const std::function<std::string()>& next_name) {
  replacement_plan out;
  auto whole = [&](int m) { // the model's size on one device: the order among models with as many live replicas
    auto b = largest_shard(cfg.models[static_cast<std::size_t>(m)], 1, 1);
    return b ? *b : 0;
  };
  std::stable_sort(needs.begin(), needs.end(), [&](const replacement_need& a, const replacement_need& b) {
    if ((a.live == 0) != (b.live == 0))
      return a.live == 0;
    return whole(a.model) > whole(b.model);
  });
  std::vector<char> taken(free.size(), 0);
  auto take = [&](const std::vector<config::device_ref>& devices) {
    for (const auto& d : devices)
      for (std::size_t i = 0; i < free.size(); ++i)
        if (!taken[i] && free[i] == d) {
          taken[i] = 1;
          break;
        }
  };
  for (const auto& need : needs) {
    const auto& mc = cfg.models[static_cast<std::size_t>(need.model)];
    for (int k = 0; k < need.replicas; ++k) {
      bool placed = false;
      for (auto& g : out.groups) { // beside the replicas this plan placed already
        if (g.bytes.count(mc.name))
          continue;
        auto shard = largest_shard(mc, g.op, g.pp);
        if (shard && used_bytes(g) + *shard <= g.budget) {
          g.models.push_back(need.model);
          g.bytes[mc.name] = *shard;
          placed = true;
          break;
        }
      }
      const auto left = static_cast<int>(std::count(taken.begin(), taken.end(), 0));
      std::int64_t smallest = -1; // the smallest shard among the shapes the free devices allow, for the reason
      std::int64_t roomiest = 0;
      for (int n = 1; n <= left && !placed; ++n)
        for (int op = n; op >= 1 && !placed; --op) {
          if (n % op != 0)
            continue;
          const int pp = n / op;
          auto shard = largest_shard(mc, op, pp);
          if (!shard)
            continue;
          auto devices = pick_devices(free, taken, op, pp);
          if (!devices)
            continue;
          auto budget = budget_of(cfg, *devices);
          smallest = smallest < 0 ? *shard : std::min(smallest, *shard);
          roomiest = std::max(roomiest, budget);
          if (*shard > budget)
            continue;
          planned_group g;
          g.name = next_name();
          g.op = op;
          g.pp = pp;
          g.devices = *devices;
          g.models = {need.model};
          g.bytes[mc.name] = *shard;
          g.budget = budget;
          take(g.devices);
          out.groups.push_back(std::move(g));
          placed = true;
        }
      if (placed)
        continue;
      if (left == 0)
        out.unplaced.push_back(mc.name + ": no free device is left (every surviving device serves a group)");
      else if (smallest < 0)
        out.unplaced.push_back(mc.name + ": no group shape of the " + std::to_string(left)
                               + " free devices shards it (heads, layers, tensor ranks on one node)");
      else
        out.unplaced.push_back(mc.name + ": its smallest shard on the " + std::to_string(left) + " free devices is "
                               + mib(smallest) + ", more than their weight budget (" + mib(roomiest) + " per device)");
    }
  }
  return out;
}

} // namespace sy::actors::internal
