#pragma once
// TTFT admission for generations (issue 10 §2, AlpaServe's rule per first token): what a group measured of
// a model's continuous-batching steps, and the pure prediction of a new sequence's first token from it and
// the group's generation queue. No actors, no clocks: the model_group feeds step_cost_fit with its step
// results, reports the fit and its queue (messages::gen_load), and the controller calls predict_ttft.
#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

namespace sy::actors::internal {

/// An online least-squares fit of one step's seconds against the prompt (prefill) tokens it carried,
///   seconds = base + per_token * prefill_tokens,
/// with exponentially decaying weights (each new step multiplies the old ones by `decay`), so the fit
/// follows the load. `base` is what an iteration costs without prefill at the decodes that ran beside it
/// (running sequences decode one token per iteration, so they share every iteration), `per_token` what
/// one more prompt token adds. Steps that all carried the same number of prefill tokens determine no
/// slope: then all of the cost goes to base (no prefill) or to per_token (all with prefill).
class step_cost_fit {
public:
  explicit step_cost_fit(double decay = 0.95) : decay_(decay) {}
  void add(double prefill_tokens, double seconds);
  bool known() const noexcept { return w_ > 0; }
  double base_s() const noexcept;      // 0 when nothing was measured
  double per_token_s() const noexcept; // 0 when nothing was measured
  long steps() const noexcept { return n_; }

private:
  void solve(double& base, double& per_token) const noexcept;
  double decay_;
  double w_ = 0, x_ = 0, y_ = 0, xx_ = 0, xy_ = 0; // weighted sums of 1, P, s, P^2, P s
  long n_ = 0;
};

/// What admission knows about one model in one group when a generation arrives.
struct ttft_view {
  double load_s = 0;               // the model's load still to come (0 when resident)
  double step_base_s = 0;          // one iteration without prompt tokens (step_cost_fit::base_s)
  double prefill_token_s = 0;      // one prompt token more in an iteration (step_cost_fit::per_token_s)
  std::int64_t prefill_ahead = 0;  // prompt tokens not yet in the KV of the sequences ahead (running + waiting)
  std::int64_t prompt = 0;         // this request's prompt tokens
  int running = 0;                 // sequences admitted (each decodes one token per iteration)
  int waiting = 0;                 // sequences waiting ahead of this one
  std::vector<int> running_left{}; // new tokens still to come per running sequence, ascending
  double waiting_new_tokens = 0;   // mean new tokens the waiting sequences will generate
  int token_budget = 256;          // tokens per iteration (runtime.gen_token_budget)
  int max_seqs = 16;               // sequences running at once (runtime.gen_max_seqs)
};

struct ttft_prediction {
  bool known = false;          // false: no step cost measured or seeded: the caller admits
  double seconds = 0;          // predicted arrival -> first token
  std::int64_t iterations = 0; // iterations until (and with) this prompt's last chunk
  std::int64_t slot_wait = 0;  // of them: iterations before a sequence slot is free for it
};

/// Generations the controller sent to one model of one group that the group's last report may not count
/// yet (a report can leave the group before the request actors' enqueues arrive there). Admission adds them
/// to the reported queue, so a burst that arrives between two reports queues behind itself. The group
/// reports how many generations of the model it received so far (messages::gen_load::enqueued); that many
/// leave this list, oldest first. An entry older than `max_age` leaves too (its request never reached the
/// group: a stop, a lost node), so the list cannot grow stale.
class pending_generations {
public:
  using time_point = std::chrono::steady_clock::time_point;
  void sync(std::int64_t enqueued, time_point now, std::chrono::nanoseconds max_age);
  void admit(std::int64_t prompt, std::int64_t new_tokens, time_point now);
  void add_to(ttft_view& v) const; // waiting, prefill_ahead and waiting_new_tokens grow by the pending ones
  std::size_t size() const noexcept { return q_.size(); }

private:
  struct entry {
    std::int64_t prompt = 0, new_tokens = 0;
    time_point at{};
  };
  std::deque<entry> q_;
  std::int64_t last_enqueued_ = 0; // the count of the last sync
};

/// predicted TTFT = load_s + iterations x step_base_s + (prefill_ahead + prompt) x prefill_token_s, where
///   budget     = token_budget - min(running, token_budget - 1)   (decodes go first in every iteration)
///   prefill    = ceil((prefill_ahead + prompt) / budget)          (every prompt ahead, then this one)
///   slot_wait  = iterations until a slot frees for it: with k = waiting + 1 - (max_seqs - running) > 0,
///                the k-th smallest running_left (the k-th running sequence to finish); past the running ones,
///                one more round of waiting_new_tokens per max_seqs sequences
///   iterations = max(prefill, slot_wait + ceil(prompt / budget)) + (1 if anything runs or waits: the
///                step in flight ends first)
/// A pipeline of p stages overlaps up to p steps of disjoint sequences; the measured step time spans every
/// stage, so for p > 1 this is an upper bound.
ttft_prediction predict_ttft(const ttft_view& v);

} // namespace sy::actors::internal
