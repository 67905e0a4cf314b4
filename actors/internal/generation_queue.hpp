#pragma once
// generation_queue: the sequence state of one model's generations in one model_group (issue 10 §2), and
// the iteration scheduler over it (continuous batching). ONE owner: the model_group actor holds one per
// hosted model and is the only code that touches it; stages hold only the KV of the ids it hands out, and
// request actors only copies of the tokens it streams. No actors, no I/O, no clocks: the group passes the
// time in and sends what the calls return.
//
// A sequence's life:
//   waiting --admitted (max_seqs, token budget, no preemption pending)--> running: prefill chunks, then one
//   decode token per step, each step's sampled token appended --stop rule (eos / max_new_tokens)--> done
//   running --its step failed for lack of KV blocks--> waiting (front; KV dropped, recomputed later from
//   prompt + tokens so far under a fresh KV id; its tokens do not change: draws are keyed by token index).
//   Which: on stage 0 nothing of the step was enqueued, so only its newest sequence; on a later stage the
//   earlier stages appended, so all of its sequences. Then one sequence fewer runs until one finishes; a
//   sequence that runs alone and still finds no room fails.
//   With `swap` (runtime.gen_preemption: swap), a sequence preempted on stage 0 keeps its KV instead:
//   running --swap out on every stage--> waiting (front, KV on the host under its id) --admitted: swap in
//   on every stage--> running; a swap that fails on any stage falls back to recompute (KV id released).
//   any --cancel (client left, TTFT deadline)--> gone (KV released once no step of it is in flight)
// At most one step of a sequence is in flight; different steps in flight hold disjoint sequences, so a
// group with p stages can keep p of them (micro-batches) in the pipeline.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "messages/pipeline.hpp"

namespace sy::actors::internal {

struct generation_options {
  int max_seqs = 16;      // sequences running (admitted) at once per model
  int token_budget = 256; // new tokens per step: decodes first, then prefill chunks
  int block_tokens = 16;  // KV block size, for the group's block accounting view
  int micro_batches = 1;  // steps in flight at once (the pipeline's stages): a step takes at most
                          // ceil(running / micro_batches) sequences, so the others make the next one
  bool swap = false;      // preemption by swap (KV to pinned host memory and back) where the KV is intact,
                          // instead of recompute; `stages` answers per swap (one per stage)
  int stages = 1;
};

struct gen_sequence {
  messages::queued_generation req;
  std::uint64_t kv_id = 0;              // the KV the stages hold for it now (0: none)
  std::vector<std::int32_t> out;        // new tokens so far
  std::vector<messages::time_point> times; // when each came back
  int fed = 0;                          // context tokens in the KV
  bool in_flight = false;
  bool cancelled = false;
  messages::time_point admitted{};
  int preemptions = 0;
  bool swapped = false;  // its KV is on the host (preempted by swap) under kv_id, or being swapped in
  int swap_answers = 0;  // stage answers outstanding for its current swap (out or in)
  bool swap_failed = false;
  int context() const noexcept { return static_cast<int>(req.prompt.size() + out.size()); }
  bool decoding() const noexcept { return !out.empty() && fed == context() - 1; }
};
using gen_ptr = std::shared_ptr<gen_sequence>;

/// What a step's result means for the group to send.
struct step_outcome {
  struct token { gen_ptr seq; std::int32_t index; std::int32_t value; };
  std::vector<token> tokens;                  // stream each to its requester, in order
  std::vector<gen_ptr> finished;              // answer ok (finish_reason set below)
  std::vector<std::string> finish_reasons;    // parallel to finished: "eos" | "length"
  std::vector<std::pair<gen_ptr, messages::stage_error>> failed; // answer failed (the step's error)
  std::vector<std::uint64_t> release;         // KV ids to free on every stage
  int preempted = 0;                          // sequences sent back to wait (recompute or swap)
  std::vector<std::uint64_t> swap_out;        // KV ids to swap out on every stage (preemption by swap)
  int prefill_tokens = 0;                     // prompt (context) tokens the step carried besides decodes
};

/// The queue as TTFT admission sees it (actors/internal/ttft_predictor.hpp).
struct queue_load {
  std::int64_t prefill_ahead = 0;           // context tokens not yet in the KV: waiting + running in prefill
  std::vector<std::int32_t> running_left{}; // new tokens still to come per running sequence, ascending
  double waiting_new_tokens = 0;            // mean new tokens still to come per waiting sequence
};

class generation_queue {
public:
  explicit generation_queue(generation_options o, int eos_token) : o_(o), eos_(eos_token) {}

