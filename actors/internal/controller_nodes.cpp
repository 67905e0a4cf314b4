#include "actors/internal/controller_nodes.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actors/internal/controller_migration.hpp"
#include "actors/internal/placement_input.hpp"
#include "actors/internal/replacement.hpp"
#include "config/cluster_config.hpp"
#include "messages/logging.hpp"

namespace sy::actors::internal {

namespace {

using namespace messages;

/// A stage that is told to stop gets this long to answer (its device work drains first).
constexpr auto stage_stop_timeout = std::chrono::seconds(10);

void reconcile(controller_self self, bool place, const std::string& cause);

/// Node index in the config, or -1.
int node_index(const controller_state& st, const std::string& name) {
  for (std::size_t i = 0; i < st.cfg->nodes.size(); ++i)
    if (st.cfg->nodes[i].name == name)
      return static_cast<int>(i);
  return -1;
}

bool group_uses(const group_slot& slot, int node) {
  for (auto& d : slot.plan.devices)
    if (d.node == node)
      return true;
  return false;
}

bool uses_device(const group_slot& slot, config::device_ref d) {
  return std::find(slot.plan.devices.begin(), slot.plan.devices.end(), d) != slot.plan.devices.end();
}

bool shares_device(const group_slot& a, const group_slot& b) {
  for (auto& d : a.plan.devices)
    if (uses_device(b, d))
      return true;
  return false;
}

std::string devices_text(const config::cluster_config& cfg, const std::vector<config::device_ref>& devices) {
  std::string out;
  for (auto& d : devices) {
    const auto& n = cfg.nodes[static_cast<std::size_t>(d.node)];
    out += (out.empty() ? "" : ", ") + n.name + ":" + std::to_string(n.devices[static_cast<std::size_t>(d.device)].ordinal);
  }
  return out;
}

std::string models_text(const group_slot& slot) {
  std::string out;
  for (auto& [m, bytes] : slot.plan.bytes)
    out += (out.empty() ? "" : ", ") + m;
  return out;
}

bool node_present(const controller_state& st, int node) {
  return st.nodes.count(st.cfg->nodes[static_cast<std::size_t>(node)].name) > 0;
}

bool nodes_present(const controller_state& st, const group_slot& slot) {
  for (auto& d : slot.plan.devices)
    if (!node_present(st, d.node))
      return false;
  return true;
}

/// Serving (or being built) and taking new requests.
bool live(const group_slot& s) {
  return s.actor && s.down.empty() && !s.retiring && !s.retired;
}

/// A configured group that is down and can be rebuilt now: its nodes are all back, its devices not suspect,
/// the stages of its last build stopped. Never a retired group (e.g. one a migration dropped while it was
/// down: its `down` stays, but it is gone for good).
bool restorable(const controller_state& st, const group_slot& s) {
  return !s.retired && !s.replacement && !s.leaving && !s.actor && !s.down.empty() && s.down_code != error_code::device_error
         && s.stages_stopping == 0 && nodes_present(st, s);
}

/// The group's devices are not free for another group: it runs on them, its stages still stop, it is about
/// to be rebuilt on them, or they are suspect (an unhealthy device).
bool holds_devices(const controller_state& st, const group_slot& s) {
  if (s.stages_stopping > 0)
    return true;
  if (s.retired)
    return false;
  if (s.actor)
    return true;
  if (s.replacement)
    return false;
  return restorable(st, s) || s.down_code == error_code::device_error;
}

std::size_t in_flight_on(const controller_state& st, std::size_t g) {
  std::size_t n = 0;
  for (auto& [addr, r] : st.in_flight)
    n += r.group == g ? 1 : 0;
  return n;
}

/// One stage stop answered (or timed out): once all are, the group's devices are free.
void stage_released(controller_self self, std::size_t g) {
  auto& slot = self->state.groups[g];
  if (--slot.stages_stopping > 0)
    return;
  std::vector<config::device_ref> here; // (its devices on a lost node went with it)
  for (auto& d : slot.plan.devices)
    if (node_present(self->state, d.node))
      here.push_back(d);
  logger("controller")->info("group {}: its stages stopped; devices {} are free", slot.plan.name,
                             devices_text(*self->state.cfg, here));
  reconcile(self, true, self->state.last_cause);
}

/// Stops the group's stages on the nodes still present and counts their answers (the devices stay taken
/// until then: a stage frees its weights when it quits). Stages on a lost node went with it.
void release_stages(controller_self self, std::size_t g) {
  auto& st = self->state;
  auto& slot = st.groups[g];
  auto stages = std::exchange(slot.stages, {});
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const auto& d = slot.plan.devices[s * static_cast<std::size_t>(slot.plan.op)];
    if (!stages[s] || !node_present(st, d.node))
      continue;
    ++slot.stages_stopping;
    self->request(stages[s], stage_stop_timeout, stop_atom_v)
      .then([=](const ack&) { stage_released(self, g); }, [=](caf::error&) { stage_released(self, g); });
  }
}

/// A replacement group goes for good: it is stopped (it has nothing in flight, or it went down already).
void retire(controller_self self, std::size_t g, const std::string& why) {
  auto& slot = self->state.groups[g];
  ++slot.epoch;
  slot.ready = false;
  slot.retiring = false;
  slot.retired = true;
  if (slot.actor)
    caf::anon_send(slot.actor, stop_atom_v);
  slot.actor = nullptr;
  logger("controller")->info("group {} retired ({}); it held {} on {}", slot.plan.name, why, models_text(slot),
                             devices_text(*self->state.cfg, slot.plan.devices));
  release_stages(self, g);
}

/// Restores configured group g, or, when replacement groups hold its devices, has them retire first.
void restore(controller_self self, std::size_t g) {
  auto& st = self->state;
  std::string blockers;
  for (std::size_t o = 0; o < st.groups.size(); ++o) {
    auto& other = st.groups[o];
    if (o == g || !holds_devices(st, other) || !shares_device(st.groups[g], other))
      continue;
    blockers += (blockers.empty() ? "" : ", ") + other.plan.name;
    if (other.replacement && other.actor && !other.retiring && !other.retired) {
      other.retiring = true;
      logger("controller")->info("group {} retiring: group {} is restored on its devices; it takes no new "
                                 "requests and stops once the {} in flight are answered",
                                 other.plan.name, st.groups[g].plan.name, in_flight_on(st, o));
    }
  }
  auto& slot = st.groups[g];
  if (!blockers.empty()) {
    slot.down = "restore waits for group " + blockers + " to leave its devices";
    return;
  }
  logger("controller")->info("restoring group {} on {} ({}): its nodes are back", slot.plan.name,
                             devices_text(*st.cfg, slot.plan.devices), models_text(slot));
  slot.down_code = error_code::none;
  wire_group(self, g);
}

/// Counts of a model's configured replicas and of those ready in configured groups.
std::pair<int, int> configured_and_ready(const controller_state& st, const std::string& model) {
  int configured = 0, ready = 0;
  for (auto& s : st.groups)
    if (!s.replacement && !s.retired && !s.leaving && s.plan.bytes.count(model)) {
      ++configured;
      ready += live(s) && s.ready ? 1 : 0;
    }
  return {configured, ready};
}

/// New groups for the replicas below their configured count, on the devices that serve nothing.
void replace_lost(controller_self self, const std::string& cause) {
  auto& st = self->state;
  const auto& cfg = *st.cfg;
  std::vector<replacement_need> needs;
  for (std::size_t m = 0; m < cfg.models.size(); ++m) {
    const auto& name = cfg.models[m].name;
    int target = 0, alive = 0;
    for (auto& s : st.groups) {
      if (!s.plan.bytes.count(name) || s.retired || s.leaving) // (groups a migration left or leaves)
        continue;
      target += s.replacement ? 0 : 1;
      alive += live(s) || restorable(st, s) ? 1 : 0; // a group about to be restored counts
    }
    if (alive < target)
      needs.push_back({static_cast<int>(m), target - alive, alive});
  }
  if (needs.empty())
    return;
  for (auto& s : st.groups)
    if (s.stages_stopping > 0)
      return; // devices are about to be free: placed once the last stage stopped (stage_released)
  std::vector<config::device_ref> spare, freed; // outside every configured group first: no restore needs them
  for (std::size_t n = 0; n < cfg.nodes.size(); ++n) {
    if (!node_present(st, static_cast<int>(n)))
      continue;
    for (std::size_t i = 0; i < cfg.nodes[n].devices.size(); ++i) {
      config::device_ref d{static_cast<int>(n), static_cast<int>(i)};
      bool taken = st.suspect_devices.count(d) > 0, configured = false;
      if (st.migration) // a migration's group not started yet waits for it: not spare
        for (std::size_t t = 0; t < st.migration->targets.size(); ++t)
          taken = taken || (st.migration->target_slot[t] < 0 &&
                            std::find(st.migration->targets[t].devices.begin(), st.migration->targets[t].devices.end(),
                                      d) != st.migration->targets[t].devices.end());
      for (auto& s : st.groups) {
        taken = taken || (uses_device(s, d) && holds_devices(st, s));
        configured = configured || (!s.replacement && uses_device(s, d));
      }
      if (!taken)
        (configured ? freed : spare).push_back(d);
    }
  }
  spare.insert(spare.end(), freed.begin(), freed.end());
  auto next_name = [&st] {
    for (;;) {
      auto name = "r" + std::to_string(st.next_replacement++);
      if (std::none_of(st.groups.begin(), st.groups.end(), [&](auto& s) { return s.plan.name == name; }))
        return name;
    }
  };
  auto plan = plan_replacement(cfg, spare, std::move(needs), next_name);
  for (auto& pg : plan.groups) {
    group_slot slot;
    slot.plan = std::move(pg);
    slot.replacement = true;
    slot.origin = cause;
    st.groups.push_back(std::move(slot));
    const auto g = st.groups.size() - 1;
    const auto& s = st.groups[g];
    ++st.replacements;
    st.models_moved += s.plan.models.size();
    logger("controller")->warn("re-placing after {}: group {} (tensor {} x pipeline {}) on {} loads {}", cause,
                               s.plan.name, s.plan.op, s.plan.pp, devices_text(cfg, s.plan.devices), models_text(s));
    wire_group(self, g);
  }
  for (auto& u : plan.unplaced) {
    auto msg = "cannot re-place " + u + " (after " + cause + ")";
    logger("controller")->error("{}", msg);
    st.problems.push_back(msg);
  }
}

/// Brings the groups toward the configured placement: replacement groups that went down retire, configured
/// groups whose nodes are back are restored (after the replacement groups on their devices retired),
/// replacement groups no longer needed retire, and, when `place`, lost replicas are re-placed.
void reconcile(controller_self self, bool place, const std::string& cause) {
  auto& st = self->state;
  if (!st.wiring || st.stopping)
    return;
  if (place && !cause.empty())
    st.last_cause = cause;
  // A group retired without stages to wait for frees its devices at once: go round again for the restores.
  for (bool again = true; again;) {
    again = false;
    auto retire_now = [&](std::size_t g, const std::string& why) {
      retire(self, g, why);
      again = again || st.groups[g].stages_stopping == 0;
    };
    for (std::size_t g = 0; g < st.groups.size(); ++g) {
      auto& s = st.groups[g];
      if (!s.replacement || s.retired || s.down.empty())
        continue;
      if (s.down_code != error_code::node_lost) // its build or a device failed: not there again
        for (auto& d : s.plan.devices)
          if (node_present(st, d.node))
            st.suspect_devices.insert(d);
      retire_now(g, "down: " + s.down);
    }
    for (std::size_t g = 0; g < st.groups.size(); ++g)
      if (restorable(st, st.groups[g]))
        restore(self, g);
    for (std::size_t g = 0; g < st.groups.size(); ++g) {
      auto& s = st.groups[g];
      if (!s.replacement || !live(s))
        continue;
      bool needed = false;
      for (auto& [m, bytes] : s.plan.bytes) {
        auto [configured, ready] = configured_and_ready(st, m);
        needed = needed || ready < configured;
      }
      if (!needed) {
        s.retiring = true;
        logger("controller")->info("group {} retiring: the configured groups serve {} again; it stops once the "
                                   "{} in flight are answered", s.plan.name, models_text(s), in_flight_on(st, g));
      }
    }
    for (std::size_t g = 0; g < st.groups.size(); ++g) {
      auto& s = st.groups[g];
      if (s.retiring && !s.retired && in_flight_on(st, g) == 0)
        retire_now(g, "its last request answered");
    }
  }
  if (place && st.ready && !st.draining)
    replace_lost(self, st.last_cause);
  migration_step(self); // a live migration's next steps (controller_migration.hpp)
}

/// How often the controller probes its remote nodes: a lost one is found within node_timeout plus this.
std::chrono::milliseconds beat_period(const controller_state& st) {
  auto t = st.cfg->runtime.node_timeout;
  return std::max(std::chrono::milliseconds(10), std::min(st.cfg->runtime.heartbeat_interval, t / 4));
}

/// Node `name` is gone (down message, missed heartbeats, left): its groups go down, their replicas are
/// re-placed.
void node_lost(controller_self self, const std::string& name, const std::string& why) {
  auto& st = self->state;
  auto it = st.nodes.find(name);
  if (it == st.nodes.end())
    return;
  auto msg = "node " + name + " " + why;
  logger("controller")->error("{}", msg);
  st.problems.push_back(msg);
  st.lost_nodes[name] = why;
  self->demonitor(it->second.handle.address());
  // A node that is merely slow or cut off for a moment learns it was dropped (its process joins again,
  // apps/node_cmd.cpp); one that is gone never reads this.
  caf::anon_send_exit(it->second.handle, caf::exit_reason::unreachable);
  st.nodes.erase(it); // no stop, metrics or heartbeat requests to a node that is gone
  st.last_seen.erase(name);
  int idx = node_index(st, name);
  for (std::size_t g = 0; g < st.groups.size(); ++g)
    if (group_uses(st.groups[g], idx) && st.groups[g].actor)
      group_down(self, g, "group " + st.groups[g].plan.name + " lost: " + msg, error_code::node_lost);
  on_migration_node_lost(self, idx, msg); // a migration that builds there fails before anything is re-placed
  // Restores under way may not happen now: the replacement groups retiring for them serve on, unless
  // reconcile finds them not needed again.
  for (auto& s : st.groups)
    if (s.replacement && s.retiring && s.actor)
      s.retiring = false;
  reconcile(self, true, "node " + name + " lost");
}

} // namespace

