#include "actors/internal/controller_replan.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/send.hpp>

#include "actors/internal/controller_migration.hpp"
#include "actors/internal/placement_input.hpp"
#include "actors/internal/replan.hpp"
#include "messages/json.hpp"
#include "messages/logging.hpp"
#include "sim/deployment_plan.hpp"

namespace sy::actors::internal {

namespace {

using namespace messages;

std::chrono::milliseconds tick_period(const controller_state& st) {
  return std::clamp(st.replan_window / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
}

double seconds(std::chrono::nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

/// The re-plan `seq` ends in `outcome` (once): the counter and GET /v2/placement's "replan".last.
void count(controller_state& st, std::uint64_t seq, const std::string& outcome, const std::string& reason,
           const replan_report* r = nullptr, const std::string& migration = {}) {
  ++st.replans[st.replan_name][outcome];
  auto o = json::value::make_object();
  o.set("seq", static_cast<std::int64_t>(seq)).set("outcome", outcome).set("reason", reason);
  if (r && r->error.empty())
    o.set("served_score", r->served_score).set("candidate_score", r->candidate_score);
  if (r)
    o.set("planning_s", r->planning_s);
  if (!migration.empty())
    o.set("migration", migration);
  if (!st.replan_without.empty() && outcome != "deferred")
    o.set("planned_without", st.replan_without);
  st.last_replan_json = json::write(o);
}

/// The policy asked for a re-plan that cannot run now (why): counted `deferred` once per reason (the policy
/// asks again at every check, and the re-plan starts as soon as the cluster lets it).
void defer(controller_state& st, const std::string& why) {
  if (why == st.replan_deferred)
    return;
  st.replan_deferred = why;
  const auto seq = ++st.replans_started;
  st.replan_without.clear();
  count(st, seq, "deferred", why);
  logger("controller")->warn("re-placement policy {}: re-plan deferred: {}", st.replan_name, why);
}

/// Plug-in faults of the re-placement policy so far (sy_policy_faults_total{kind="replacement"}).
std::uint64_t faults_of(const controller_state& st) {
  if (!st.registry)
    return 0;
  std::uint64_t n = 0;
  const auto prefix = "replacement/" + st.replan_name + "/";
  for (const auto& [key, k] : st.registry->faults()->counts())
    n += key.rfind(prefix, 0) == 0 ? k : 0;
  return n;
}

/// Asks the policy; `fell_back` when its guard let the built-in `none` decide (a plug-in's fault).
policies::replacement_decision ask(controller_state& st, const policies::replacement_view& v, bool& fell_back) {
  const auto before = faults_of(st);
  auto d = st.replan(v);
  fell_back = faults_of(st) != before;
  st.last_replan_reason = d.reason;
  return d;
}

policies::replacement_view view_of(controller_self self) {
  auto& st = self->state;
  policies::replacement_view v;
  const auto now = self->clock().now();
  v.since_replan_s = seconds(now - st.last_replan);
  v.window_s = seconds(st.replan_window);
  v.observed_rps = st.arrivals.rates(now, st.replan_window);
  v.assumed_rps = st.assumed_rps;
  return v;
}

} // namespace

status init_replan(controller_state& st, const config::cluster_config& cfg,
                   std::shared_ptr<const policies::profile_db> profile) {
  const auto& rp = cfg.placement.replan;
  if (rp.name.empty())
    return {};
  const std::string where = (rp.where.empty() ? cfg.source : rp.where) + ": placement.replan";
  auto params = policies::numbers_of(rp.params);
  if (auto w = params.find("window_s"); w != params.end()) {
    st.replan_window = std::chrono::milliseconds(static_cast<std::int64_t>(w->second * 1000));
    params.erase(w);
  } else if (auto i = params.find("interval_s"); i != params.end()) { // default: the window is the interval
    st.replan_window = std::chrono::milliseconds(static_cast<std::int64_t>(i->second * 1000));
  }
  auto fn = st.registry->make_replacement(rp.name, params);
  if (!fn)
    return make_error("config", where + ": " + fn.err().message);
  // The profile: placement.profile when the config names one, else the one the placement was planned with at
  // start (measured on the deployment's devices or read from the profile cache: apps/live_plan.hpp).
  if (!cfg.placement.profile.path.empty()) {
    auto db = sim::load_placement_profile(cfg);
    if (!db)
      return db.err();
    profile = std::make_shared<const policies::profile_db>(std::move(*db));
  }
  if (!profile)
    return make_error("config", where + ": re-placement plans with a profile database: set placement.profile "
                                        "(switchyard profile writes one), or let `up` plan the placement at start");
  st.replan = std::move(*fn);
  st.replan_name = rp.name;
  st.replan_db = std::move(profile);
  st.assumed_rps = rates_of_workload(cfg);
  return {};
}

void start_replan(controller_self self) {
  auto& st = self->state;
  if (!st.replan || st.replan_ticking)
    return;
  st.replan_ticking = true;
  st.last_replan = self->clock().now();
  logger("controller")->info("re-placement policy {} on: window {} ms, checked every {} ms", st.replan_name,
                             st.replan_window.count(), tick_period(st).count());
  self->delayed_send(self, tick_period(st), placement_atom_v, tick_atom_v);
}

void on_replan_tick(controller_self self) {
  auto& st = self->state;
  if (st.stopping || st.draining) {
    st.replan_ticking = false;
    return;
  }
  self->delayed_send(self, tick_period(st), placement_atom_v, tick_atom_v);
  if (!st.ready || st.migration || st.replan_seq != 0)
    return; // one at a time
  const auto busy = migration_blocker(st);
  if (busy.empty()) // settled: a later deferral for the same reason is a new one
    st.replan_deferred.clear();
  auto v = view_of(self);
  bool fell_back = false;
  auto d = ask(st, v, fell_back);
  if (!d.act)
    return; // (a fallback is logged by the guard: its 1st, 10th, 100th, ... fault)
  // Beside a node loss (or a failed device) the candidate is planned on the devices present, so that its
  // migration can start: the re-placement policy keeps adapting the placement to the load while a node is
  // away (a node may stay lost for hours, a failed device until its node restarts; deferring until then
  // would freeze the placement), and the node-loss path's replacement groups become ordinary groups of the
  // new placement. While the node-loss path is still moving (a replacement group loading, a group retiring
  // or stopping) a migration could not start: the re-plan is deferred (outcome `deferred`, with the reason)
  // until it settles, without planning.
  if (!busy.empty())
    return defer(st, "a migration could not start now: " + busy);
  std::set<config::device_ref> excluded;
  std::string without;
  for (std::size_t n = 0; n < st.cfg->nodes.size(); ++n)
    for (std::size_t i = 0; i < st.cfg->nodes[n].devices.size(); ++i) {
      const config::device_ref dev{static_cast<int>(n), static_cast<int>(i)};
      if (auto why = device_unavailable(st, dev); !why.empty()) {
        excluded.insert(dev);
        without += (without.empty() ? "" : "; ") + why.substr(0, why.find(": plan "));
      }
    }
  if (excluded.size() == static_cast<std::size_t>(st.cfg->device_count()))
    return defer(st, "no device is present to plan on: " + without);
  st.replan_deferred.clear();
  st.replan_without = without;
  st.last_replan = self->clock().now();
  const auto seq = ++st.replans_started; // > 0: names this re-plan (and seeds its trace)
  st.replan_seq = seq;
  st.replan_rates = v.observed_rps;
  replan_inputs in;
  in.cfg = st.cfg;
  in.db = st.replan_db;
  in.rates = v.observed_rps;
  in.duration_s = std::max(60.0, v.window_s);
  in.served = served_groups(st);
  in.excluded = std::move(excluded);
  in.seed = seq;
  logger("controller")->info("re-placement policy {}: re-planning ({}){}", st.replan_name, d.reason,
                             without.empty() ? std::string{} : " without " + without);
  auto plan = [in, seq] {
    replan_output out;
    try {
      out = run_replan(in);
    } catch (const std::exception& e) { // the planner must not take the process down
      out.error = std::string{"the planner threw: "} + e.what();
    }
    return replan_report{seq, out.error, out.plan_json, out.served_score, out.candidate_score, out.planning_s};
  };
  // Under CAF's deterministic test scheduler (scheduler.policy "testing": one thread, a virtual clock) a
  // thread of its own would race the scheduler's queue: the planner runs in place there, and its report
  // still arrives as a message, as from the detached actor.
  if (caf::get_or(self->system().config(), "scheduler.policy", caf::atom("stealing")) == caf::atom("testing")) {
    self->send(self, placement_atom_v, plan());
    return;
  }
  auto ctrl = controller_full_actor{self};
  self->system().spawn<caf::detached>([plan, ctrl](caf::blocking_actor* planner) {
    planner->send(ctrl, placement_atom_v, plan());
  });
}

void on_replan_report(controller_self self, const replan_report& r) {
  auto& st = self->state;
  if (r.seq != st.replan_seq)
    return;
  st.replan_seq = 0;
  if (!r.error.empty()) {
    count(st, r.seq, "failed", "the planner failed: " + r.error, &r);
    logger("controller")->error("re-placement policy {}: the planner failed after {:.3f} s: {}", st.replan_name,
                                r.planning_s, r.error);
    return;
  }
  auto v = view_of(self);
  v.observed_rps = st.replan_rates; // the rates the candidate was planned on
  v.has_candidate = true;
  v.served_score = r.served_score;
  v.candidate_score = r.candidate_score;
  bool fell_back = false;
  auto d = ask(st, v, fell_back);
  if (!d.act) {
    count(st, r.seq, "kept", d.reason, &r);
    if (fell_back) { // the plug-in did not answer: the rates are not known to suit the placement served
      logger("controller")->warn("re-placement policy {}: keeps the placement: {} (planned in {:.3f} s)",
                                 st.replan_name, d.reason, r.planning_s);
      return;
    }
    st.assumed_rps = st.replan_rates; // the placement served is right for these rates
    logger("controller")->info("re-placement policy {}: keeps the placement ({}; planned in {:.3f} s)", st.replan_name,
                               d.reason, r.planning_s);
    return;
  }
  auto groups = parse_placement(*st.cfg, r.plan_json, "re-placement policy " + st.replan_name);
  if (!groups) {
    count(st, r.seq, "failed", groups.err().message, &r);
    logger("controller")->error("{}", groups.err().message);
    return;
  }
  auto a = start_migration(self, std::move(*groups), "policy " + st.replan_name + ": " + d.reason);
  switch (a.outcome) {
    case placement_outcome::accepted:
      count(st, r.seq, "applied", d.reason, &r, a.id);
      st.assumed_rps = st.replan_rates;
      break;
    case placement_outcome::unchanged:
      count(st, r.seq, "unchanged", a.reason, &r);
      st.assumed_rps = st.replan_rates;
      break;
    case placement_outcome::busy: count(st, r.seq, "busy", a.reason, &r, a.id); break;
    case placement_outcome::conflict: // a node lost, a device failed or a group lost meanwhile: nothing changed
      count(st, r.seq, "deferred", "the cluster changed while planning: " + a.reason, &r);
      break;
    default: count(st, r.seq, "failed", "the migration could not start: " + a.reason, &r); break;
  }
  logger("controller")->info("re-placement policy {}: candidate {:.3f} vs served {:.3f} (planned in {:.3f} s): {} {}",
                             st.replan_name, r.candidate_score, r.served_score, r.planning_s, to_string(a.outcome),
                             a.reason);
}

} // namespace sy::actors::internal

namespace sy::actors::internal {

std::string replan_json(controller_self self) {
  const auto& st = self->state;
  if (!st.replan)
    return {};
  auto o = json::value::make_object();
  o.set("policy", st.replan_name).set("state", st.replan_seq != 0 ? "planning" : "idle");
  if (st.replan_seq != 0)
    o.set("seq", static_cast<std::int64_t>(st.replan_seq));
  o.set("replans", static_cast<std::int64_t>(st.replans_started));
  if (!st.last_replan_reason.empty())
    o.set("last_word", st.last_replan_reason);
  if (!st.last_replan_json.empty())
    if (auto last = json::parse(st.last_replan_json, 8))
      o.set("last", *last);
  return json::write(o);
}

} // namespace sy::actors::internal
