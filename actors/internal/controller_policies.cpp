#include "actors/internal/controller_policies.hpp"

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "config/cluster_config.hpp"
#include "messages/logging.hpp"
#include "policies/policy_actor.hpp"

namespace sy::actors::internal {

namespace {

using namespace messages;

policy_info unknown_kind(const std::string& kind) {
  policy_info out;
  out.ok = false;
  out.reason = "expected a policy kind (admission, dispatch, batching, eviction), found \"" + kind + "\"";
  out.current.kind = kind;
  return out;
}

template <class Fn>
bool take(const policy_update& u, Fn& into) {
  auto* f = u.policy ? std::get_if<Fn>(&u.policy->fn) : nullptr;
  if (!f || !*f)
    return false;
  into = *f;
  return true;
}

} // namespace

void start_policy_actors(controller_self self) {
  auto& st = self->state;
  const auto& p = st.cfg->policies;
  const std::pair<const char*, const config::policy_config*> kinds[] = {
    {"admission", &p.admission}, {"dispatch", &p.dispatch}, {"batching", &p.batching}, {"eviction", &p.eviction}};
  std::vector<policy_actor> all;
  for (const auto& [kind, pc] : kinds) {
    policy_spec spec{kind, pc->name, policies::numbers_of(pc->params)};
    auto a = policies::spawn_policy_actor(self->system(), kind, st.registry, std::move(spec), policy_sink_actor{self});
    st.policy_actors[kind] = a;
    all.push_back(a);
  }
  self->attach_functor([all] {
    for (const auto& a : all)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  });
}

caf::result<policy_info> on_policy_query(controller_self self, const std::string& kind) {
  auto it = self->state.policy_actors.find(kind);
  if (it == self->state.policy_actors.end())
    return unknown_kind(kind);
  return self->delegate(it->second, policy_atom_v, kind);
}

caf::result<policy_info> on_policy_swap(controller_self self, policy_spec& spec) {
  auto it = self->state.policy_actors.find(spec.kind);
  if (it == self->state.policy_actors.end())
    return unknown_kind(spec.kind);
  return self->delegate(it->second, policy_atom_v, std::move(spec));
}

ack on_policy_update(controller_self self, policy_update& u) {
  auto& st = self->state;
  bool ok = false;
  bool groups = false;
  if (u.kind == "admission")
    ok = take(u, st.admission);
  else if (u.kind == "dispatch")
    ok = take(u, st.dispatch);
  else if (u.kind == "batching")
    ok = groups = take(u, st.batching);
  else if (u.kind == "eviction")
    ok = groups = take(u, st.eviction);
  if (!ok)
    return ack{false, "the update for kind \"" + u.kind + "\" carries no " + u.kind + " policy"};
  if (groups) // the groups decide batching and eviction; groups spawned later get st.batching / st.eviction
    for (auto& g : st.groups)
      if (g.actor)
        self->send(g.actor, policy_atom_v, u);
  logger("controller")->info("{} policy is now \"{}\"", u.kind, u.name);
  return ack{};
}

} // namespace sy::actors::internal