void group_down(controller_self self, std::size_t g, const std::string& why, error_code code) {
  auto& st = self->state;
  auto& slot = st.groups[g];
  ++slot.epoch; // late reports and stage answers of this build are ignored
  slot.ready = false;
  slot.down = why;
  slot.down_code = code;
  for (auto& [addr, r] : st.in_flight)
    if (r.group == g)
      self->send(r.who, outcome_atom_v,
                 request_outcome{{}, request_status::failed, why, {}, {}, {}, 0, {}, code});
  if (slot.actor)
    caf::anon_send(slot.actor, stop_atom_v);
  slot.actor = nullptr;
  for (auto& [m, r] : slot.report.models)
    r = residency::lost;
  for (auto& [m, bytes] : slot.plan.bytes)
    slot.report.models[m] = residency::lost;
  slot.report.queued.clear();
  release_stages(self, g);
}

void group_unhealthy(controller_self self, std::size_t g, const std::string& why) {
  auto& st = self->state;
  logger("controller")->error("{}", why);
  st.problems.push_back(why);
  group_down(self, g, why, error_code::device_error);
  reconcile(self, true, why);
}

void on_build_failed(controller_self self, std::size_t g) {
  if (self->state.groups[g].replacement)
    reconcile(self, false, "");
}

void on_group_ready(controller_self self, std::size_t g) {
  auto& st = self->state;
  auto& slot = st.groups[g];
  if (slot.replacement)
    logger("controller")->warn("group {} ready: {} served again from {} (re-placed after {})", slot.plan.name,
                               models_text(slot), devices_text(*st.cfg, slot.plan.devices), slot.origin);
  reconcile(self, false, "");
}

