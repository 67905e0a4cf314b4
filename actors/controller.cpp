// controller actor: one per cluster. Waits for every node to register, builds the groups (spawns a
// model_group per group, asks nodes for its stages), then admits and dispatches requests through the
// admission and dispatch policies over the groups' latest reports. Every accepted request gets a request
// actor (deadline, single answer) that reports back; the controller counts them for drain, stop and metrics.
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/internal/controller_policies.hpp"
#include "actors/internal/controller_state.hpp"
#include "actors/spawn.hpp"
#include "config/cluster_config.hpp"
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

infer_response reject(self_ptr self, const infer_request& req, const std::string& reason) {
  infer_response r;
  r.id = req.id;
  r.status = request_status::rejected;
  r.reason = reason;
  r.timings.arrival = self->clock().now();
  internal::record(self->state, req.model, r.status, reason, 0);
  return r;
}

void wire(self_ptr self) {
  auto& st = self->state;
  st.wiring = true;
  for (std::size_t g = 0; g < st.groups.size(); ++g) {
    auto& slot = st.groups[g];
    const auto& plan = slot.plan;
    model_group_init init;
    init.name = plan.name;
    init.stages = plan.pp;
    init.budget_bytes = plan.budget;
    init.models = plan.bytes;
    init.batching = st.batching;
    init.eviction = st.eviction;
    init.load_pipelining = st.cfg->runtime.load_pipelining;
    for (int m : plan.models)
      init.preload.push_back(st.cfg->models[static_cast<std::size_t>(m)].name);
    init.controller = controller_full_actor{self};
    slot.actor = spawn_model_group(self->system(), std::move(init));
    slot.report.group = plan.name;
    slot.stages.resize(static_cast<std::size_t>(plan.pp));
    slot.stages_pending = plan.pp;
    for (int s = 0; s < plan.pp; ++s) {
      stage_spec spec{plan.name, s, plan.pp, {}, plan.models};
      const auto& first = plan.devices[static_cast<std::size_t>(s * plan.op)];
      for (int r = 0; r < plan.op; ++r)
        spec.devices.push_back(plan.devices[static_cast<std::size_t>(s * plan.op + r)].device);
      auto node = st.nodes[st.cfg->nodes[static_cast<std::size_t>(first.node)].name].handle;
      self->request(node, std::chrono::minutes(5), spawn_stage_atom_v, spec)
        .then(
          [=](stage_actor& stage) {
            auto& sl = self->state.groups[g];
            sl.stages[static_cast<std::size_t>(s)] = stage;
            if (--sl.stages_pending == 0)
              self->send(sl.actor, attach_atom_v, sl.stages);
          },
          [=](caf::error& err) {
            auto msg = "group " + self->state.groups[g].plan.name + " stage " + std::to_string(s) + ": "
                       + self->system().render(err);
            logger("controller")->error("{}", msg);
            self->state.problems.push_back(msg);
          });
    }
  }
}

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

