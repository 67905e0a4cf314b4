#pragma once
// The client-facing generation request (issue 10 §2-3): a prompt that the runtime continues token by token
// (continuous batching in the model group, actors/model_group.cpp), each new token streamed to `stream`
// as it is sampled, then exactly one generate_response. Plain aggregates, serializable; any thread.
//
// Invariant (DESIGN.md §1, §10): every generate_request the controller accepts gets exactly one
// generate_response; the token frames of a request all arrive at `stream` before the response is sent (the
// request actor sends both, in order), none after it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "messages/ids.hpp"
#include "messages/infer.hpp"
#include "messages/optional_field.hpp"

namespace sy::messages {

/// How the last stage picks each new token (gpu/sampling.hpp): temperature 0 is greedy.
struct sampling_options {
  float temperature = 0.0f; // >= 0; 0 = greedy
  std::int32_t top_k = 0;   // >= 0; 0 = off
  float top_p = 1.0f;       // in (0, 1]; 1 = off
  std::uint64_t seed = 0;   // draws are keyed by (seed, index of the new token)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sampling_options& x) {
  return f(x.temperature, x.top_k, x.top_p, x.seed);
}

/// One streamed token: the `index`-th new token (0 = the first) of request `id`.
struct token_frame {
  request_id id;
  std::int32_t index = 0;
  std::int32_t token = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_frame& x) {
  return f(x.id, x.index, x.token);
}

/// Where a streaming client's tokens go (the ingress). The sender of a frame is the request's actor: the
/// sink may send it cancel_atom (the client left), which frees the sequence and ends the request.
using token_sink_actor = caf::typed_actor<caf::reacts_to<token_atom, token_frame>>;

struct generate_request {
  request_id id;                    // chosen by the client (ingress); echoed in frames and the response
  std::string model;                // a decoder of the cluster config
  std::vector<std::int32_t> tokens; // the prompt, >= 1 token, each in [0, vocab)
  std::int32_t max_new_tokens = 16; // > 0; prompt + max_new_tokens - 1 <= the model's max_seq
  sampling_options sampling;
  bool ignore_eos = false;          // true: only max_new_tokens stops it (the eos token is kept)
  std::optional<std::chrono::microseconds> ttft; // time to first token bound; none: the model's ttft_ms,
                                                 // else runtime.request_timeout
  std::optional<std::chrono::microseconds> tpot; // time per output token target (measured, not enforced);
                                                 // none: the model's tpot_ms
  token_sink_actor stream;          // invalid: no streaming (the response still carries every token)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_request& x) {
  return f(x.id, x.model, x.tokens, x.max_new_tokens, x.sampling, x.ignore_eos, optional_field(x.ttft),
           optional_field(x.tpot), x.stream);
}

/// Where the time of one generation went, on the controller's clock.
struct generate_timings {
  time_point arrival{};     // the controller received it
  time_point admitted{};    // the group first scheduled it (its first prefill left for stage 0)
  time_point first_token{}; // the group had its first token
  time_point finish{};      // the group had its last token (or gave up)
  std::vector<duration> token_times; // per new token: from arrival to when the group had it
  std::string group;
  std::int32_t preemptions = 0; // times its KV was dropped for lack of blocks and recomputed
  std::int32_t tpot_misses = 0; // gaps between consecutive tokens longer than the request's tpot
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_timings& x) {
  return f(x.arrival, x.admitted, x.first_token, x.finish, x.token_times, x.group, x.preemptions, x.tpot_misses);
}

struct generate_response {
  request_id id;
  request_status status = request_status::failed;
  std::string reason;                  // empty for ok
  error_code code = error_code::none;  // why not ok
  std::vector<std::int32_t> tokens;    // every new token (also when not ok: those produced so far)
  std::string finish_reason;           // ok: "eos" | "length"; else empty
  generate_timings timings;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generate_response& x) {
  return f(x.id, x.status, x.reason, x.code, x.tokens, x.finish_reason, x.timings);
}

/// The error code of a generate response (as code_of for infer).
constexpr error_code code_of(const generate_response& r) noexcept {
  if (r.status == request_status::ok)
    return error_code::none;
  if (r.code != error_code::none)
    return r.code;
  switch (r.status) {
    case request_status::rejected: return error_code::overload;
    case request_status::deadline_exceeded: return error_code::deadline_exceeded;
    default: return error_code::internal;
  }
}

} // namespace sy::messages
