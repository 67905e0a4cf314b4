#include "actors/internal/migration.hpp"

#include <algorithm>

namespace sy::actors::internal {

namespace {

bool same_shape(const group_shape& a, const group_shape& b) {
  return a.op == b.op && a.pp == b.pp && a.devices == b.devices && a.models == b.models;
}

bool overlaps(const group_shape& g, const std::set<config::device_ref>& held) {
  return std::any_of(g.devices.begin(), g.devices.end(), [&](const auto& d) { return held.count(d) > 0; });
}

bool overlaps(const group_shape& a, const group_shape& b) {
  for (const auto& d : a.devices)
    if (std::find(b.devices.begin(), b.devices.end(), d) != b.devices.end())
      return true;
  return false;
}

} // namespace

placement_diff diff_placement(const std::vector<group_shape>& current, const std::vector<group_shape>& target) {
  placement_diff out;
  std::vector<char> matched(target.size(), 0);
  for (std::size_t c = 0; c < current.size(); ++c) {
    bool kept = false;
    for (std::size_t t = 0; t < target.size() && !kept; ++t)
      if (!matched[t] && same_shape(current[c], target[t])) {
        matched[t] = 1;
        out.kept.emplace_back(c, t);
        kept = true;
      }
    if (!kept)
      out.leaving.push_back(c);
  }
  for (std::size_t t = 0; t < target.size(); ++t)
    if (!matched[t])
      out.building.push_back(t);
  return out;
}

migration_steps next_steps(const migration_view& v) {
  migration_steps out;
  std::vector<target_phase> tphase;
  for (const auto& t : v.targets)
    tphase.push_back(t.phase);
  std::vector<leaving_phase> lphase;
  for (const auto& l : v.leaving_groups)
    lphase.push_back(l.phase);

  auto held = [&] {
    std::set<config::device_ref> h = v.held_elsewhere;
    for (const auto& k : v.kept)
      h.insert(k.devices.begin(), k.devices.end());
    for (std::size_t i = 0; i < v.targets.size(); ++i)
      if (tphase[i] != target_phase::pending)
        h.insert(v.targets[i].shape.devices.begin(), v.targets[i].shape.devices.end());
    for (std::size_t i = 0; i < v.leaving_groups.size(); ++i)
      if (lphase[i] != leaving_phase::gone)
        h.insert(v.leaving_groups[i].shape.devices.begin(), v.leaving_groups[i].shape.devices.end());
    return h;
  };

  // 1. targets whose devices are free start
  {
    auto h = held();
    for (std::size_t i = 0; i < v.targets.size(); ++i)
      if (tphase[i] == target_phase::pending && !overlaps(v.targets[i].shape, h)) {
        tphase[i] = target_phase::building;
        out.start.push_back(i);
        h.insert(v.targets[i].shape.devices.begin(), v.targets[i].shape.devices.end());
      }
  }

  // 2. leaving groups retire where wanted and covered
  const bool all_ready = std::all_of(tphase.begin(), tphase.end(), [](auto p) { return p == target_phase::ready; });
  auto served_elsewhere = [&](std::size_t self, const std::string& model) {
    for (const auto& k : v.kept)
      if (k.models.count(model))
        return true;
    for (std::size_t i = 0; i < v.targets.size(); ++i)
      if (tphase[i] == target_phase::ready && v.targets[i].shape.models.count(model))
        return true;
    for (std::size_t i = 0; i < v.leaving_groups.size(); ++i)
      if (i != self && lphase[i] == leaving_phase::serving && v.leaving_groups[i].shape.models.count(model))
        return true;
    return false;
  };
  auto wanted = [&](std::size_t l) {
    if (all_ready)
      return true;
    for (std::size_t i = 0; i < v.targets.size(); ++i)
      if (tphase[i] == target_phase::pending && overlaps(v.targets[i].shape, v.leaving_groups[l].shape))
        return true;
    return false;
  };
  for (std::size_t l = 0; l < v.leaving_groups.size(); ++l) {
    if (lphase[l] != leaving_phase::serving || !wanted(l))
      continue;
    const auto& models = v.leaving_groups[l].shape.models;
    if (std::all_of(models.begin(), models.end(), [&](const auto& m) { return served_elsewhere(l, m); })) {
      lphase[l] = leaving_phase::retiring;
      out.retire.push_back(l);
    }
  }

  // 3. nothing in progress but a target waits: the devices force it
  const bool building = std::any_of(tphase.begin(), tphase.end(), [](auto p) { return p == target_phase::building; });
  const bool freeing = std::any_of(lphase.begin(), lphase.end(),
                                   [](auto p) { return p == leaving_phase::retiring || p == leaving_phase::freeing; });
  if (!building && !freeing) {
    for (std::size_t i = 0; i < v.targets.size(); ++i) {
      if (tphase[i] != target_phase::pending)
        continue;
      bool any = false;
      for (std::size_t l = 0; l < v.leaving_groups.size(); ++l) {
        if (lphase[l] != leaving_phase::serving || !overlaps(v.targets[i].shape, v.leaving_groups[l].shape))
          continue;
        for (const auto& m : v.leaving_groups[l].shape.models)
          if (!served_elsewhere(l, m))
            out.forced.push_back(m);
        lphase[l] = leaving_phase::retiring;
        out.retire.push_back(l);
        any = true;
      }
      if (!any)
        out.blocked = true; // only kept groups (never: targets do not overlap) or groups outside hold them
      break;
    }
  }
  out.done = all_ready && std::all_of(lphase.begin(), lphase.end(), [](auto p) { return p == leaving_phase::gone; });
  return out;
}

} // namespace sy::actors::internal
