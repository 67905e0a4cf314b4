// The group's iteration scheduler (actors/internal/generation_queue.hpp) on its own: what each step holds,
// what a result turns into, preemption and cancellation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>

#include "actors/internal/generation_queue.hpp"

using namespace sy;
using namespace sy::messages;
using sy::actors::internal::generation_options;
using sy::actors::internal::generation_queue;

namespace {

queued_generation gen(std::uint64_t id, std::vector<std::int32_t> prompt, int max_new) {
  queued_generation q;
  q.id = request_id{id};
  q.model = "m";
  q.prompt = std::move(prompt);
  q.max_new_tokens = max_new;
  q.ignore_eos = false;
  return q;
}

std::vector<std::int32_t> tokens_of(const step_entry& e) {
  std::vector<std::int32_t> t(e.input.bytes.size() / sizeof(std::int32_t));
  std::memcpy(t.data(), e.input.bytes.data(), e.input.bytes.size());
  return t;
}

step_result ok_result(const step_entry& e, std::vector<std::int32_t> sampled) {
  return step_result{e.step_id, e.model, 0, std::move(sampled), duration{0}, {}, stage_error::none};
}

} // namespace

TEST_CASE("a step takes decodes first, then prefill chunks within the token budget, and admits at most "
          "max_seqs sequences", "[actors][generation]") {
  generation_queue q{generation_options{2, 4, 16}, /*eos*/ 99};
  q.enqueue(gen(1, {10, 11, 12}, 3));
  q.enqueue(gen(2, {20, 21}, 2));
  q.enqueue(gen(3, {30}, 1));
  time_point now{};
  auto s1 = q.plan(1, now);
  REQUIRE(s1);
  // two admitted (max_seqs 2): 3 tokens of the first, 1 of the second (budget 4)
  CHECK(s1->counts == std::vector<std::int32_t>{3, 1});
  CHECK(tokens_of(*s1) == std::vector<std::int32_t>{10, 11, 12, 20});
  CHECK(s1->sample == std::vector<std::int32_t>{0, -1}); // the second's prompt is not finished
  CHECK(q.running() == 2);
  CHECK(q.waiting() == 1);
  CHECK_FALSE(q.plan(2, now)); // both are in flight
  auto out = q.on_result(ok_result(*s1, {40, -1}), now);
  REQUIRE(out.tokens.size() == 1);
  CHECK(out.tokens[0].value == 40);
  CHECK(out.tokens[0].index == 0);
  auto s2 = q.plan(3, now);
  REQUIRE(s2);
  CHECK(s2->counts == std::vector<std::int32_t>{1, 1}); // the decode of 40, then the rest of the prompt
  CHECK(tokens_of(*s2) == std::vector<std::int32_t>{40, 21});
  CHECK(s2->sample == std::vector<std::int32_t>{1, 0});
  out = q.on_result(ok_result(*s2, {99, 50}), now); // 99 is eos: the first stops
  REQUIRE(out.finished.size() == 1);
  CHECK(out.finished[0]->req.id == request_id{1});
  CHECK(out.finish_reasons[0] == "eos");
  CHECK(out.release == std::vector<std::uint64_t>{s1->seqs[0]});
  auto s3 = q.plan(4, now); // the third is admitted now
  REQUIRE(s3);
  CHECK(s3->counts == std::vector<std::int32_t>{1, 1});
  out = q.on_result(ok_result(*s3, {51, 31}), now);
  CHECK(out.finished.size() == 2); // max_new_tokens 2 and 1
  CHECK(out.finish_reasons == std::vector<std::string>{"length", "length"});
  CHECK(q.idle());
  CHECK(q.blocks_held() == 0);
}