  void enqueue(messages::queued_generation q);
  /// The next step, or nullopt when no sequence can take part now. Takes running sequences that are not
  /// in flight (decodes first, then prefill chunks) and admits waiting ones within the limits.
  std::optional<messages::step_entry> plan(std::uint64_t step_id, messages::time_point now);
  /// A step came back (ok: sampled tokens; else its error).
  step_outcome on_result(const messages::step_result& r, messages::time_point now);
  /// KV ids of swapped-out sequences that plan() admitted: swap each in on every stage, then answer.
  std::vector<std::uint64_t> take_swap_ins() { return std::exchange(swap_ins_, {}); }
  /// One stage's answer to the swap (out or in) of KV `kv_id`. When the last stage answered: swapped out,
  /// the sequence may be admitted again; swapped in, it runs on. A failed swap falls back to recompute (its
  /// KV id is released everywhere, `release`; counted in recomputes()). Unknown ids are ignored.
  void on_swap_answer(std::uint64_t kv_id, bool ok, std::vector<std::uint64_t>& release);
  /// Cancels the sequence of request `id` from `requester`; returns KV ids to release now (none if it is in
  /// flight: released when its step returns). False: unknown.
  bool cancel(request_id id, const caf::actor_addr& requester, std::vector<std::uint64_t>& release);
  /// Waiting sequences whose TTFT deadline passed before admission (their request actors answer them).
  std::vector<gen_ptr> expire(messages::time_point now);
  /// Every sequence, removed (stop / unhealthy / load failed): answer them; KV ids to release.
  std::vector<gen_ptr> take_all(std::vector<std::uint64_t>& release);

  bool idle() const noexcept { return waiting_.empty() && running_.empty(); }
  bool busy() const noexcept { return !running_.empty(); } // holds sequences that own KV or run
  std::size_t waiting() const noexcept { return waiting_.size(); }
  std::size_t running() const noexcept { return running_.size(); }
  int steps_in_flight() const noexcept { return static_cast<int>(in_flight_.size()); }
  /// KV blocks the running sequences hold per stage and rank (the group's view: ceil(fed / block_tokens)).
  std::int64_t blocks_held() const noexcept;
  /// What a new sequence would queue behind (TTFT admission).
  queue_load load() const;
  /// Of in-flight step `step_id`, the terms of the profile's step cost (policies::profile_entry::
  /// step_seconds): its decodes, their summed context, and the pairs its prefill chunks attend (zeros for an
  /// unknown id). For the step trace of `--log-level trace`.
  struct step_terms {
    int decodes = 0;
    std::int64_t context = 0, prefill_pairs = 0;
  };
  step_terms terms(std::uint64_t step_id) const;
  std::int64_t preemptions() const noexcept { return preemptions_; }
  /// Of the preemptions: by swap (KV kept on the host), and swaps that failed and fell back to recompute.
  std::int64_t swaps() const noexcept { return swaps_; }
  std::int64_t swap_fallbacks() const noexcept { return swap_fallbacks_; }

private:
  void retire(const gen_ptr& s, std::vector<std::uint64_t>& release);
  generation_options o_;
  int eos_;
  std::deque<gen_ptr> waiting_;
  std::vector<gen_ptr> running_; // admission order (newest last)
  struct flight {
    std::vector<gen_ptr> members; // step_entry order
    std::vector<std::int32_t> counts;
    int prefill_tokens = 0;
  };
  std::map<std::uint64_t, flight> in_flight_; // by step id
  std::uint64_t next_kv_ = 1;
  int limit_ = 1 << 30; // sequences allowed to run: after a preemption one fewer than ran, until one finishes
  std::int64_t preemptions_ = 0, swaps_ = 0, swap_fallbacks_ = 0;
  std::vector<std::uint64_t> swap_ins_;
  std::map<std::uint64_t, gen_ptr> swapping_; // by KV id: sequences whose swap answers are outstanding
};

} // namespace sy::actors::internal