void on_request_done(controller_self self, std::size_t g) {
  auto& st = self->state;
  if (g < st.groups.size() && st.groups[g].retiring)
    reconcile(self, false, "");
}

void retire_group(controller_self self, std::size_t g, const std::string& why) {
  retire(self, g, why);
}

void replace_lost_now(controller_self self, const std::string& cause) {
  reconcile(self, true, cause);
}

std::size_t requests_on(const controller_state& st, std::size_t g) {
  return in_flight_on(st, g);
}

std::string unavailable_reason(const controller_state& st, const std::string& model) {
  std::string why = "model not placed on a ready group";
  for (auto& s : st.groups) {
    if (s.retired || !s.plan.bytes.count(model))
      continue;
    if (s.leaving && st.migration)
      why += " (group " + s.plan.name + " leaves it: re-placement " + st.migration->id + ")";
    else if (s.migrating && !s.ready && st.migration)
      why += " (re-placement " + st.migration->id + ": group " + s.plan.name + " on "
             + devices_label(*st.cfg, s.plan.devices) + " is loading it)";
    else if (!s.down.empty())
      why += " (" + s.down + ")";
    else if (s.replacement && !s.ready)
      why += " (re-placed after " + s.origin + ": group " + s.plan.name + " on " + devices_text(*st.cfg, s.plan.devices)
             + " is loading it)";
    else if (!s.ready)
      why += " (group " + s.plan.name + " is being built)";
  }
  if (st.migration) // a migration's group not started yet: it waits for devices that a leaving group frees
    for (std::size_t i = 0; i < st.migration->targets.size(); ++i) {
      const auto& t = st.migration->targets[i];
      if (st.migration->target_slot[i] < 0 && t.bytes.count(model))
        why += " (re-placement " + st.migration->id + ": group " + t.name + " on " + devices_label(*st.cfg, t.devices)
               + " loads it once its devices are free)";
    }
  return why;
}

