#pragma once
// A stand-in controller for ingress tests: answers infer with ok (output: one f32 per token, the token
// value), "unknown model" rejected for models other than "echo" and "slow", and holds "slow" requests
// until it gets a ping (release) so that tests can fill the in-flight bound deterministically.
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/controller.hpp"
#include "messages/type_ids.hpp"

namespace sy::test {

struct echo_state {
  std::vector<std::pair<caf::typed_response_promise<messages::infer_response>, messages::infer_request>> held;
  static inline const char* name = "sy.echo_controller";
};

inline messages::infer_response echo_answer(const messages::infer_request& r) {
  messages::infer_response out;
  out.id = r.id;
  out.status = messages::request_status::ok;
  std::vector<float> v(r.tokens.begin(), r.tokens.end());
  out.output = messages::tensor::from_f32(v.data(), {static_cast<std::int64_t>(v.size())});
  out.timings.arrival = std::chrono::steady_clock::now();
  out.timings.dispatch = out.timings.start = out.timings.finish = out.timings.arrival;
  out.timings.group = "g0";
  out.timings.batch_size = 1;
  return out;
}

inline messages::controller_actor::behavior_type
echo_controller(messages::controller_actor::stateful_pointer<echo_state> self) {
  using namespace messages;
  return {
    [=](infer_atom, infer_request& r) -> caf::result<infer_response> {
      if (r.model == "slow") {
        auto rp = self->make_response_promise<infer_response>();
        self->state.held.emplace_back(rp, std::move(r));
        return rp;
      }
      if (r.model != "echo") {
        infer_response out;
        out.id = r.id;
        out.status = request_status::rejected;
        out.reason = "unknown model '" + r.model + "'";
        return out;
      }
      return echo_answer(r);
    },
    [=](load_atom, model_command&) -> ack { return {}; },
    [=](unload_atom, model_command&) -> ack { return {}; },
    [=](list_atom) -> std::vector<model_info> {
      return {model_info{"echo", {replica_info{"g0", residency::resident, 4}}}};
    },
    [=](health_atom) -> health_report {
      // The held (slow) requests count as in flight; releasing them is what `drain` does here.
      health_report h;
      h.ready = true;
      h.in_flight = static_cast<std::int64_t>(self->state.held.size());
      return h;
    },
    [=](metrics_atom) -> metrics_snapshot { return {}; },
    [=](drain_atom) -> ack {
      for (auto& [rp, r] : self->state.held)
        rp.deliver(echo_answer(r));
      self->state.held.clear();
      return {};
    },
    [=](stop_atom) -> ack { return {}; },
  };
}

} // namespace sy::test
