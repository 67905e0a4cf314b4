// controller actor: one per cluster. Waits for every node to register, builds the groups (spawns a
// model_group per group, asks nodes for its stages), then admits and dispatches requests through the
// admission and dispatch policies over the groups' latest reports. Every accepted request gets a request
// actor (deadline, single answer) that reports back; the controller counts them for drain, stop and metrics.
#include <algorithm>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/internal/controller_migration.hpp"
#include "actors/internal/controller_nodes.hpp"
#include "actors/internal/controller_replan.hpp"
#include "actors/internal/controller_generate.hpp"
#include "actors/internal/controller_policies.hpp"
#include "actors/internal/controller_state.hpp"
#include "actors/spawn.hpp"
#include "config/cluster_config.hpp"
#include "gpu/engine.hpp"
#include "messages/logging.hpp"

namespace sy::actors {

namespace {

using namespace messages;
using internal::controller_state;

using self_ptr = controller_full_actor::stateful_pointer<controller_state>;

void check_drained(self_ptr self);

/// Deadline granularity of the controller's request timer.
constexpr auto deadline_tick = std::chrono::milliseconds(1);

/// Drops the entries of answered requests from the top, then makes sure a tick comes by the earliest live
/// deadline (no sooner than deadline_tick from now). With one SLO, deadlines come in order and a request
/// answered before its deadline costs no timer event at all.
void arm_deadlines(self_ptr self) {
  auto& st = self->state;
  while (!st.deadlines.empty() && st.by_seq.count(st.deadlines.top().seq) == 0)
    st.deadlines.pop();
  if (st.deadlines.empty())
    return;
  auto now = self->clock().now();
  auto at = std::max(st.deadlines.top().at, now + deadline_tick);
  if (at >= st.tick_at)
    return;
  st.tick_at = at;
  self->delayed_send(self, at - now, tick_atom_v);
}

/// The tick: every request whose deadline passed gets timeout_atom (it answers deadline_exceeded unless its
/// outcome came first); entries of requests already answered are dropped.
void on_deadline_tick(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (st.tick_at <= now)
    st.tick_at = time_point::max();
  while (!st.deadlines.empty() && st.deadlines.top().at <= now) {
    if (auto s = st.by_seq.find(st.deadlines.top().seq); s != st.by_seq.end())
      if (auto it = st.in_flight.find(s->second); it != st.in_flight.end())
        self->send(it->second.who, timeout_atom_v);
    st.deadlines.pop();
  }
  arm_deadlines(self);
}

infer_response reject(self_ptr self, const infer_request& req, const std::string& reason, error_code code) {
  infer_response r;
  r.id = req.id;
  r.status = request_status::rejected;
  r.reason = reason;
  r.code = code;
  r.timings.arrival = self->clock().now();
  internal::record(self->state, req.model, r.status, reason, 0);
  return r;
}

} // namespace

// The group builds, also called by the node-loss path (internal/controller_nodes.hpp).
void internal::wire_group(internal::controller_self self, std::size_t g) {
  auto& st = self->state;
  auto& slot = st.groups[g];
  const auto& plan = slot.plan;
  const auto epoch = ++slot.epoch;
  model_group_init init;
  init.name = plan.name;
  init.stages = plan.pp;
  init.budget_bytes = plan.budget;
  init.models = plan.bytes;
  init.batching = st.batching;
  init.eviction = st.eviction;
  init.load_pipelining = st.cfg->runtime.load_pipelining;
  internal::add_generation_init(st, plan, init); // issue 10: the decoders it hosts generate
  for (int m : plan.models)
    init.preload.push_back(st.cfg->models[static_cast<std::size_t>(m)].name);
  init.controller = controller_full_actor{self};
  slot.actor = spawn_model_group(self->system(), std::move(init));
  slot.report = group_report{};
  slot.report.group = plan.name;
  slot.ready = false;
  slot.down.clear();
  slot.stages.assign(static_cast<std::size_t>(plan.pp), stage_actor{});
  slot.stages_pending = plan.pp;
  for (int s = 0; s < plan.pp; ++s) {
    stage_spec spec{plan.name, s, plan.pp, {}, plan.models};
    const auto& first = plan.devices[static_cast<std::size_t>(s * plan.op)];
    for (int r = 0; r < plan.op; ++r)
      spec.devices.push_back(plan.devices[static_cast<std::size_t>(s * plan.op + r)].device);
    const auto& node_name = st.cfg->nodes[static_cast<std::size_t>(first.node)].name;
    auto node = st.nodes.find(node_name);
    if (node == st.nodes.end()) {
      slot.down = "node " + node_name + " is not present";
      return;
    }
    self->request(node->second.handle, std::chrono::minutes(5), spawn_stage_atom_v, spec)
      .then(
        [=](stage_actor& stage) {
          auto& sl = self->state.groups[g];
          if (sl.epoch != epoch) { // this build was given up (a node lost meanwhile)
            caf::anon_send(stage, stop_atom_v);
            return;
          }
          sl.stages[static_cast<std::size_t>(s)] = stage;
          if (--sl.stages_pending == 0)
            self->send(sl.actor, attach_atom_v, sl.stages);
        },
        [=](caf::error& err) {
          auto& sl = self->state.groups[g];
          auto msg = "group " + sl.plan.name + " stage " + std::to_string(s) + ": " + self->system().render(err);
          logger("controller")->error("{}", msg);
          self->state.problems.push_back(msg);
          if (sl.epoch == epoch && sl.down.empty()) {
            sl.down = msg;
            internal::on_build_failed(self, g);
          }
        });
  }
}

void internal::wire(internal::controller_self self) {
  auto& st = self->state;
  st.wiring = true;
  for (std::size_t g = 0; g < st.groups.size(); ++g)
    wire_group(self, g);
}

namespace {

void check_drained(self_ptr self) {
  auto& st = self->state;
  if (!st.in_flight.empty())
    return;
  for (auto& p : std::exchange(st.drain_waiters, {}))
    p.deliver(ack{});
  if (!st.stopping || st.stop_waiters.empty())
    return;
  for (auto& g : st.groups)
    if (g.actor)
      caf::anon_send(g.actor, stop_atom_v);
  auto remaining = std::make_shared<std::size_t>(st.nodes.size());
  auto finish = [self] {
    for (auto& p : std::exchange(self->state.stop_waiters, {}))
      p.deliver(ack{});
    self->quit();
  };
  if (*remaining == 0)
    return finish();
  for (auto& [name, n] : st.nodes)
    self->request(n.handle, std::chrono::seconds(10), stop_atom_v)
      .then([=](const ack&) { if (--*remaining == 0) finish(); },
            [=](caf::error&) { if (--*remaining == 0) finish(); });
}

/// The residency policy of a refused request (see on_infer): start the load of a model that is not
/// resident when admission refuses a request because of it.
constexpr bool load_on_reject = true;

constexpr auto fan_out_timeout = std::chrono::minutes(2);

caf::result<infer_response> on_infer(self_ptr self, infer_request& req) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (st.draining)
    return reject(self, req, "draining", error_code::draining);
  if (!st.ready)
    return reject(self, req, "not ready", error_code::overload);
  const auto* mc = st.cfg->find_model(req.model);
  if (!mc)
    return reject(self, req, "unknown model", error_code::unknown_model);
  st.arrivals.record(req.model, now); // the re-placement policies' statistics (issue 11 §2)
  if (req.tokens.empty() || static_cast<int>(req.tokens.size()) > mc->spec.max_seq)
    return reject(self, req, "expected 1.." + std::to_string(mc->spec.max_seq) + " tokens", error_code::invalid_request);
  for (auto t : req.tokens)
    if (t < 0 || t >= mc->spec.vocab)
      return reject(self, req, "token out of range [0, " + std::to_string(mc->spec.vocab) + ")",
                    error_code::invalid_request);
  { // the output kind: the request's, else the model's; resolved here so a batch holds one kind
    const std::string& asked = req.output.empty() ? mc->output : req.output;
    auto kind = asked.empty() ? result<gpu::output_kind>{gpu::default_output(mc->spec)} : gpu::parse_output_kind(asked);
    if (!kind)
      return reject(self, req, "output '" + asked + "': expected one of logits_last, logits_all, pooler, cls, mean, "
                                                    "mean_normalized, hidden", error_code::invalid_request);
    if (auto ok = gpu::check_output_kind(mc->spec, *kind); !ok)
      return reject(self, req, ok.err().message, error_code::invalid_request);
    req.output = std::string{gpu::to_string(*kind)};
  }
  std::chrono::nanoseconds slo = req.slo ? std::chrono::nanoseconds{*req.slo}
                                         : mc->slo ? std::chrono::nanoseconds{*mc->slo}
                                                   : std::chrono::nanoseconds{st.cfg->runtime.request_timeout};
  auto deadline = now + slo;
  std::vector<policies::dispatch_candidate> cands;
  auto seconds = [](double s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
  };
  auto lookup = [](const std::map<std::string, double>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? 0.0 : it->second;
  };
  for (std::size_t g = 0; g < st.groups.size(); ++g) {
    const auto& slot = st.groups[g];
    if (!slot.ready || !slot.actor || slot.retiring || !slot.plan.bytes.count(req.model))
      continue;
    const auto& rep = slot.report;
    double wait = 0;
    for (auto& [m, q] : rep.queued)
      wait += static_cast<double>(q) * lookup(rep.latency_s, m);
    wait /= std::max(1, slot.plan.pp);
    auto res = rep.models.find(req.model);
    bool resident = res != rep.models.end() && res->second == residency::resident;
    policies::dispatch_candidate c;
    c.group = static_cast<int>(g);
    c.free_in = seconds(wait);
    c.load = resident ? std::chrono::nanoseconds{0} : seconds(lookup(rep.load_s, req.model));
    auto q = rep.queued.find(req.model);
    c.queued = q == rep.queued.end() ? 0 : q->second;
    cands.push_back(c);
  }
  if (cands.empty()) {
    // refused before it started: rejected (503), with why (a lost group, a re-placement loading)
    return reject(self, req, internal::unavailable_reason(st, req.model), error_code::not_resident);
  }
  int g = st.dispatch(cands);
  auto chosen = std::find_if(cands.begin(), cands.end(), [&](auto& c) { return c.group == g; });
  if (chosen == cands.end()) { // a (plug-in) dispatch policy named a group that is not a candidate
    logger("controller")->warn("dispatch policy chose group {}, not one of the {} candidates; using the first",
                               g, cands.size());
    chosen = cands.begin();
    g = chosen->group;
  }
  auto cand = *chosen;
  auto& slot = st.groups[static_cast<std::size_t>(g)];
  policies::admission_view v{deadline - now, cand.free_in, cand.load, seconds(lookup(slot.report.latency_s, req.model))};
  auto d = st.admission(v);
  if (!d.accept) {
    // Load on demand: a model that is not resident is refused while its load would miss the deadline, but
    // the refusal starts the load, so that the requests after it find the model resident (or loading) and
    // are admitted; without it a swapped-out model would stay refused for ever.
    if (load_on_reject && cand.load.count() > 0 && slot.actor) {
      auto res = slot.report.models.find(req.model);
      if (res == slot.report.models.end() || res->second == residency::evicted) {
        slot.report.models[req.model] = residency::loading; // one load per burst of refusals
        self->request(slot.actor, fan_out_timeout, load_atom_v, req.model)
          .then([](const ack&) {}, [](caf::error&) {}); // the group's reports show the outcome
      }
    }
    return reject(self, req, d.reason, error_code::overload);
  }
  request_init init{req.model, now, now, deadline, slot.plan.name, slot.actor, controller_full_actor{self}, false};
  auto who = spawn_request(self->system(), std::move(init));
  auto seq = st.next_seq++;
  st.in_flight[who.address()] = {req.model, static_cast<std::size_t>(g), who, seq};
  st.by_seq.emplace(seq, who.address());
  st.deadlines.push({deadline, seq});
  arm_deadlines(self);
  ++slot.report.queued[req.model];
  return self->delegate(who, infer_atom_v, std::move(req));
}

/// Sends `cmd` (load or unload) to every group hosting the model and combines the answers.
template <class Atom>
caf::result<ack> fan_out(self_ptr self, Atom atom, const model_command& cmd) {
  auto& st = self->state;
  std::vector<model_group_actor> targets;
  for (auto& g : st.groups)
    if (g.actor && g.down.empty() && g.plan.bytes.count(cmd.model) && (cmd.group.empty() || cmd.group == g.plan.name))
      targets.push_back(g.actor);
  if (!st.cfg->find_model(cmd.model))
    return ack{false, "unknown model " + cmd.model};
  if (targets.empty())
    return ack{false, "no group hosts " + cmd.model + (cmd.group.empty() ? "" : " as " + cmd.group)};
  struct acc {
    std::size_t remaining;
    ack result;
  };
  auto state = std::make_shared<acc>(acc{targets.size(), {}});
  auto promise = self->make_response_promise<ack>();
  auto one = [=](ack a) mutable {
    if (!a.ok && state->result.ok)
      state->result = a;
    if (--state->remaining == 0)
      promise.deliver(state->result);
  };
  // finite: a load of a large model takes a while, but a group that never answers must not hold the
  // client forever
  for (auto& t : targets)
    self->request(t, fan_out_timeout, atom, cmd.model)
      .then([=](ack& a) mutable { one(a); },
            [=](caf::error& e) mutable { one(ack{false, self->system().render(e)}); });
  return promise;
}

caf::result<metrics_snapshot> on_metrics(self_ptr self) {
  auto& st = self->state;
  metrics_snapshot snap;
  snap.requests = st.counts;
  snap.latency = st.latency;
  snap.rejected_by_reason = st.rejected_by_reason;
  snap.in_flight = static_cast<std::int64_t>(st.in_flight.size());
  snap.policy_faults = st.registry->faults()->counts();
  snap.replacements = st.replacements;
  snap.models_moved = st.models_moved;
  internal::add_placement_metrics(st, snap); // issue 11 §2: re-placements while serving
  for (auto& g : st.groups) {
    if (g.retired)
      continue;
    for (auto& [m, q] : g.report.queued)
      snap.queue_depth[g.plan.name + "/" + m] = q;
    internal::add_generation_metrics(g.plan.name, g.report, snap); // issue 10
    auto& res = snap.resident[g.plan.name];
    for (auto& [m, r] : g.report.models)
      if (r == residency::resident)
        res.push_back(m);
  }
  std::vector<std::pair<std::string, gpu_actor>> gpus;
  for (auto& [name, n] : st.nodes) {
    const auto* nc = st.cfg->find_node(name);
    for (std::size_t i = 0; i < n.gpus.size(); ++i)
      gpus.emplace_back(name + "/" + std::to_string(nc ? nc->devices[i].ordinal : static_cast<int>(i)), n.gpus[i]);
  }
  if (gpus.empty())
    return snap;
  auto shared = std::make_shared<metrics_snapshot>(std::move(snap));
  auto remaining = std::make_shared<std::size_t>(gpus.size());
  auto promise = self->make_response_promise<metrics_snapshot>();
  for (auto& [name, gpu] : gpus) {
    auto key = name;
    self->request(gpu, std::chrono::seconds(5), status_atom_v)
      .then(
        [=](swap_stats& s) mutable {
          shared->swaps[key] = s;
          if (--*remaining == 0)
            promise.deliver(*shared);
        },
        [=](caf::error&) mutable {
          if (--*remaining == 0)
            promise.deliver(*shared);
        });
  }
  return promise;
}

controller_full_actor::behavior_type controller_fn(self_ptr self, controller_state init) {
  self->state = std::move(init);
  internal::start_policy_actors(self);
  self->set_down_handler([=](caf::down_msg& dm) { internal::on_node_down(self, dm); });
  return {
    [=](infer_atom, infer_request& req) { return on_infer(self, req); },
    [=](generate_atom, generate_request& req) { return internal::on_generate(self, req); },
    [=](load_atom, model_command& cmd) { return fan_out(self, load_atom_v, cmd); },
    [=](unload_atom, model_command& cmd) { return fan_out(self, unload_atom_v, cmd); },
    [=](list_atom) {
      std::vector<model_info> out;
      for (const auto& mc : self->state.cfg->models) {
        model_info mi{mc.name, {}};
        for (auto& g : self->state.groups)
          if (auto it = g.plan.bytes.find(mc.name); it != g.plan.bytes.end() && !g.retired) {
            auto r = g.report.models.find(mc.name);
            auto state = !g.down.empty() ? residency::lost
                                          : r == g.report.models.end() ? residency::evicted : r->second;
            mi.replicas.push_back({g.plan.name, state, it->second});
          }
        out.push_back(std::move(mi));
      }
      return out;
    },
    [=](health_atom) {
      auto& st = self->state;
      health_report h;
      h.ready = st.ready;
      h.draining = st.draining;
      h.nodes = static_cast<std::int32_t>(st.nodes.size());
      h.nodes_expected = static_cast<std::int32_t>(st.cfg->nodes.size());
      h.groups = static_cast<std::int32_t>(
        std::count_if(st.groups.begin(), st.groups.end(), [](auto& g) { return !g.retired; }));
      h.devices = st.cfg->device_count();
      h.in_flight = static_cast<std::int64_t>(st.in_flight.size());
      h.problems = st.problems;
      for (auto& nc : st.cfg->nodes)
        if (!st.nodes.count(nc.name)) {
          auto lost = st.lost_nodes.find(nc.name);
          h.missing.push_back("node " + nc.name + " (" + (lost != st.lost_nodes.end() ? lost->second : "not registered")
                              + ")");
        }
      for (auto& g : st.groups)
        if (g.retired)
          continue;
        else if (!g.down.empty())
          h.missing.push_back("group " + g.plan.name + " (" + g.down + ")");
        else if (st.ready && !g.ready && !g.migrating) // (a migration's new group loading is not missing)
          h.missing.push_back("group " + g.plan.name + " (not ready)");
      h.ready = st.ready && h.missing.empty();
      return h;
    },
    [=](metrics_atom) { return on_metrics(self); },
    [=](policy_atom, const std::string& kind) { return internal::on_policy_query(self, kind); },
    [=](policy_atom, policy_spec& spec) { return internal::on_policy_swap(self, spec); },
    [=](policy_atom, policy_update& u) { return internal::on_policy_update(self, u); },
    [=](placement_atom) { return internal::on_placement_query(self); },
    [=](placement_atom, std::string& body) { return internal::on_placement_post(self, body); },
    [=](drain_atom) -> caf::result<ack> {
      self->state.draining = true;
      auto p = self->make_response_promise<ack>();
      self->state.drain_waiters.push_back(p);
      check_drained(self);
      return p;
    },
    [=](stop_atom) -> caf::result<ack> {
      self->state.draining = true;
      self->state.stopping = true;
      auto p = self->make_response_promise<ack>();
      self->state.stop_waiters.push_back(p);
      check_drained(self);
      return p;
    },
    [=](register_atom, node_registration& reg) { return internal::on_register(self, reg); },
    [=](heartbeat_atom) { internal::beat(self); },
    [=](done_atom, request_record& rec) {
      auto& st = self->state;
      std::optional<std::size_t> group;
      if (auto it = st.in_flight.find(caf::actor_cast<caf::actor_addr>(self->current_sender())); it != st.in_flight.end()) {
        group = it->second.group;
        st.by_seq.erase(it->second.seq);
        st.in_flight.erase(it);
      }
      internal::record(st, rec.model, rec.status, rec.reason, std::chrono::duration<double>(rec.latency).count());
      if (group)
        internal::on_request_done(self, *group);
      check_drained(self);
    },
    [=](tick_atom) { on_deadline_tick(self); },
    [=](placement_atom, tick_atom) { internal::on_replan_tick(self); },
    [=](placement_atom, replan_report& r) { internal::on_replan_report(self, r); },
    [=](report_atom, group_report& rep) {
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      for (std::size_t g = 0; g < st.groups.size(); ++g) {
        auto& slot = st.groups[g];
        if (slot.plan.name != rep.group || !slot.actor || slot.actor.address() != sender)
          continue; // a group actor that was replaced or stopped
        if (!rep.unhealthy.empty()) { // a device failed: like a lost node for this group
          internal::group_unhealthy(self, g, "group " + rep.group + " unhealthy: " + rep.unhealthy);
          return;
        }
        slot.report = std::move(rep);
      }
    },
    [=](ready_atom, std::string& group, ack& a) {
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      bool all = true;
      std::optional<std::size_t> now_ready;
      for (std::size_t i = 0; i < st.groups.size(); ++i) {
        auto& g = st.groups[i];
        if (g.plan.name == group && g.actor && g.actor.address() == sender) {
          g.ready = a.ok;
          if (a.ok && st.ready && !g.replacement && !g.migrating)
            logger("controller")->info("group {} ready again", group);
          if (a.ok && st.ready)
            now_ready = i;
        }
        all = all && (g.ready || g.replacement);
      }
      if (!a.ok) {
        st.problems.push_back("group " + group + ": " + a.reason);
        for (auto& g : st.groups) // a migration's new group that could not preload: the migration fails
          if (g.plan.name == group && g.migrating && g.actor && g.actor.address() == sender && g.down.empty())
            g.down = "preload failed: " + a.reason;
      }
      if (all && !st.ready) {
        st.ready = true;
        logger("controller")->info("cluster ready: {} groups", st.groups.size());
        internal::start_replan(self); // issue 11 §2: the re-placement policy's timer
      }
      if (now_ready)
        internal::on_group_ready(self, *now_ready);
    },
  };
}

} // namespace

result<controller_full_actor> spawn_controller(caf::actor_system& sys, std::shared_ptr<const config::cluster_config> cfg,
                                               std::shared_ptr<const policies::profile_db> profile) {
  controller_state st;
  auto reg = policies::load_policy_registry(*cfg); // the config's plug-ins; checks every policy and parameter
  if (!reg)
    return make_error("cluster", reg.err().message);
  auto set = policies::make_policy_set(**reg, *cfg);
  if (!set)
    return make_error("cluster", set.err().message);
  st.admission = std::move(set->admission);
  st.dispatch = std::move(set->dispatch);
  st.batching = std::move(set->batching);
  st.eviction = std::move(set->eviction);
  st.registry = std::move(*reg);
  if (auto ok = internal::init_replan(st, *cfg, std::move(profile)); !ok) // placement.replan (issue 11 §2)
    return ok.err();
  auto plan = internal::plan_groups(*cfg);
  if (!plan)
    return plan.err();
  for (auto& g : *plan) {
    internal::group_slot slot;
    slot.plan = std::move(g);
    st.groups.push_back(std::move(slot));
  }
  st.cfg = std::move(cfg);
  return sys.spawn(controller_fn, std::move(st));
}

} // namespace sy::actors
