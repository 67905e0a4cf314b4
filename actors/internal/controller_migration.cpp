#include "actors/internal/controller_migration.hpp"

#include <algorithm>

#include "actors/internal/controller_replan.hpp"
#include "actors/internal/migration.hpp"
#include "actors/internal/placement_input.hpp"
#include "gpu/shard.hpp"
#include "messages/json.hpp"
#include "messages/logging.hpp"

namespace sy::actors::internal {

namespace {

using namespace messages;

group_shape shape_of(const planned_group& g) {
  group_shape s;
  s.op = g.op;
  s.pp = g.pp;
  s.devices = g.devices;
  for (const auto& [m, bytes] : g.bytes)
    s.models.insert(m);
  return s;
}

std::string models_of(const planned_group& g) {
  std::string out;
  for (const auto& [m, bytes] : g.bytes)
    out += (out.empty() ? "" : ", ") + m;
  return out;
}

/// Bytes of every shard of `model` cut for (op, pp), summed over the devices: what loading it moves.
std::int64_t total_bytes(const config::model_config& model, int op, int pp) {
  auto layout = gpu::even_layout(model.spec, op, pp);
  if (!layout)
    return 0;
  std::int64_t sum = 0;
  for (int s = 0; s < pp; ++s)
    for (int r = 0; r < op; ++r)
      if (auto plan = gpu::plan_shard(model.spec, *layout, s, r, model.spec.type))
        sum += static_cast<std::int64_t>(plan->bytes);
  return sum;
}

double seconds_since(controller_self self, time_point t) {
  return std::chrono::duration<double>(self->clock().now() - t).count();
}

json::value group_json(const config::cluster_config& cfg, const planned_group& g, const std::string& state) {
  auto o = json::value::make_object();
  o.set("name", g.name).set("tensor", g.op).set("pipeline", g.pp);
  auto devs = json::value::make_array();
  for (const auto& d : g.devices)
    devs.push(devices_label(cfg, {d}));
  o.set("devices", std::move(devs));
  auto ms = json::value::make_array();
  for (int m : g.models)
    ms.push(cfg.models[static_cast<std::size_t>(m)].name);
  o.set("models", std::move(ms));
  if (!state.empty())
    o.set("state", state);
  return o;
}

json::value migration_json(controller_self self, const migration_run& run, const std::string& outcome) {
  const auto& st = self->state;
  auto o = json::value::make_object();
  o.set("id", run.id).set("source", run.source).set("state", outcome);
  o.set("seconds", seconds_since(self, run.started));
  auto targets = json::value::make_array();
  for (std::size_t i = 0; i < run.targets.size(); ++i) {
    std::string state = "pending";
    auto name = run.targets[i].name;
    if (run.target_slot[i] >= 0) {
      const auto& s = st.groups[static_cast<std::size_t>(run.target_slot[i])];
      name = s.plan.name;
      state = !s.down.empty() ? "failed" : s.ready ? "ready" : "loading";
    }
    auto g = group_json(*st.cfg, run.targets[i], state);
    g.set("name", name);
    targets.push(std::move(g));
  }
  o.set("building", std::move(targets));
  auto leaving = json::value::make_array();
  for (auto l : run.leaving) {
    const auto& s = st.groups[l];
    std::string state = s.retired ? (s.stages_stopping > 0 ? "freeing" : "gone") : s.retiring ? "retiring" : "serving";
    leaving.push(group_json(*st.cfg, s.plan, state));
  }
  o.set("leaving", std::move(leaving));
  auto kept = json::value::make_array();
  for (auto k : run.kept)
    kept.push(st.groups[k].plan.name);
  o.set("kept", std::move(kept));
  auto forced = json::value::make_array();
  for (const auto& m : run.forced)
    forced.push(m);
  o.set("refused_meanwhile", std::move(forced));
  if (!run.dropped.empty()) {
    auto dropped = json::value::make_array();
    for (const auto& g : run.dropped)
      dropped.push(g);
    o.set("dropped", std::move(dropped));
  }
  if (!run.failed.empty())
    o.set("reason", run.failed);
  return o;
}

/// The migration ends (done, or failed): logs, metrics, flags.
void finish(controller_self self, const std::string& outcome) {
  auto& st = self->state;
  auto& run = *st.migration;
  const double secs = seconds_since(self, run.started);
  std::string handed_back, loss; // groups it left that were lost meanwhile (given back to the node-loss path)
  st.last_migration_json = json::write(migration_json(self, run, outcome));
  for (auto& s : st.groups)
    s.migrating = false;
  if (outcome == "done") {
    for (auto l : run.leaving) // lost meanwhile (a node loss): gone from the placement, never restored
      if (!st.groups[l].retired)
        retire_group(self, l, "re-placement " + run.id + " left it (" + st.groups[l].down + ")");
    ++st.placement_generation;
    st.converge_seconds.push_back(secs);
    logger("controller")->info("re-placement {} done in {:.3f} s: {} groups built, {} left, {} kept", run.id, secs,
                               run.targets.size(), run.leaving.size(), run.kept.size());
  } else {
    for (auto l : run.leaving) { // groups not gone yet stay and serve (a retiring one takes requests again)
      auto& s = st.groups[l];
      if (!s.retired && s.actor) {
        s.leaving = false;
        s.retiring = false;
      } else if (!s.retired && !s.down.empty()) { // lost meanwhile: the node-loss path's again (re-placed now,
        s.leaving = false;                         // restored when its node rejoins), as if it never left
        handed_back += (handed_back.empty() ? "" : ", ") + s.plan.name;
        loss = loss.empty() ? s.down : loss;
      }
    }
    for (std::size_t i = 0; i < run.targets.size(); ++i) { // built and down: never part of a placement
      if (run.target_slot[i] < 0)
        continue;
      const auto g = static_cast<std::size_t>(run.target_slot[i]);
      if (!st.groups[g].retired && !st.groups[g].actor && !st.groups[g].down.empty())
        retire_group(self, g, "re-placement " + run.id + " failed");
    }
    logger("controller")->error("re-placement {} {} after {:.3f} s: {}; the groups it left that had not stopped "
                                "serve on, those it built and that serve stay", run.id, outcome, secs, run.failed);
    st.problems.push_back("re-placement " + run.id + " failed: " + run.failed);
  }
  const auto id = run.id;
  st.migration.reset();
  if (!handed_back.empty()) { // their replicas count again: re-placed on the devices that serve nothing
    logger("controller")->warn("re-placement {} failed: the lost group(s) {} it left are the placement's again",
                               id, handed_back);
    replace_lost_now(self, loss);
  }
}

} // namespace

std::string device_unavailable(const controller_state& st, config::device_ref d) {
  const auto& node = st.cfg->nodes[static_cast<std::size_t>(d.node)].name;
  if (!st.nodes.count(node)) {
    auto why = st.lost_nodes.find(node);
    return devices_label(*st.cfg, {d}) + ", but node " + node + " is "
           + (why == st.lost_nodes.end() ? std::string{"not registered"} : why->second)
           + ": plan on the devices of the nodes present, or wait until it rejoins";
  }
  const group_slot* failed_on = nullptr; // a group down because a device of it failed
  for (const auto& s : st.groups)
    if (!s.retired && s.down_code == error_code::device_error &&
        std::find(s.plan.devices.begin(), s.plan.devices.end(), d) != s.plan.devices.end())
      failed_on = &s;
  if (st.suspect_devices.count(d) || failed_on)
    return devices_label(*st.cfg, {d}) + ", which failed ("
           + (failed_on ? failed_on->down : std::string{"a group on it went down or could not be built"})
           + "): plan without it, or wait until its node rejoins";
  return {};
}

std::string migration_blocker(const controller_state& st) {
  for (const auto& s : st.groups) {
    if (s.retired)
      continue;
    const std::string what = "group " + s.plan.name + (s.replacement ? " (re-placed after " + s.origin + ")" : "");
    if (!s.down.empty() && !s.actor && s.stages_stopping == 0 && !s.replacement)
      continue; // down for good: a migration drops it
    if (!s.down.empty() || !s.actor || s.stages_stopping > 0 || s.retiring)
      return what + " is " + (!s.down.empty() ? "down (" + s.down + ") and its stages are still stopping"
                              : s.retiring ? "retiring (the configured placement is whole again)" : "stopping")
             + ": try again once it is gone";
    if (!s.ready)
      return what + " is still loading its replicas: try again once it serves";
  }
  return {};
}

std::vector<planned_group> served_groups(const controller_state& st) {
  std::vector<planned_group> out;
  for (const auto& s : st.groups)
    if (s.actor && s.down.empty() && !s.retired && !s.leaving && !s.retiring)
      out.push_back(s.plan);
  return out;
}

placement_answer start_migration(controller_self self, std::vector<planned_group> target, const std::string& source) {
  auto& st = self->state;
  if (st.migration)
    return {placement_outcome::busy, st.migration->id,
            "re-placement " + st.migration->id + " (" + st.migration->source + ") is in progress"};
  if (!st.ready || st.draining || st.stopping)
    return {placement_outcome::unavailable, "", st.ready ? "the cluster is draining" : "the cluster is not ready yet"};
  // Beside a node loss (or a failed device): the groups that serve now, replacement groups included, are the
  // placement migrated from; groups that are down are dropped from it (never restored, also not when their
  // node rejoins); the plan may use only devices of present nodes that did not fail.
  if (auto busy = migration_blocker(st); !busy.empty())
    return {placement_outcome::conflict, "", busy};
  std::vector<std::size_t> current, dropped;
  for (std::size_t g = 0; g < st.groups.size(); ++g) {
    const auto& s = st.groups[g];
    if (s.retired)
      continue;
    if (!s.down.empty() && !s.actor && s.stages_stopping == 0 && !s.replacement)
      dropped.push_back(g);
    else
      current.push_back(g);
  }
  for (const auto& t : target)
    for (const auto& d : t.devices)
      if (auto why = device_unavailable(st, d); !why.empty())
        return {placement_outcome::conflict, "", "group " + t.name + " needs device " + why};
  std::vector<group_shape> cur_shapes, tgt_shapes;
  for (auto g : current)
    cur_shapes.push_back(shape_of(st.groups[g].plan));
  for (const auto& t : target)
    tgt_shapes.push_back(shape_of(t));
  auto diff = diff_placement(cur_shapes, tgt_shapes);
  if (diff.leaving.empty() && diff.building.empty())
    return {placement_outcome::unchanged, "", "the plan is the placement served: nothing to do"};
  migration_run run;
  run.id = "m" + std::to_string(st.next_migration++);
  run.source = source;
  run.started = self->clock().now();
  for (auto g : current) // the placement served, replacements included, is the one migrated from
    if (st.groups[g].replacement) {
      st.groups[g].replacement = false;
      logger("controller")->info("re-placement {}: group {} (re-placed after {}) is part of the placement migrated "
                                 "from", run.id, st.groups[g].plan.name, st.groups[g].origin);
    }
  for (auto g : dropped) {
    run.dropped.push_back(st.groups[g].plan.name);
    if (st.groups[g].down_code == error_code::device_error) // its devices stay unused until their node rejoins
      for (const auto& d : st.groups[g].plan.devices)
        st.suspect_devices.insert(d);
    retire_group(self, g, "re-placement " + run.id + " drops it from the placement (down: " + st.groups[g].down +
                            "); it is not restored when its node rejoins");
  }
  for (auto [c, t] : diff.kept)
    run.kept.push_back(current[c]);
  for (auto c : diff.leaving) {
    run.leaving.push_back(current[c]);
    st.groups[current[c]].leaving = true;
  }
  for (auto t : diff.building) {
    auto g = std::move(target[t]);
    auto taken = [&](const std::string& n) {
      return std::any_of(st.groups.begin(), st.groups.end(), [&](auto& s) { return s.plan.name == n; });
    };
    if (taken(g.name))
      g.name = run.id + "-" + g.name;
    for (int k = 2; taken(g.name); ++k)
      g.name = run.id + "-" + std::to_string(k) + "-" + g.name;
    run.targets.push_back(std::move(g));
    run.target_slot.push_back(-1);
  }
  std::string build, leave;
  for (const auto& g : run.targets)
    build += (build.empty() ? "" : "; ") + g.name + " [" + models_of(g) + "] on " + devices_label(*st.cfg, g.devices);
  for (auto l : run.leaving)
    leave += (leave.empty() ? "" : ", ") + st.groups[l].plan.name;
  logger("controller")->warn("re-placement {} ({}): builds {}; leaving: {}; {} groups kept", run.id, source, build,
                             leave.empty() ? "none" : leave, run.kept.size());
  placement_answer a{placement_outcome::accepted, run.id,
                     std::to_string(run.targets.size()) + " groups to build, " + std::to_string(run.leaving.size())
                       + " to leave, " + std::to_string(run.kept.size()) + " kept"};
  st.migration = std::move(run);
  migration_step(self);
  return a;
}

placement_answer on_placement_post(controller_self self, const std::string& body) {
  auto& st = self->state;
  auto answer = [&]() -> placement_answer {
    if (st.migration) // 409 before parsing: nothing may change during a migration
      return {placement_outcome::busy, st.migration->id,
              "re-placement " + st.migration->id + " (" + st.migration->source + ") is in progress"};
    auto groups = parse_placement(*st.cfg, body, "POST /v2/placement body");
    if (!groups)
      return {placement_outcome::invalid, "", groups.err().message};
    return start_migration(self, std::move(*groups), "POST /v2/placement");
  }();
  const char* outcome = answer.outcome == placement_outcome::accepted ? "applied" : to_string(answer.outcome);
  ++st.replans["manual"][outcome];
  if (answer.outcome != placement_outcome::accepted && answer.outcome != placement_outcome::unchanged)
    logger("controller")->warn("re-placement by POST /v2/placement refused ({}, HTTP {}): {}", outcome,
                               http_status(answer.outcome), answer.reason);
  return answer;
}

placement_status on_placement_query(controller_self self) {
  auto& st = self->state;
  placement_status out;
  out.generation = st.placement_generation;
  auto groups = json::value::make_array();
  for (const auto& s : st.groups) {
    if (s.retired || (!s.actor && s.down.empty()))
      continue;
    std::string state = !s.down.empty() ? "down" : s.leaving ? (s.retiring ? "retiring" : "leaving")
                        : !s.ready ? "loading" : s.replacement ? "replacement" : "serving";
    groups.push(group_json(*st.cfg, s.plan, state));
  }
  out.groups_json = json::write(groups);
  if (st.migration)
    out.migration_json = json::write(migration_json(self, *st.migration, "running"));
  out.last_json = st.last_migration_json;
  out.replan_json = replan_json(self);
  return out;
}

void on_migration_node_lost(controller_self self, int node, const std::string& why) {
  auto& st = self->state;
  if (!st.migration)
    return;
  auto& run = *st.migration;
  std::string hit;
  for (std::size_t i = 0; i < run.targets.size(); ++i) {
    const auto& t = run.targets[i];
    if (std::none_of(t.devices.begin(), t.devices.end(), [&](const auto& d) { return d.node == node; }))
      continue;
    std::string state = "not started";
    if (run.target_slot[i] >= 0)
      state = st.groups[static_cast<std::size_t>(run.target_slot[i])].ready ? "ready" : "loading";
    hit += (hit.empty() ? "" : ", ") + t.name + " on " + devices_label(*st.cfg, t.devices) + " (" + state + ")";
  }
  if (hit.empty()) {
    logger("controller")->warn("re-placement {} goes on after {}: it builds nothing there (groups it leaves there "
                               "are gone, groups it keeps there are re-placed like any lost group)", run.id, why);
    return;
  }
  run.failed = why + " during the migration, which builds group " + hit + " there";
  finish(self, "failed");
}

void migration_step(controller_self self) {
  auto& st = self->state;
  for (int round = 0; round < 8 && st.migration; ++round) { // again while retirements free devices at once
    auto& run = *st.migration;
    migration_view v;
    std::vector<char> in_run(st.groups.size(), 0);
    for (auto k : run.kept)
      in_run[k] = 1;
    for (auto l : run.leaving)
      in_run[l] = 1;
    for (std::size_t i = 0; i < run.targets.size(); ++i) {
      migration_view::target t{shape_of(run.targets[i]), target_phase::pending};
      if (run.target_slot[i] >= 0) {
        const auto idx = static_cast<std::size_t>(run.target_slot[i]);
        const auto& s = st.groups[idx];
        in_run[idx] = 1;
        if (!s.down.empty()) {
          run.failed = "group " + s.plan.name + " could not be built: " + s.down;
          return finish(self, "failed");
        }
        t.phase = s.ready ? target_phase::ready : target_phase::building;
      }
      v.targets.push_back(std::move(t));
    }
    for (auto l : run.leaving) {
      const auto& s = st.groups[l];
      auto phase = s.retired ? (s.stages_stopping > 0 ? leaving_phase::freeing : leaving_phase::gone)
                   : !s.actor ? (s.stages_stopping > 0 ? leaving_phase::freeing : leaving_phase::gone) // went down
                   : s.retiring ? leaving_phase::retiring
                                : leaving_phase::serving;
      v.leaving_groups.push_back({shape_of(s.plan), phase});
    }
    for (auto k : run.kept)
      if (st.groups[k].actor && st.groups[k].ready)
        v.kept.push_back(shape_of(st.groups[k].plan));
      else // down meanwhile: its devices are still not for the migration
        for (const auto& d : st.groups[k].plan.devices)
          v.held_elsewhere.insert(d);
    for (std::size_t g = 0; g < st.groups.size(); ++g)
      if (!in_run[g] && (st.groups[g].actor || st.groups[g].stages_stopping > 0))
        v.held_elsewhere.insert(st.groups[g].plan.devices.begin(), st.groups[g].plan.devices.end());
    auto steps = next_steps(v);
    if (steps.done)
      return finish(self, "done");
    if (steps.blocked && !run.blocked)
      logger("controller")->warn("re-placement {}: a group waits for devices that groups outside the migration "
                                 "hold (a replacement after a node loss?)", run.id);
    run.blocked = steps.blocked;
    bool freed_now = false;
    for (auto i : steps.start) {
      group_slot slot;
      slot.plan = run.targets[i];
      slot.migrating = true;
      st.groups.push_back(std::move(slot));
      const auto g = st.groups.size() - 1;
      run.target_slot[i] = static_cast<std::ptrdiff_t>(g);
      const auto& p = st.groups[g].plan;
      st.migration_models_moved += p.models.size();
      for (int m : p.models)
        st.migration_bytes_loaded += static_cast<std::uint64_t>(total_bytes(st.cfg->models[static_cast<std::size_t>(m)], p.op, p.pp));
      logger("controller")->info("re-placement {}: building group {} (tensor {} x pipeline {}) on {}: loads {}", run.id,
                                 p.name, p.op, p.pp, devices_label(*st.cfg, p.devices), models_of(p));
      wire_group(self, g);
    }
    if (!steps.forced.empty()) {
      std::string list;
      for (const auto& m : steps.forced) {
        list += (list.empty() ? "" : ", ") + m;
        if (std::find(run.forced.begin(), run.forced.end(), m) == run.forced.end())
          run.forced.push_back(m);
      }
      logger("controller")->warn("re-placement {}: the devices force it: {} will be refused until the new replicas "
                                 "are resident", run.id, list);
    }
    for (auto l : steps.retire) {
      const auto g = run.leaving[l];
      auto& s = st.groups[g];
      s.retiring = true;
      const auto n = requests_on(st, g);
      logger("controller")->info("re-placement {}: group {} leaves ({}); it takes no new requests and stops once the "
                                 "{} in flight are answered", run.id, s.plan.name, models_of(s.plan), n);
      if (n == 0) {
        retire_group(self, g, "re-placement " + run.id);
        freed_now = freed_now || st.groups[g].stages_stopping == 0;
      }
    }
    if (!freed_now)
      break;
  }
}

} // namespace sy::actors::internal