void on_node_down(controller_self self, const caf::down_msg& dm) {
  auto& st = self->state;
  for (auto& [name, n] : st.nodes) {
    if (n.handle.address() != dm.source)
      continue;
    bool left = !dm.reason || dm.reason == caf::exit_reason::user_shutdown;
    auto who = name; // node_lost erases the entry
    node_lost(self, who, left ? "left the cluster" : "lost (" + self->system().render(dm.reason) + ")");
    break;
  }
}

void beat(controller_self self) {
  auto& st = self->state;
  if (st.stopping && st.nodes.empty()) {
    st.beating = false;
    return;
  }
  auto now = self->clock().now();
  const auto timeout = st.cfg->runtime.node_timeout;
  std::vector<std::string> silent;
  for (auto& [name, seen] : st.last_seen)
    if (now - seen > timeout)
      silent.push_back(name);
  for (auto& name : silent)
    node_lost(self, name, "lost: no heartbeat answer for " +
                            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - st.last_seen[name]).count()) +
                            " ms (runtime.node_timeout_ms " + std::to_string(timeout.count()) + ")");
  for (auto& [name, n] : st.nodes) {
    if (!st.last_seen.count(name))
      continue; // local
    auto handle = n.handle;
    auto who = name;
    self->request(handle, timeout, heartbeat_atom_v)
      .then(
        [=](const ack&) {
          auto& s2 = self->state;
          if (auto it = s2.nodes.find(who); it != s2.nodes.end() && it->second.handle == handle)
            s2.last_seen[who] = self->clock().now();
        },
        [](caf::error&) {}); // silence is judged by the next beats
  }
  self->delayed_send(self, beat_period(st), heartbeat_atom_v);
}