caf::result<infer_response> on_infer(self_ptr self, infer_request& req) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (st.draining)
    return reject(self, req, "draining");
  if (!st.ready)
    return reject(self, req, "not ready");
  const auto* mc = st.cfg->find_model(req.model);
  if (!mc)
    return reject(self, req, "unknown model");
  if (req.tokens.empty() || static_cast<int>(req.tokens.size()) > mc->spec.max_seq)
    return reject(self, req, "expected 1.." + std::to_string(mc->spec.max_seq) + " tokens");
  for (auto t : req.tokens)
    if (t < 0 || t >= mc->spec.vocab)
      return reject(self, req, "token out of range [0, " + std::to_string(mc->spec.vocab) + ")");
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
    if (!slot.ready || !slot.plan.bytes.count(req.model))
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
  if (cands.empty())
    return reject(self, req, "model not placed on a ready group");
  int g = st.dispatch(cands);
  auto cand = *std::find_if(cands.begin(), cands.end(), [&](auto& c) { return c.group == g; });
  auto& slot = st.groups[static_cast<std::size_t>(g)];
  policies::admission_view v{deadline - now, cand.free_in, cand.load, seconds(lookup(slot.report.latency_s, req.model))};
  auto d = st.admission(v);
  if (!d.accept)
    return reject(self, req, d.reason);
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
    if (g.actor && g.plan.bytes.count(cmd.model) && (cmd.group.empty() || cmd.group == g.plan.name))
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
  for (auto& t : targets)
    self->request(t, caf::infinite, atom, cmd.model)
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
  for (auto& g : st.groups) {
    for (auto& [m, q] : g.report.queued)
      snap.queue_depth[g.plan.name + "/" + m] = q;
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
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    for (auto it = st.nodes.begin(); it != st.nodes.end(); ++it) {
      const auto& name = it->first;
      if (it->second.handle.address() != dm.source)
        continue;
      bool left = !dm.reason || dm.reason == caf::exit_reason::user_shutdown;
      auto msg = "node " + name + (left ? " left the cluster" : " lost (" + self->system().render(dm.reason) + ")");
      logger("controller")->error("{}", msg);
      st.problems.push_back(msg);
      int idx = st.cfg->nodes.empty() ? -1 : static_cast<int>(&*st.cfg->find_node(name) - &st.cfg->nodes[0]);
      for (std::size_t g = 0; g < st.groups.size(); ++g) {
        bool uses = false;
        for (auto& d : st.groups[g].plan.devices)
          uses = uses || d.node == idx;
        if (!uses)
          continue;
        st.groups[g].ready = false;
        for (auto& [addr, r] : st.in_flight)
          if (r.group == g)
            self->send(r.who, outcome_atom_v, request_outcome{{}, request_status::failed, msg, {}, {}, {}, 0, {}});
      }
      st.nodes.erase(it); // no stop or metrics requests to a node that is gone
      break;
    }
  });
  return {
    [=](infer_atom, infer_request& req) { return on_infer(self, req); },
    [=](load_atom, model_command& cmd) { return fan_out(self, load_atom_v, cmd); },
    [=](unload_atom, model_command& cmd) { return fan_out(self, unload_atom_v, cmd); },
    [=](list_atom) {
      std::vector<model_info> out;
      for (const auto& mc : self->state.cfg->models) {
        model_info mi{mc.name, {}};
        for (auto& g : self->state.groups)
          if (auto it = g.plan.bytes.find(mc.name); it != g.plan.bytes.end()) {
            auto r = g.report.models.find(mc.name);
            mi.replicas.push_back({g.plan.name, r == g.report.models.end() ? residency::evicted : r->second, it->second});
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
      h.groups = static_cast<std::int32_t>(st.groups.size());
      h.devices = st.cfg->device_count();
      h.in_flight = static_cast<std::int64_t>(st.in_flight.size());
      h.problems = st.problems;
      return h;
    },
    [=](metrics_atom) { return on_metrics(self); },
    [=](policy_atom, const std::string& kind) { return internal::on_policy_query(self, kind); },
    [=](policy_atom, policy_spec& spec) { return internal::on_policy_swap(self, spec); },
    [=](policy_atom, policy_update& u) { return internal::on_policy_update(self, u); },
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
    [=](register_atom, node_registration& reg) {
      auto& st = self->state;
      // Refused registrations end the joining node with the reason (`switchyard node` prints it).
      auto refuse = [&](const std::string& why) {
        logger("controller")->warn("{}", why);
        st.problems.push_back(why);
        self->send_exit(reg.handle, caf::make_error(caf::sec::runtime_error, why));
      };
      if (!st.cfg->find_node(reg.node))
        return refuse("node " + reg.node + " is not in the controller's config " + st.cfg->source);
      if (st.nodes.count(reg.node))
        return refuse("node " + reg.node + " is already registered");
      if (st.wiring)
        return refuse("node " + reg.node + " joined after the cluster was wired; rejoining is not supported "
                      "(restart `switchyard up`)");
      self->monitor(reg.handle);
      st.nodes[reg.node] = reg;
      logger("controller")->info("node {} registered ({} devices)", reg.node, reg.gpus.size());
      if (!st.wiring && st.nodes.size() == st.cfg->nodes.size())
        wire(self);
    },
    [=](done_atom, request_record& rec) {
      auto& st = self->state;
      if (auto it = st.in_flight.find(caf::actor_cast<caf::actor_addr>(self->current_sender())); it != st.in_flight.end()) {
        st.by_seq.erase(it->second.seq);
        st.in_flight.erase(it);
      }
      internal::record(st, rec.model, rec.status, rec.reason, std::chrono::duration<double>(rec.latency).count());
      check_drained(self);
    },
    [=](tick_atom) { on_deadline_tick(self); },
    [=](report_atom, group_report& rep) {
      for (auto& g : self->state.groups)
        if (g.plan.name == rep.group)
          g.report = std::move(rep);
    },
    [=](ready_atom, std::string& group, ack& a) {
      auto& st = self->state;
      bool all = true;
      for (auto& g : st.groups) {
        if (g.plan.name == group)
          g.ready = a.ok;
        all = all && g.ready;
      }
      if (!a.ok)
        st.problems.push_back("group " + group + ": " + a.reason);
      if (all && !st.ready) {
        st.ready = true;
        logger("controller")->info("cluster ready: {} groups", st.groups.size());
      }
    },
  };
}

} // namespace

result<controller_full_actor> spawn_controller(caf::actor_system& sys, std::shared_ptr<const config::cluster_config> cfg) {
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
  auto plan = internal::plan_groups(*cfg);
  if (!plan)
    return plan.err();
  for (auto& g : *plan)
    st.groups.push_back(internal::group_slot{std::move(g), {}, {}, {}, 0, false});
  st.cfg = std::move(cfg);
  return sys.spawn(controller_fn, std::move(st));
}

} // namespace sy::actors
