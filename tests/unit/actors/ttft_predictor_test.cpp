// TTFT admission's pure parts (actors/internal/ttft_predictor.hpp): the step cost fit a group keeps per
// model, and the prediction of a new sequence's first token, on hand-computed cases.
#include <catch2/catch.hpp>

#include "actors/internal/ttft_predictor.hpp"

using sy::actors::internal::predict_ttft;
using sy::actors::internal::step_cost_fit;
using sy::actors::internal::ttft_view;

TEST_CASE("the step cost fit recovers base and per-token cost from steps on one line, whatever their weights",
          "[ttft]") {
  step_cost_fit f;
  CHECK(!f.known());
  CHECK(f.base_s() == 0);
  CHECK(f.per_token_s() == 0);
  // 0.01 s + 0.001 s per prompt token, in any order
  for (double p : {0.0, 100.0, 200.0, 0.0, 50.0})
    f.add(p, 0.01 + 0.001 * p);
  CHECK(f.known());
  CHECK(f.steps() == 5);
  CHECK(f.base_s() == Approx(0.01));
  CHECK(f.per_token_s() == Approx(0.001));
}

TEST_CASE("steps without a spread of prompt tokens put their cost in base (decodes only) or per token", "[ttft]") {
  step_cost_fit decodes;
  decodes.add(0, 0.02);
  decodes.add(0, 0.04); // decay 0.95: (0.95 x 0.02 + 0.04) / 1.95
  CHECK(decodes.base_s() == Approx((0.95 * 0.02 + 0.04) / 1.95));
  CHECK(decodes.per_token_s() == 0);
  step_cost_fit prefills;
  prefills.add(128, 0.256);
  prefills.add(128, 0.256);
  CHECK(prefills.base_s() == 0);
  CHECK(prefills.per_token_s() == Approx(0.002));
}

TEST_CASE("a fit whose slope comes out negative (noise) uses the mean step time as base", "[ttft]") {
  step_cost_fit f(1.0); // no decay: plain least squares
  f.add(0, 0.03);
  f.add(10, 0.01); // slope -0.002
  CHECK(f.per_token_s() == 0);
  CHECK(f.base_s() == Approx(0.02));
  f.add(-1, 5); // bad samples are ignored
  f.add(3, -1);
  CHECK(f.steps() == 2);
}

TEST_CASE("nothing measured means no prediction: admission admits", "[ttft]") {
  ttft_view v;
  v.prompt = 100;
  v.running = 5;
  auto p = predict_ttft(v);
  CHECK(!p.known);
}

TEST_CASE("an idle group predicts one iteration: base plus the prompt's tokens", "[ttft]") {
  ttft_view v;
  v.step_base_s = 0.01;
  v.prefill_token_s = 0.001;
  v.prompt = 100;
  auto p = predict_ttft(v);
  REQUIRE(p.known);
  CHECK(p.iterations == 1); // ceil(100 / 256), nothing in flight
  CHECK(p.slot_wait == 0);
  CHECK(p.seconds == Approx(0.01 + 100 * 0.001));
}

TEST_CASE("prompts waiting ahead and running decodes stretch the prefill over more iterations", "[ttft]") {
  ttft_view v;
  v.load_s = 0.5;           // not resident yet
  v.step_base_s = 0.02;
  v.prefill_token_s = 0.001;
  v.running = 4;            // 4 decodes per iteration: 252 tokens left of 256
  v.running_left = {5, 6, 7, 8};
  v.waiting = 3;
  v.prefill_ahead = 600;
  v.prompt = 200;
  auto p = predict_ttft(v);
  // 800 tokens / 252 = 3.17 -> 4 iterations, + 1 for the step in flight; slots: 3 + 1 <= 16 - 4 free
  CHECK(p.slot_wait == 0);
  CHECK(p.iterations == 5);
  CHECK(p.seconds == Approx(0.5 + 5 * 0.02 + 800 * 0.001));
}

TEST_CASE("with every sequence slot taken, the first token waits for running sequences to finish", "[ttft]") {
  ttft_view v;
  v.step_base_s = 0.01;
  v.prefill_token_s = 0.001;
  v.max_seqs = 2;
  v.running = 2;
  v.running_left = {3, 10};
  v.waiting = 1;         // takes the slot of the first to finish (3 iterations); this one the second's
  v.prefill_ahead = 10;
  v.prompt = 10;
  auto p = predict_ttft(v);
  CHECK(p.slot_wait == 10);
  CHECK(p.iterations == 10 + 1 + 1); // slot wait, its own prefill chunk, the step in flight
  CHECK(p.seconds == Approx(12 * 0.01 + 20 * 0.001));
  // three waiting ahead: the 4th slot comes after both running ones finished (10) and one round of the
  // waiting ones that took the first two slots (8 new tokens each on average)
  v.waiting = 3;
  v.waiting_new_tokens = 8;
  v.prefill_ahead = 30;
  p = predict_ttft(v);
  CHECK(p.slot_wait == 18);
  CHECK(p.iterations == 20);
  CHECK(p.seconds == Approx(20 * 0.01 + 40 * 0.001));
}

TEST_CASE("decodes beyond the token budget leave one prompt token per iteration", "[ttft]") {
  ttft_view v;
  v.step_base_s = 0.01;
  v.token_budget = 16;
  v.max_seqs = 32;
  v.running = 20;
  v.prompt = 3;
  auto p = predict_ttft(v);
  CHECK(p.iterations == 3 + 1);
  CHECK(p.seconds == Approx(4 * 0.01));
}

TEST_CASE("generations admitted since the group's last report queue ahead of the next one until a report counts "
          "them", "[ttft]") {
  using sy::actors::internal::pending_generations;
  using namespace std::chrono_literals;
  pending_generations p;
  const pending_generations::time_point t0{};
  p.sync(0, t0, 2s);
  p.admit(200, 4, t0);
  p.admit(100, 8, t0 + 1ms);
  ttft_view v;
  v.waiting = 2;              // reported: 2 waiting with 10 new tokens each, 50 prompt tokens to prefill
  v.waiting_new_tokens = 10;
  v.prefill_ahead = 50;
  p.add_to(v);
  CHECK(v.waiting == 4);
  CHECK(v.prefill_ahead == 50 + 200 + 100);
  CHECK(v.waiting_new_tokens == Approx((2 * 10 + 4 + 8) / 4.0));
  p.sync(1, t0 + 2ms, 2s); // a report that counts the first: only the second is pending
  CHECK(p.size() == 1);
  p.sync(1, t0 + 3ms, 2s); // the same count again: nothing changes
  CHECK(p.size() == 1);
  p.admit(300, 1, t0 + 4ms);
  p.sync(3, t0 + 5ms, 2s);
  CHECK(p.size() == 0);
  p.admit(10, 1, t0 + 6ms);
  p.sync(3, t0 + 3s, 2s); // never counted (it did not reach the group): dropped after max_age
  CHECK(p.size() == 0);
  p.admit(10, 1, t0 + 4s);
  p.sync(0, t0 + 4s, 2s); // a rebuilt group counts from 0: nothing of the old one is pending
  CHECK(p.size() == 0);
  p.admit(10, 1, t0 + 4s);
  p.sync(0, t0 + 4s, 2s);
  CHECK(p.size() == 1);
}