namespace {

ack register_node(controller_self self, const node_registration& reg) {
  auto& st = self->state;
  // A refusal is the answer: `switchyard node` prints it and exits, without a `joined` line.
  auto refuse = [&](const std::string& why) {
    logger("controller")->warn("{}", why);
    st.problems.push_back(why);
    return ack{false, why};
  };
  if (!st.cfg->find_node(reg.node))
    return refuse("node " + reg.node + " is not in the controller's config " + st.cfg->source);
  if (st.nodes.count(reg.node))
    return refuse("node " + reg.node + " is already registered");
  if (st.stopping)
    return refuse("node " + reg.node + ": the cluster is stopping");
  self->monitor(reg.handle);
  st.nodes[reg.node] = reg;
  if (reg.handle->node() != self->node())
    st.last_seen[reg.node] = self->clock().now();
  if (!st.beating && !st.last_seen.empty()) {
    st.beating = true;
    self->delayed_send(self, beat_period(st), heartbeat_atom_v);
  }
  if (!st.wiring) {
    logger("controller")->info("node {} registered ({} devices)", reg.node, reg.gpus.size());
    if (st.nodes.size() == st.cfg->nodes.size())
      wire(self);
    return ack{};
  }
  // Rejoin: the configured groups that use its devices are restored (a fresh process: devices that were
  // unhealthy in the old one are not suspect any more).
  st.lost_nodes.erase(reg.node);
  logger("controller")->info("node {} rejoined ({} devices); restoring its groups", reg.node, reg.gpus.size());
  const int idx = node_index(st, reg.node);
  for (auto& s : st.groups)
    if (!s.replacement && !s.actor && s.down_code == error_code::device_error && group_uses(s, idx))
      s.down_code = error_code::node_lost;
  for (auto it = st.suspect_devices.begin(); it != st.suspect_devices.end();)
    it = it->node == idx ? st.suspect_devices.erase(it) : std::next(it);
  reconcile(self, true, "node " + reg.node + " rejoined");
  return ack{};
}

} // namespace

