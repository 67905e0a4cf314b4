#pragma once
// The client-facing request and response (what ingress decodes and encodes, what `switchyard replay`
// records). Plain aggregates, serializable (inspect), owned by whoever holds them; any thread.
//
// Invariant (DESIGN.md §1): every infer_request the controller receives gets exactly one infer_response,
// with one of the four terminal statuses below.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "messages/errors.hpp"
#include "messages/ids.hpp"
#include "messages/optional_field.hpp"
#include "messages/tensor.hpp"

namespace sy::messages {

/// The clock of every time stamp in messages: the actor system's clock (steady; virtual in tests).
using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::nanoseconds;

struct infer_request {
  request_id id;                    // chosen by the client (ingress); echoed in the response
  std::string model;                // a model name of the cluster config
  std::vector<std::int32_t> tokens; // one sequence, 1 <= size <= the model's max_seq
  std::optional<std::chrono::microseconds> slo; // latency bound from arrival; none: the model's SLO,
                                                // else runtime.request_timeout
  std::string output{}; // what to answer (logits_last, logits_all, pooler, cls, mean, mean_normalized, hidden);
                      // empty: the model's configured output
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, infer_request& x) {
  return f(x.id, x.model, x.tokens, optional_field(x.slo), x.output);
}

enum class request_status : std::uint8_t {
  ok,                // output holds the model's output
  rejected,          // never started: reason "unknown model", "overload", "cannot meet SLO", "draining", ...
  deadline_exceeded, // the deadline passed before the output was ready
  failed,            // an error (reason): device error, node down, model unloaded, bad input ...
};

inline const char* to_string(request_status s) noexcept {
  switch (s) {
    case request_status::ok: return "ok";
    case request_status::rejected: return "rejected";
    case request_status::deadline_exceeded: return "deadline_exceeded";
    case request_status::failed: return "failed";
  }
  return "?";
}

/// Where the time of one request went. Time points are on the controller's clock (steady); fields that a
/// request never reached stay at their default (epoch / zero).
struct request_timings {
  time_point arrival{};  // the controller received it
  time_point dispatch{}; // the controller sent it to a group
  time_point start{};    // its batch started on stage 0
  time_point finish{};   // its batch finished on the last stage
  std::string group;     // the group that served it ("" when rejected)
  std::int32_t batch_size = 0;
  duration load_wait{0}; // time its batch waited for a model load (swap) before stage 0 computed
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_timings& x) {
  return f(x.arrival, x.dispatch, x.start, x.finish, x.group, x.batch_size, x.load_wait);
}

struct infer_response {
  request_id id;
  request_status status = request_status::failed;
  std::string reason; // empty for ok
  tensor output;      // ok: decoder -> logits [vocab] (last token); encoder -> pooled [hidden]
  request_timings timings;
  error_code code = error_code::none; // why not ok (messages/errors.hpp); none: derived from status
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, infer_response& x) {
  return f(x.id, x.status, x.reason, x.output, x.timings, x.code);
}

/// The error code of a response: its own when set, else the one its status implies (a responder that
/// does not set codes yet: rejected -> overload, deadline_exceeded, failed -> internal).
constexpr error_code code_of(const infer_response& r) noexcept {
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
