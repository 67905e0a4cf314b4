#pragma once
// `switchyard profile -c`: the serving runtime's own time around the engine's generation steps, measured by
// running a few generations through an in-process runtime of the deployment (apps/serve.hpp, the replay
// driver as the client) and comparing them with the step costs the profile already holds. Main thread only;
// starts and stops its own local_service (the deployment's ports are not used: every listener on port 0).
#include <string>

#include "config/cluster_config.hpp"
#include "messages/result.hpp"
#include "policies/profile.hpp"

namespace sy::apps {

struct runtime_probe_options {
  int requests = 8;  // generations per decoder, one at a time; the first 2 are warm-up
  int prompt = 32;   // prompt tokens (clipped to half the model's max positions)
  int new_tokens = 16; // new tokens per generation (clipped to the positions left)
  int one_pass_tokens = 64; // one-pass probe: input tokens (the profile's --seq; clipped to max positions); 0: none
};

/// For every decoder of `cfg` that a group of its explicit placement hosts (other placements: nothing is
/// measured, logged):
/// `requests` generations, each sent when the previous one should be done, through the runtime. With the
/// profile entry of that group's (op, pp) predicting one sequence's steps (prefill of the prompt, then one
/// decode per token), per model:
///   gen_hop_s     = max(0, median live TPOT - predicted TPOT) / (pp + 1)   (actor hops per step)
///   gen_request_s = max(0, median live TTFT - predicted TTFT - (pp + 1) gen_hop_s)
/// written into every entry of that model in `db` (the hops and the request path do not depend on the
/// config). Every placed model with an entry for its group's config also gets
///   request_s     = min over those models of max(0, median live one-pass latency - sum_k stage_latency[batch 1][k]
///                   x (1 + 0.009 pp)), the same for all (the request path does not depend on the model; a larger
///                   model's excess is its compute drifting with the host's load)
/// from `requests` one-pass requests of `one_pass_tokens` tokens per model sent one at a time (the first 2 warm up). Errors: the service does not start, a model has no entry for its group's config or no
/// generation costs, fewer than 3 generations after the warm-up came back ok.
[[nodiscard]] status measure_runtime_overhead(const config::cluster_config& cfg, policies::profile_db& db,
                                              const runtime_probe_options& o = {});

} // namespace sy::apps
