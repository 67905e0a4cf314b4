#pragma once
// generate: token-by-token generation of many sequences on a pipeline (gpu/pipeline.hpp), with an
// ENGINE-LEVEL continuous-batching loop: every iteration takes the running sequences' decode tokens, then
// prefill chunks of sequences still reading their prompt and newly admitted ones (within max_seqs and a
// token budget), runs one step through the stages (stage_executor::step; KV in each stage's paged cache),
// samples each finished row at the last stage (gpu/sampling.hpp), and retires sequences that stop. For the
// command line, the tests and the benchmark; it blocks the calling thread (the runtime's iteration
// scheduling through the actors is issue 10 §2, not this). One thread uses a pipeline at a time.
//
// A sequence's tokens do not depend on what else is in the batch: its rows attend only to its own cache,
// and its draws are keyed by (seed, index of the new token).
#include <chrono>
#include <cstdint>
#include <vector>

#include "gpu/pipeline.hpp"
#include "gpu/sampling.hpp"

namespace sy::gpu {

struct generation_request {
  std::vector<std::int32_t> prompt; // >= 1 token, each in [0, vocab)
  sampling_params sampling;
  stop_params stop;
};

struct generation_result {
  std::vector<std::int32_t> tokens; // the new tokens (the eos token included when it stopped there)
  stop_reason reason = stop_reason::none;
  /// Seconds from the start of the run (every request arrives then) to each new token.
  std::vector<std::chrono::duration<double>> token_times;
};

struct generation_options {
  int max_seqs = 16;       // sequences running at once
  int token_budget = 512;  // new tokens per step: decodes first, then prefill chunks
};

struct generation_stats {
  int steps = 0;
  int preemptions = 0;            // sequences preempted (KV freed, recomputed later) when blocks ran out
  std::size_t peak_kv_blocks = 0; // rank 0 of stage 0
  // Per step, in order: per stage, the wall seconds from its step's enqueue to its completion (the stages
  // run one after the other here), and whether the step was decodes only (no prefill chunk).
  std::vector<std::vector<double>> stage_seconds;
  std::vector<bool> decode_only;
};

/// Runs every request to completion (its stop rule) on `p`, which must be loaded. Before each step every
/// stage reserves the step's KV blocks; when one has no room, the newest running sequence is preempted:
/// its blocks are freed and it waits to be recomputed (prompt + its tokens so far, re-read as a prefill),
/// and no new sequence is admitted until a running one finishes. Its tokens are unchanged by this (the
/// draws are keyed by token index). Errors: a bad request (empty prompt, token out of range, prompt +
/// max_new_tokens past max_seq, bad sampling parameters), an encoder, a step failing, or no room even for
/// a single sequence ("memory"). Every sequence's KV blocks are given back before it returns, also on error.
result<std::vector<generation_result>> generate(pipeline& p, const std::vector<generation_request>& requests,
                                                const generation_options& options = {},
                                                generation_stats* stats = nullptr);

} // namespace sy::gpu
