// request actor: one per accepted request. Holds the response promise of the (delegated) infer, the
// deadline timer and the single terminal answer; reports the outcome to the controller, then quits.
//
//   spawned --infer--> waiting --outcome--> answered (quit)
//                         └------timeout---> answered: deadline_exceeded, cancel at the group (quit)
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/spawn.hpp"

namespace sy::actors {

namespace {

using namespace messages;

struct request_state {
  request_init init;
  infer_request request;
  caf::typed_response_promise<infer_response> promise;
  bool answered = false;
};

using self_ptr = request_actor::stateful_pointer<request_state>;

void answer(self_ptr self, infer_response resp) {
  auto& st = self->state;
  if (st.answered)
    return;
  st.answered = true;
  resp.id = st.request.id;
  resp.timings.arrival = st.init.arrival;
  resp.timings.dispatch = st.init.dispatch;
  resp.timings.group = st.init.group_name;
  auto now = self->clock().now();
  if (st.init.controller)
    self->send(st.init.controller, done_atom_v,
               request_record{st.request.id, st.init.model, resp.status, resp.reason, now - st.init.arrival});
  st.promise.deliver(std::move(resp));
  self->quit();
}

request_actor::behavior_type request_fn(self_ptr self, request_init init) {
  self->state.init = std::move(init);
  return {
    [=](infer_atom, infer_request& req) -> caf::result<infer_response> {
      auto& st = self->state;
      st.request = req;
      st.promise = self->make_response_promise<infer_response>();
      if (st.init.own_timer)
        self->delayed_send(self, st.init.deadline - self->clock().now(), timeout_atom_v);
      queued_request q{req.id, st.init.model, std::move(req.tokens), st.init.arrival, st.init.deadline,
                       request_actor{self}, req.output};
      st.init.dispatch = self->clock().now(); // handed to its group now (the controller admitted it before)
      self->send(st.init.group, enqueue_atom_v, std::move(q));
      return st.promise;
    },
    [=](outcome_atom, request_outcome& out) {
      infer_response resp;
      resp.status = out.status;
      resp.reason = std::move(out.reason);
      resp.code = out.code;
      resp.output = std::move(out.output);
      resp.timings.start = out.start;
      resp.timings.finish = out.finish;
      resp.timings.batch_size = out.batch_size;
      resp.timings.load_wait = out.load_wait;
      answer(self, std::move(resp));
    },
    [=](timeout_atom) {
      if (self->state.answered)
        return;
      self->send(self->state.init.group, cancel_atom_v, self->state.request.id);
      infer_response resp;
      resp.status = request_status::deadline_exceeded;
      resp.reason = "deadline passed before the output was ready";
      resp.code = error_code::deadline_exceeded;
      answer(self, std::move(resp));
    },
  };
}

} // namespace

request_actor spawn_request(caf::actor_system& sys, request_init init) {
  return sys.spawn(request_fn, std::move(init));
}

} // namespace sy::actors
