#include "actors/internal/ttft_predictor.hpp"

#include <algorithm>
#include <cmath>

namespace sy::actors::internal {

void step_cost_fit::add(double prefill_tokens, double seconds) {
  if (!(seconds >= 0) || !(prefill_tokens >= 0))
    return;
  w_ = decay_ * w_ + 1;
  x_ = decay_ * x_ + prefill_tokens;
  y_ = decay_ * y_ + seconds;
  xx_ = decay_ * xx_ + prefill_tokens * prefill_tokens;
  xy_ = decay_ * xy_ + prefill_tokens * seconds;
  ++n_;
}

void step_cost_fit::solve(double& base, double& per_token) const noexcept {
  base = per_token = 0;
  if (w_ <= 0)
    return;
  const double det = w_ * xx_ - x_ * x_; // w^2 x the weighted variance of P
  if (det > 1e-9 * w_ * xx_) {
    per_token = (w_ * xy_ - x_ * y_) / det;
    base = (y_ - per_token * x_) / w_;
    if (per_token < 0) { // more prompt tokens never make a step cheaper: noise, use the mean
      per_token = 0;
      base = y_ / w_;
    } else if (base < 0) { // a line through the origin
      base = 0;
      per_token = xy_ / xx_;
    }
    return;
  }
  if (x_ > 0) // every step carried the same number of prompt tokens (> 0)
    per_token = y_ / x_;
  else        // decodes only
    base = y_ / w_;
}

double step_cost_fit::base_s() const noexcept {
  double b = 0, c = 0;
  solve(b, c);
  return b;
}

double step_cost_fit::per_token_s() const noexcept {
  double b = 0, c = 0;
  solve(b, c);
  return c;
}

namespace {
std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return a <= 0 ? 0 : (a + b - 1) / b;
}
} // namespace

ttft_prediction predict_ttft(const ttft_view& v) {
  ttft_prediction p;
  if (!(v.step_base_s > 0) && !(v.prefill_token_s > 0))
    return p;
  p.known = true;
  const int budget_total = std::max(1, v.token_budget);
  const int decodes = std::clamp(v.running, 0, budget_total - 1);
  const std::int64_t budget = budget_total - decodes;
  const std::int64_t prompt = std::max<std::int64_t>(1, v.prompt);
  const std::int64_t tokens = std::max<std::int64_t>(0, v.prefill_ahead) + prompt;
  const std::int64_t prefill = ceil_div(tokens, budget);
  const std::int64_t k = static_cast<std::int64_t>(std::max(0, v.waiting)) + 1 -
                         std::max<std::int64_t>(0, v.max_seqs - v.running);
  if (k > 0) {
    const auto n = static_cast<std::int64_t>(v.running_left.size());
    if (k <= n) {
      p.slot_wait = std::max(0, v.running_left[static_cast<std::size_t>(k - 1)]);
    } else {
      const std::int64_t rounds = ceil_div(k - n, std::max(1, v.max_seqs));
      p.slot_wait = (n > 0 ? std::max(0, v.running_left.back()) : 0) +
                    static_cast<std::int64_t>(std::ceil(static_cast<double>(rounds) * std::max(0.0, v.waiting_new_tokens)));
    }
  }
  p.iterations = std::max(prefill, p.slot_wait + ceil_div(prompt, budget)) + (v.running + v.waiting > 0 ? 1 : 0);
  p.seconds = std::max(0.0, v.load_s) + static_cast<double>(p.iterations) * std::max(0.0, v.step_base_s) +
              static_cast<double>(tokens) * std::max(0.0, v.prefill_token_s);
  return p;
}

void pending_generations::sync(std::int64_t enqueued, time_point now, std::chrono::nanoseconds max_age) {
  if (enqueued < last_enqueued_) { // a new group actor (rebuilt) counts from 0: nothing of the old is pending
    q_.clear();
  } else {
    for (std::int64_t n = enqueued - last_enqueued_; n > 0 && !q_.empty(); --n)
      q_.pop_front();
  }
  last_enqueued_ = enqueued;
  while (!q_.empty() && now - q_.front().at > max_age)
    q_.pop_front();
}

void pending_generations::admit(std::int64_t prompt, std::int64_t new_tokens, time_point now) {
  q_.push_back(entry{prompt, new_tokens, now});
}

void pending_generations::add_to(ttft_view& v) const {
  if (q_.empty())
    return;
  double new_tokens = v.waiting_new_tokens * std::max(0, v.waiting);
  for (const auto& e : q_) {
    v.prefill_ahead += e.prompt;
    new_tokens += static_cast<double>(e.new_tokens);
  }
  v.waiting = std::max(0, v.waiting) + static_cast<int>(q_.size());
  v.waiting_new_tokens = new_tokens / v.waiting;
}

} // namespace sy::actors::internal
