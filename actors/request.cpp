// request actor: one per accepted request. Holds the response promise of the (delegated) infer, the
// deadline timer and the single terminal answer; reports the outcome to the controller, then quits.
//
//   spawned --infer--> waiting --outcome--> answered (quit)
//                         └------timeout---> answered: deadline_exceeded, cancel at the group (quit)
//
// A generation (issue 10) streams: every token frame from the group goes on to the request's stream (the
// ingress) at once, in order, and the terminal answer follows the last frame (both from this actor, so the
// stream sees them in that order; nothing after it):
//   spawned --generate--> waiting --token--> streaming --token...--> --outcome--> answered (quit)
//                            │ timeout (TTFT deadline, before the first token): deadline_exceeded, cancel
//                            │ cancel (the client left): failed, cancel at the group
//                            └ outcome (request_outcome: the group or its node is gone): failed
// After the first token the deadline is a stall bound: no token for runtime.request_timeout fails it.
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
  // generation
  bool generating = false;
  generate_request gen;
  caf::typed_response_promise<generate_response> gen_promise;
  std::vector<std::int32_t> tokens; // streamed so far
  time_point last_token{};
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

void answer_generate(self_ptr self, generate_response resp) {
  auto& st = self->state;
  if (st.answered)
    return;
  st.answered = true;
  resp.id = st.gen.id;
  resp.timings.arrival = st.init.arrival;
  resp.timings.group = st.init.group_name;
  if (resp.tokens.empty())
    resp.tokens = st.tokens;
  auto now = self->clock().now();
  if (st.init.controller)
    self->send(st.init.controller, done_atom_v,
               request_record{st.gen.id, st.init.model, resp.status, resp.reason, now - st.init.arrival});
  st.gen_promise.deliver(std::move(resp));
  self->quit();
}

/// The generation ends without the group's outcome: the group forgets the sequence (its KV is freed).
void give_up(self_ptr self, request_status s, std::string why, error_code code) {
  self->send(self->state.init.group, cancel_atom_v, self->state.gen.id);
  generate_response resp;
  resp.status = s;
  resp.reason = std::move(why);
  resp.code = code;
  answer_generate(self, std::move(resp));
}

void arm_timer(self_ptr self, duration after) {
  self->delayed_send(self, std::max(after, duration{0}), timeout_atom_v);
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
      if (self->state.generating) { // the group (or its node) is gone
        generate_response resp;
        resp.status = out.status;
        resp.reason = std::move(out.reason);
        resp.code = out.code;
        return answer_generate(self, std::move(resp));
      }
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
      auto& st = self->state;
      if (st.answered)
        return;
      if (st.generating) {
        auto now = self->clock().now();
        if (st.tokens.empty()) {
          if (now < st.init.deadline) // an older timer
            return;
          return give_up(self, request_status::deadline_exceeded, "no first token before the TTFT deadline",
                         error_code::deadline_exceeded);
        }
        auto stall = st.last_token + st.init.stall_timeout;
        if (now < stall)
          return arm_timer(self, stall - now);
        return give_up(self, request_status::failed,
                       "no token for " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                          st.init.stall_timeout).count()) + " ms",
                       error_code::deadline_exceeded);
      }
      self->send(self->state.init.group, cancel_atom_v, self->state.request.id);
      infer_response resp;
      resp.status = request_status::deadline_exceeded;
      resp.reason = "deadline passed before the output was ready";
      resp.code = error_code::deadline_exceeded;
      answer(self, std::move(resp));
    },
    [=](generate_atom, generate_request& req) -> caf::result<generate_response> {
      auto& st = self->state;
      st.generating = true;
      st.gen_promise = self->make_response_promise<generate_response>();
      queued_generation q{req.id, st.init.model, std::move(req.tokens), req.max_new_tokens, req.sampling,
                          req.ignore_eos, st.init.arrival, st.init.deadline, request_actor{self}};
      st.gen = std::move(req);
      st.init.dispatch = self->clock().now();
      arm_timer(self, st.init.deadline - self->clock().now());
      self->send(st.init.group, enqueue_atom_v, std::move(q));
      return st.gen_promise;
    },
    [=](token_atom, token_frame& f) {
      auto& st = self->state;
      if (st.answered || f.index != static_cast<std::int32_t>(st.tokens.size()))
        return; // after the answer, or a duplicate: never streamed
      st.tokens.push_back(f.token);
      st.last_token = self->clock().now();
      if (st.tokens.size() == 1)
        arm_timer(self, st.init.stall_timeout);
      if (st.gen.stream) {
        f.id = st.gen.id;
        self->send(st.gen.stream, token_atom_v, f);
      }
    },
    [=](outcome_atom, generation_outcome& out) {
      auto& st = self->state;
      generate_response resp;
      resp.status = out.status;
      resp.reason = std::move(out.reason);
      resp.code = out.code;
      resp.tokens = std::move(out.tokens);
      resp.finish_reason = std::move(out.finish_reason);
      resp.timings.admitted = out.admitted;
      resp.timings.preemptions = out.preemptions;
      for (auto t : out.token_times)
        resp.timings.token_times.push_back(t - st.init.arrival);
      if (!out.token_times.empty()) {
        resp.timings.first_token = out.token_times.front();
        resp.timings.finish = out.token_times.back();
      }
      if (st.gen.tpot)
        for (std::size_t i = 1; i < out.token_times.size(); ++i)
          if (out.token_times[i] - out.token_times[i - 1] > *st.gen.tpot)
            ++resp.timings.tpot_misses;
      // frames the group sent before the outcome have arrived (same sender, in order); stream any the
      // actor did not pass on yet (none in practice), so the client sees every token before the answer
      if (st.gen.stream)
        for (std::size_t i = st.tokens.size(); i < resp.tokens.size(); ++i)
          self->send(st.gen.stream, token_atom_v,
                     token_frame{st.gen.id, static_cast<std::int32_t>(i), resp.tokens[i]});
      answer_generate(self, std::move(resp));
    },
    [=](cancel_atom) {
      if (self->state.answered || !self->state.generating)
        return;
      give_up(self, request_status::failed, "the client left", error_code::internal);
    },
  };
}

} // namespace

request_actor spawn_request(caf::actor_system& sys, request_init init) {
  return sys.spawn(request_fn, std::move(init));
}

} // namespace sy::actors
