#pragma once
// `switchyard profile -c`: the serving runtime's own time around the engine's generation steps, measured by
// running a few generations through an in-process runtime of the deployment (apps/serve.hpp, the replay
// driver as the client) and comparing them with the step costs the profile already holds. Main thread only;
// starts and stops its own local_service (the deployment's ports are not used: every listener on port 0).
#include <algorithm>
#include <optional>
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
/// and the pair of the decoder whose probe generation computes least (pick_runtime_path) is written into
/// every entry of every probed decoder in `db` (the hops and the request path are the runtime's: they depend
/// neither on the config nor on the model; a larger model's excess is its compute). Every probed decoder's
/// runtime_scales (with those hops and request) are logged, not applied: how far the runtime's steps were from
/// the engine profile when probed (the host's load between the two, the runtime's own threads; a handful of
/// generations is too few to rescale the profile by). Every placed model with an entry for its group's config also gets
///   request_s     = min over those models of max(0, median live one-pass latency - sum_k stage_latency[batch 1][k]
///                   x (1 + 0.009 pp)), the same for all (the request path does not depend on the model; a larger
///                   model's excess is its compute drifting with the host's load)
/// from `requests` one-pass requests of `one_pass_tokens` tokens per model sent one at a time (the first 2 warm up). Errors: the service does not start, a model has no entry for its group's config or no
/// generation costs, fewer than 3 generations after the warm-up came back ok.
/// One decoder's runtime probe: the predicted compute of a probe generation (prefill + decodes, seconds) and
/// the overheads its live runs gave.
struct runtime_path {
  double compute = 0, hop = 0, request = 0;
};

/// The estimate to keep of `so_far` (none yet) and `next`: the one with the least compute, where the host's
/// load adds least to the live difference; on a tie the earlier one.
inline runtime_path pick_runtime_path(const std::optional<runtime_path>& so_far, const runtime_path& next) {
  return so_far && so_far->compute <= next.compute ? *so_far : next;
}

/// How much slower (> 1) or faster the runtime ran a decoder's steps than its profile entry predicts, from its
/// probe generations: decode = (TPOT live - the step's hops) / TPOT predicted; prefill = (TTFT live - request -
/// hops - decode x the prefill step's fixed part) / (TTFT predicted - that fixed part). Each within [0.25, 4];
/// 1 where a prediction is not positive.
struct gen_scales {
  double decode = 1, prefill = 1;
};
inline gen_scales runtime_scales(double live_ttft, double live_tpot, double pred_ttft, double pred_tpot,
                                 double fixed, double hops_s, double request_s) {
  auto clamp = [](double x) { return std::min(4.0, std::max(0.25, x)); };
  gen_scales s;
  if (pred_tpot > 0)
    s.decode = clamp((live_tpot - hops_s) / pred_tpot);
  if (pred_ttft - fixed > 0)
    s.prefill = clamp((live_ttft - request_s - hops_s - s.decode * fixed) / (pred_ttft - fixed));
  return s;
}

[[nodiscard]] status measure_runtime_overhead(const config::cluster_config& cfg, policies::profile_db& db,
                                              const runtime_probe_options& o = {});

} // namespace sy::apps
