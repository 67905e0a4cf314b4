#include "actors/echo_controller.hpp"

#include <algorithm>
#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace sy::actors {
namespace {

struct echo_state {
  std::vector<std::string> models;
  std::vector<std::pair<caf::typed_response_promise<messages::infer_response>, messages::infer_request>> held;
  messages::metrics_snapshot metrics;
  static inline const char* name = "sy.echo_controller";
};

messages::infer_response echo_answer(const messages::infer_request& r) {
  messages::infer_response out;
  out.id = r.id;
  out.status = messages::request_status::ok;
  std::vector<float> v(r.tokens.begin(), r.tokens.end());
  out.output = messages::tensor::from_f32(v.data(), {static_cast<std::int64_t>(v.size())});
  out.timings.arrival = std::chrono::steady_clock::now();
  out.timings.dispatch = out.timings.start = out.timings.finish = out.timings.arrival;
  out.timings.group = "echo";
  out.timings.batch_size = 1;
  return out;
}

messages::controller_actor::behavior_type
echo_controller(messages::controller_actor::stateful_pointer<echo_state> self, std::vector<std::string> models) {
  using namespace messages;
  self->state.models = std::move(models);
  return {
    [=](infer_atom, infer_request& r) -> caf::result<infer_response> {
      auto& st = self->state;
      if (std::find(st.models.begin(), st.models.end(), r.model) == st.models.end()) {
        ++st.metrics.requests[r.model].rejected;
        ++st.metrics.rejected_by_reason["unknown model"];
        infer_response out;
        out.id = r.id;
        out.status = request_status::rejected;
        out.reason = "unknown model '" + r.model + "'";
        return out;
      }
      ++st.metrics.requests[r.model].ok;
      if (r.model == "slow") {
        auto rp = self->make_response_promise<infer_response>();
        st.held.emplace_back(rp, std::move(r));
        return rp;
      }
      return echo_answer(r);
    },
    [=](generate_atom, generate_request& r) -> generate_response {
      // generates the prompt again (cycling) up to max_new_tokens: frames to the stream, then the answer
      generate_response out;
      out.id = r.id;
      auto& st = self->state;
      if (std::find(st.models.begin(), st.models.end(), r.model) == st.models.end() || r.tokens.empty()) {
        out.status = request_status::rejected;
        out.code = error_code::unknown_model;
        out.reason = "unknown model '" + r.model + "'";
        return out;
      }
      out.status = request_status::ok;
      out.finish_reason = "length";
      out.timings.arrival = std::chrono::steady_clock::now();
      for (std::int32_t i = 0; i < r.max_new_tokens; ++i) {
        auto tok = r.tokens[static_cast<std::size_t>(i) % r.tokens.size()];
        out.tokens.push_back(tok);
        out.timings.token_times.push_back(std::chrono::steady_clock::now() - out.timings.arrival);
        if (r.stream)
          self->send(r.stream, token_atom_v, token_frame{r.id, i, tok});
      }
      out.timings.first_token = out.timings.finish = std::chrono::steady_clock::now();
      out.timings.group = "echo";
      return out;
    },
    [=](load_atom, model_command&) -> ack { return {}; },
    [=](unload_atom, model_command&) -> ack { return {}; },
    [=](list_atom) -> std::vector<model_info> {
      std::vector<model_info> out;
      for (const auto& m : self->state.models)
        out.push_back(model_info{m, {replica_info{"echo", residency::resident, 0}}});
      return out;
    },
    [=](health_atom) -> health_report {
      health_report h;
      h.ready = true;
      h.in_flight = static_cast<std::int64_t>(self->state.held.size());
      return h;
    },
    [=](metrics_atom) -> metrics_snapshot {
      auto s = self->state.metrics;
      s.resident["echo"] = self->state.models;
      s.in_flight = static_cast<std::int64_t>(self->state.held.size());
      return s;
    },
    [=](drain_atom) -> ack {
      for (auto& [rp, r] : self->state.held)
        rp.deliver(echo_answer(r));
      self->state.held.clear();
      return {};
    },
    [=](stop_atom) -> ack { return {}; },
    [=](policy_atom, const std::string& kind) -> policy_info {
      return policy_info{false, "the echo controller runs no policies", {kind, "", {}}, "", {}};
    },
    [=](policy_atom, policy_spec& spec) -> policy_info {
      return policy_info{false, "the echo controller runs no policies", {spec.kind, "", {}}, "", {}};
    },
    [=](placement_atom) -> placement_status { return placement_status{}; },
    [=](placement_atom, const std::string&) -> placement_answer {
      return placement_answer{placement_outcome::unavailable, "", "the echo controller places nothing"};
    },
  };
}

} // namespace

messages::controller_actor spawn_echo_controller(caf::actor_system& sys, std::vector<std::string> models) {
  return sys.spawn(echo_controller, std::move(models));
}

} // namespace sy::actors
