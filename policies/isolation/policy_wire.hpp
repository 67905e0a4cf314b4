#pragma once
// The wire format between switchyard and an isolated plug-in's `switchyard policy-host` process: one JSON
// text per decision request and one per reply, carried as std::string in CAF messages (no type ids needed on
// either side). Durations travel as integer nanoseconds.
//
//   request = {"kind": str, "name": str, "params": {str: number}, "view": <view of the kind>}
//   admission view [time_left, queue_wait, pending_load, service]      reply {"accept": bool, "reason": str}
//   dispatch view  [[group, free_in, load, queued], ...]               reply group (int)
//   batching view  {"time_left": [ns...], "latency": [ns...]}          reply {"take": n, "expired": [i...]}
//   eviction view  {"needed": n, "free": n, "resident": [[model, bytes, last_used, queued, pinned, rate,
//                   load_s, in_flight], ...]}                          reply {"possible": bool, "victims": [str...]}
//   replacement view {"since_replan_s": x, "window_s": x, "observed": {model: rps}, "assumed": {model: rps},
//                     "has_candidate": bool, "served_score": x, "candidate_score": x}
//                                                                      reply {"act": bool, "reason": str}
//
// Pure functions; any thread. Decoding errors (category "policy-wire") name what was expected and found.
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "policies/policy_fn.hpp"

namespace sy::policies::isolation {

struct decision_request {
  std::string kind;
  std::string name;
  policy_numbers params;
  std::string view; // the view as JSON text
};

std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const admission_view& v);
std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const std::vector<dispatch_candidate>& v);
std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const batching_view& v);
std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const eviction_view& v);
std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const replacement_view& v);

/// The host's side: decodes a request, runs `policy` (built for kind/name/params by the caller) on its view
/// and encodes the reply.
result<decision_request> decode_request(const std::string& text);
result<std::string> run_encoded(const runtime_policy& policy, const std::string& view_json);
/// The same for a re-placement policy (not a runtime_policy: the controller holds it, policy_fn.hpp).
result<std::string> run_encoded(const replacement_fn& policy, const std::string& view_json);
/// The replacement view of a request (the host's side; errors name the field).
result<replacement_view> decode_replacement_view(const std::string& view_json);

/// The caller's side: the reply of a kind.
result<admission_decision> decode_admission(const std::string& text);
result<int> decode_dispatch(const std::string& text);
result<batching_decision> decode_batching(const std::string& text);
result<eviction_decision> decode_eviction(const std::string& text);
result<replacement_decision> decode_replacement(const std::string& text);

} // namespace sy::policies::isolation