TEST_CASE("a step that ran out of KV blocks on stage 0 sends its newest sequence back to be recomputed under a "
          "fresh KV id, on a later stage all of its sequences, and a sequence that runs alone fails",
          "[actors][generation]") {
  generation_queue q{generation_options{4, 64, 16}, -1};
  q.enqueue(gen(1, {1, 2}, 5));
  auto a = q.plan(1, {});
  REQUIRE(a);
  q.on_result(ok_result(*a, {7}), {});
  q.enqueue(gen(2, {3, 4, 5}, 5));
  auto b = q.plan(2, {}); // the decode of 1 and the prefill of 2
  REQUIRE(b);
  REQUIRE(b->seqs.size() == 2);
  auto out = q.on_result(step_result{b->step_id, "m", 0, {}, duration{0}, "no room", stage_error::out_of_memory}, {});
  CHECK(out.preempted == 1);
  CHECK(out.failed.empty());
  CHECK(out.release == std::vector<std::uint64_t>{b->seqs[1]}); // only the newest loses its KV
  CHECK(q.waiting() == 1);
  auto c = q.plan(3, {}); // 1 alone (one fewer runs until a sequence finishes)
  REQUIRE(c);
  CHECK(c->seqs == std::vector<std::uint64_t>{b->seqs[0]});
  out = q.on_result(step_result{c->step_id, "m", 0, {}, duration{0}, "no room", stage_error::out_of_memory}, {});
  REQUIRE(out.failed.size() == 1); // alone and still no room
  CHECK(out.failed[0].first->req.id == request_id{1});
  CHECK(out.failed[0].second == stage_error::out_of_memory);

  generation_queue p{generation_options{4, 64, 16}, -1};
  p.enqueue(gen(1, {1, 2}, 2));
  p.enqueue(gen(2, {3, 4, 5}, 5));
  auto first = p.plan(1, {}); // 1 and 2 in flight
  REQUIRE(first);
  p.enqueue(gen(3, {6}, 5));
  auto second = p.plan(2, {}); // a second micro-batch: only 3 (the others are in flight)
  REQUIRE(second);
  REQUIRE(second->seqs.size() == 1);
  const auto third_kv = second->seqs[0];
  // on stage 1: stage 0 appended its tokens already, so all of the step's sequences lose their KV
  out = p.on_result(step_result{second->step_id, "m", 1, {}, duration{0}, "no room", stage_error::out_of_memory}, {});
  CHECK(out.preempted == 1);
  CHECK(out.failed.empty());
  CHECK(out.release == std::vector<std::uint64_t>{third_kv});
  CHECK(p.preemptions() == 1);
  CHECK(p.waiting() == 1);
  p.on_result(ok_result(*first, {7, 8}), {});
  auto next = p.plan(3, {}); // decodes of 1 and 2; 3 waits until a sequence finishes
  REQUIRE(next);
  CHECK(next->seqs.size() == 2);
  out = p.on_result(ok_result(*next, {9, 10}), {}); // 1 has its 2 tokens
  CHECK(out.finished.size() == 1);
  auto again = p.plan(4, {}); // 3 recomputed from its prompt under a fresh KV id
  REQUIRE(again);
  bool found = false;
  for (std::size_t k = 0; k < again->seqs.size(); ++k)
    if (again->counts[k] == 1 && again->sample[k] == 0) {
      found = true;
      CHECK(again->seqs[k] != third_kv);
    }
  CHECK(found);
}

TEST_CASE("a cancelled sequence in flight is forgotten when its step returns, its KV released then",
          "[actors][generation]") {
  generation_queue q{generation_options{4, 64, 16}, -1};
  auto g = gen(1, {1, 2, 3}, 5);
  q.enqueue(g);
  auto s = q.plan(1, {});
  REQUIRE(s);
  std::vector<std::uint64_t> release;
  CHECK(q.cancel(request_id{1}, caf::actor_addr{}, release));
  CHECK(release.empty()); // in flight: not yet
  auto out = q.on_result(ok_result(*s, {4}), {});
  CHECK(out.tokens.empty());
  CHECK(out.release == s->seqs);
  CHECK(q.idle());
  CHECK_FALSE(q.cancel(request_id{1}, caf::actor_addr{}, release));
}

