#pragma once
// Token sampling at the last stage of a generation step (issue 10 §1), on the host, over one sequence's
// logits row [vocab] (f32; the last stage's output). Pure functions of their arguments: the same logits,
// parameters and step give the same token on every run, thread and backend.
//
// Order (as transformers' logits processors): temperature, then top-k, then top-p, then one draw.
// - temperature == 0: greedy, the arg max (the lowest id among equal maxima); top_k/top_p are ignored.
// - top_k > 0: only the k largest logits stay (ties broken towards lower ids).
// - top_p < 1: of those, the smallest set of most probable tokens whose probability sums to >= top_p.
// - The draw uses a counter-based generator keyed by (seed, step): the step-th new token of a sequence
//   gets the same random number whatever else is in the batch and however the run was scheduled.
// NaN logits count as -inf. Stopping: stop_after says whether a sequence ends after a token.
#include <cstdint>
#include <string_view>

#include "messages/result.hpp"

namespace sy::gpu {

struct sampling_params {
  float temperature = 0.0f; // 0 = greedy
  int top_k = 0;            // 0 = off
  float top_p = 1.0f;       // 1 = off; in (0, 1]
  std::uint64_t seed = 0;   // per request
  /// temperature >= 0 and finite, top_k >= 0, 0 < top_p <= 1; the message names the field.
  [[nodiscard]] status check() const;
  bool greedy() const noexcept { return temperature == 0.0f; }
};

/// The token for the `step`-th new token (0 = the first) of a sequence whose last position has `logits`.
/// vocab > 0; the parameters passed check().
int sample_token(const float* logits, int vocab, const sampling_params& p, std::uint64_t step);

/// The uniform number in [0, 1) that sample_token draws for (seed, step).
double sampling_uniform(std::uint64_t seed, std::uint64_t step) noexcept;

struct stop_params {
  int max_new_tokens = 16; // > 0
  bool ignore_eos = false;
  int eos_token = -1;      // -1: the model has none
};

enum class stop_reason : std::uint8_t { none, eos, length };
std::string_view to_string(stop_reason r) noexcept; // "none", "eos", "length"

/// Whether a sequence stops after producing `token` as its `generated`-th new token (1-based count).
/// eos wins over length when both hold; eos is ignored with ignore_eos (the token is kept).
stop_reason stop_after(int token, int generated, const stop_params& p) noexcept;

} // namespace sy::gpu
