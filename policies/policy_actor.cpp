#include "policies/policy_actor.hpp"

#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/logging.hpp"

namespace sy::policies {

namespace {

using namespace messages;

struct policy_actor_state {
  std::string kind;
  std::shared_ptr<const policy_registry> registry;
  policy_spec current;
  policy_sink_actor sink;
  static inline const char* name = "sy.policy_actor";
};

using self_ptr = policy_actor::stateful_pointer<policy_actor_state>;

policy_info info(const policy_actor_state& st, std::string refused = {}) {
  policy_info out;
  out.ok = refused.empty();
  out.reason = std::move(refused);
  out.current = st.current;
  out.origin = st.registry->origin(st.kind, st.current.name);
  out.available = st.registry->names(st.kind);
  return out;
}

policy_actor::behavior_type policy_fn(self_ptr self, std::string kind, std::shared_ptr<const policy_registry> reg,
                                      policy_spec current, policy_sink_actor sink) {
  auto& st = self->state;
  st.kind = std::move(kind);
  st.registry = std::move(reg);
  st.current = std::move(current);
  st.current.kind = st.kind;
  st.sink = std::move(sink);
  return {
    [=](policy_atom, const std::string&) { return info(self->state); },
    [=](policy_atom, policy_spec& spec) -> caf::result<policy_info> {
      auto& st = self->state;
      if (spec.kind != st.kind)
        return info(st, "this is the " + st.kind + " policy actor, found kind \"" + spec.kind + "\"");
      auto fn = st.registry->make(spec.kind, spec.name, spec.params);
      if (!fn)
        return info(st, fn.err().message);
      auto rp = self->make_response_promise<policy_info>();
      self->request(st.sink, std::chrono::seconds(30), policy_atom_v, policy_update{st.kind, spec.name, std::make_shared<const runtime_policy>(std::move(*fn))})
        .then(
          [=](ack& a) mutable {
            auto& st = self->state;
            if (!a.ok) {
              rp.deliver(info(st, a.reason));
              return;
            }
            st.current = spec;
            logger("policies")->info("{} policy swapped to \"{}\" ({})", st.kind, spec.name,
                                     st.registry->origin(st.kind, spec.name));
            rp.deliver(info(st));
          },
          [=](caf::error& e) mutable { rp.deliver(info(self->state, "the controller did not take it: " + self->system().render(e))); });
      return rp;
    },
  };
}

} // namespace

policy_actor spawn_policy_actor(caf::actor_system& sys, std::string kind, std::shared_ptr<const policy_registry> registry,
                                policy_spec current, policy_sink_actor sink) {
  return sys.spawn(policy_fn, std::move(kind), std::move(registry), std::move(current), std::move(sink));
}

} // namespace sy::policies