TEST_CASE("with two stages the running sequences are split into two disjoint micro-batches in flight at once",
          "[actors][generation]") {
  generation_queue q{generation_options{8, 64, 16, 2}, -1};
  for (std::uint64_t i = 1; i <= 4; ++i)
    q.enqueue(gen(i, {1, 2, 3}, 4));
  auto a = q.plan(1, {});
  auto b = q.plan(2, {});
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->seqs.size() == 2);
  CHECK(b->seqs.size() == 2);
  for (auto id : a->seqs)
    CHECK(std::find(b->seqs.begin(), b->seqs.end(), id) == b->seqs.end());
  CHECK_FALSE(q.plan(3, {})); // every sequence is in flight
  CHECK(q.steps_in_flight() == 2);
}

TEST_CASE("the queue tells admission the prompt tokens still to prefill, the tokens left per running sequence "
          "and a step's prefill tokens", "[actors][generation]") {
  generation_queue q{generation_options{2, 4, 16}, /*eos*/ 99};
  q.enqueue(gen(1, {10, 11, 12}, 3));
  q.enqueue(gen(2, {20, 21}, 2));
  q.enqueue(gen(3, {30, 31, 32, 33, 34}, 6));
  auto l = q.load();
  CHECK(l.prefill_ahead == 3 + 2 + 5); // nothing admitted yet
  CHECK(l.running_left.empty());
  CHECK(l.waiting_new_tokens == Approx((3 + 2 + 6) / 3.0));
  time_point now{};
  auto s1 = q.plan(1, now); // admits 1 and 2 (max_seqs 2): 3 tokens of 1, 1 of 2 (budget 4)
  REQUIRE(s1);
  auto out = q.on_result(ok_result(*s1, {40, -1}), now);
  CHECK(out.prefill_tokens == 4);
  l = q.load();
  // 1 decodes now (2 tokens left), 2 has 1 prompt token left (2 new tokens to come), 3 waits (5 + 6)
  CHECK(l.prefill_ahead == 1 + 5);
  CHECK(l.running_left == std::vector<std::int32_t>{2, 2});
  CHECK(l.waiting_new_tokens == Approx(6));
  auto s2 = q.plan(2, now); // the decode of 1 and the last prompt token of 2
  REQUIRE(s2);
  out = q.on_result(ok_result(*s2, {41, 50}), now);
  CHECK(out.prefill_tokens == 1);
}

TEST_CASE("terms gives an in-flight step's decodes, their contexts and the pairs its prefill chunks attend",
          "[actors][generation]") {
  generation_queue q{generation_options{2, 4, 16}, /*eos*/ 99};
  q.enqueue(gen(1, {10, 11, 12}, 3));
  q.enqueue(gen(2, {20, 21}, 2));
  time_point now{};
  auto s1 = q.plan(1, now);
  REQUIRE(s1);
  // prefill chunks: 3 tokens behind 0 (6 pairs) and 1 behind 0 (1 pair); no decode
  auto t1 = q.terms(1);
  CHECK(t1.decodes == 0);
  CHECK(t1.context == 0);
  CHECK(t1.prefill_pairs == 6 + 1);
  (void)q.on_result(ok_result(*s1, {40, -1}), now);
  CHECK(q.terms(1).prefill_pairs == 0); // no longer in flight: unknown
  auto s2 = q.plan(2, now);
  REQUIRE(s2);
  // the first decodes (context 3 + 1 = 4), the second's last prompt token behind 1: 1 x 1 + 1 = 2 pairs
  CHECK(s2->counts == std::vector<std::int32_t>{1, 1});
  auto t2 = q.terms(2);
  CHECK(t2.decodes == 1);
  CHECK(t2.context == 4);
  CHECK(t2.prefill_pairs == 2);
}