caf::result<ack> on_register(controller_self self, node_registration& reg) {
  auto& st = self->state;
  auto it = st.nodes.find(reg.node);
  if (it == st.nodes.end() || !st.last_seen.count(reg.node) || it->second.handle == reg.handle)
    return register_node(self, reg);
  // A node of that name is registered from another process: a duplicate, or the same node restarted (or
  // rejoining after a cut link) before its old registration was found lost. Ask the old one: if it does not
  // answer within half the node timeout (a new process claiming the name is evidence enough) it is lost, and
  // the new one takes its place.
  auto old = it->second.handle;
  auto p = self->make_response_promise<ack>();
  auto probe = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(10), st.cfg->runtime.node_timeout / 2);
  self->request(old, probe, heartbeat_atom_v)
    .then([=](const ack&) mutable { p.deliver(register_node(self, reg)); }, // refused: already registered
          [=](caf::error& e) mutable {
            auto& s2 = self->state;
            if (auto i = s2.nodes.find(reg.node); i != s2.nodes.end() && i->second.handle == old)
              node_lost(self, reg.node, "lost: a new process registered as node " + reg.node
                                          + " and the old one did not answer (" + self->system().render(e) + ")");
            p.deliver(register_node(self, reg));
          });
  return p;
}

} // namespace sy::actors::internal
