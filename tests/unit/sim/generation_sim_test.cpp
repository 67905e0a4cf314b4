// The simulator's generation kernel (sim/generation_sim.cpp): continuous batching per (group, model) as the
// runtime's generation_queue plans steps, KV capacity and preemption, micro-batches over pipeline stages,
// admission and the TTFT deadline. Hand-computed cases and invariants on a random trace.
#include <catch2/catch.hpp>

#include <random>

#include "sim/simulator.hpp"
#include "sim/summary.hpp"
#include "sim_fixtures.hpp"

using namespace sy;
using sy::test::entry;
using sy::test::group;

namespace {

/// An entry with generation costs: per stage gen_step_s a, prefill p per token, decode d per sequence,
/// c per context token, kv bytes per token.
policies::profile_entry gen_entry(const std::string& model, int pp, double a, double p, double d, double c,
                                  double kv, std::int64_t weight = 100) {
  auto e = entry(model, 1, pp, std::vector<double>(static_cast<std::size_t>(pp), 0.05), weight);
  const auto n = static_cast<std::size_t>(pp);
  e.gen_step_s.assign(n, a);
  e.prefill_s_per_token.assign(n, p);
  e.decode_s_per_seq.assign(n, d);
  e.decode_s_per_ctx.assign(n, c);
  e.kv_bytes_per_token.assign(n, kv);
  return e;
}

sim::trace_request gen(double arrival, int model, int input, int output, double ttft_s = 0, double tpot_s = 0) {
  sim::trace_request r;
  r.arrival_s = arrival;
  r.model = model;
  r.input_tokens = input;
  r.slo_s = ttft_s;
  r.output_tokens = output;
  r.tpot_slo_s = tpot_s;
  return r;
}

struct run_result {
  std::vector<sim::request_record> rec;
  policies::evaluation eval;
  sim::generation_stats stats;
};

run_result run(const std::vector<policies::profile_entry>& entries, const std::vector<std::string>& models,
               std::vector<sim::trace_request> reqs, const std::vector<policies::group_placement>& groups,
               sim::sim_options opt = {}) {
  auto table = policies::profile_table::build(models, entries);
  REQUIRE(table.ok());
  sim::trace t;
  t.models = models;
  t.requests = std::move(reqs);
  auto p = sim::prepare(t, *table, 1e6); // one-pass SLO huge: generation SLOs only where a request has one
  REQUIRE(p.ok());
  policies::placement pl;
  pl.groups = groups;
  sim::simulator s(*table, opt);
  run_result r;
  auto e = s.run(pl, *p, 0, p->arrival.size(), &r.rec);
  REQUIRE(e.ok());
  r.eval = *e;
  r.stats = s.last_generation();
  return r;
}

sim::sim_options big_memory() {
  sim::sim_options o;
  o.mem_budget_bytes = 1e12;
  return o;
}

} // namespace

TEST_CASE("a tiny generation case matches the hand-computed continuous-batching schedule", "[sim][gen]") {
  // A: input 10, 3 new tokens at t=0; B: input 4, 2 new tokens at t=0.005. Step = 0.01 + 0.001/prefill token
  // + 0.002/decode + 0.0001/context token of the decodes.
  //   step 1 [0, 0.02]: A prefills 10 -> A's token 1 at 0.02 (B waits: one step in flight with pp 1)
  //   step 2 [0.02, 0.0371]: A decodes (context 11), B prefills 4: 0.01 + 0.004 + 0.002 + 0.0011
  //   step 3 [0.0371, 0.0528]: A (context 12) and B (context 5) decode: 0.01 + 0.004 + 0.0017
  auto r = run({gen_entry("a", 1, 0.01, 0.001, 0.002, 0.0001, 1)}, {"a"}, {gen(0, 0, 10, 3), gen(0.005, 0, 4, 2)},
               {group(1, 1, {0})}, big_memory());
  REQUIRE(r.rec.size() == 2);
  const auto& a = r.rec[0];
  const auto& b = r.rec[1];
  CHECK(a.status == sim::request_status::ok);
  CHECK(b.status == sim::request_status::ok);
  CHECK(a.first_token == Approx(0.02).epsilon(1e-12));
  CHECK(b.first_token == Approx(0.0371).epsilon(1e-12));
  CHECK(a.finish == Approx(0.0528).epsilon(1e-12));
  CHECK(b.finish == Approx(0.0528).epsilon(1e-12));
  CHECK(a.new_tokens == 3);
  CHECK(b.new_tokens == 2);
  CHECK(b.start == Approx(0.02)); // admitted when step 1 came back
  CHECK(r.stats.steps == 3);
  CHECK(r.stats.tokens == 5);
  CHECK(r.eval.good == 2);
  auto s = sim::summarize(r.rec, {0, 0}, {"a"}, 0);
  CHECK(s.overall.gen.requests == 2);
  CHECK(s.overall.gen.tpot_p99_s == Approx((0.0528 - 0.02) / 2)); // A: 0.0164, B: 0.0157
}

TEST_CASE("a prefill chunk pays prefill_s_per_pair for every (new token, context token) pair it attends",
          "[sim][gen]") {
  // Step = 0.01 + 0.001/prefill token + 0.002/decode, pairs 1e-4 each. One request, input 10, 2 new tokens.
  auto e = gen_entry("a", 1, 0.01, 0.001, 0.002, 0, 1);
  e.prefill_s_per_pair = {1e-4};
  SECTION("one chunk: 10 tokens behind 0 attend 55 pairs") {
    // step 1 [0, 0.0255]: 0.01 + 0.010 + 0.0055; step 2 [0.0255, 0.0375]: a decode, 0.01 + 0.002
    auto r = run({e}, {"a"}, {gen(0, 0, 10, 2)}, {group(1, 1, {0})}, big_memory());
    CHECK(r.rec[0].first_token == Approx(0.0255).epsilon(1e-12));
    CHECK(r.rec[0].finish == Approx(0.0375).epsilon(1e-12));
  }
  SECTION("two chunks (token budget 6): 6 behind 0 attend 21 pairs, 4 behind 6 attend 34") {
    // step 1 [0, 0.0181]: 0.01 + 0.006 + 0.0021; step 2 [0.0181, 0.0355]: 0.01 + 0.004 + 0.0034;
    // step 3 [0.0355, 0.0475]: the decode
    auto opt = big_memory();
    opt.gen.token_budget = 6;
    auto r = run({e}, {"a"}, {gen(0, 0, 10, 2)}, {group(1, 1, {0})}, opt);
    CHECK(r.rec[0].first_token == Approx(0.0355).epsilon(1e-12));
    CHECK(r.rec[0].finish == Approx(0.0475).epsilon(1e-12));
    CHECK(r.stats.steps == 3);
  }
  SECTION("absent (older profiles, the cost model): the linear model alone") {
    auto r = run({gen_entry("a", 1, 0.01, 0.001, 0.002, 0, 1)}, {"a"}, {gen(0, 0, 10, 2)}, {group(1, 1, {0})},
                 big_memory());
    CHECK(r.rec[0].first_token == Approx(0.02).epsilon(1e-12));
  }
}

TEST_CASE("with two pipeline stages two micro-batches of disjoint sequences are in flight", "[sim][gen]") {
  // Two sequences at t=0, input 10, 1 token each: a step takes ceil(2 / 2) = 1 sequence. Per stage 0.02 s.
  // A: stage 0 [0, 0.02], stage 1 [0.02, 0.04]; B: stage 0 [0.02, 0.04], stage 1 [0.04, 0.06].
  auto r = run({gen_entry("a", 1, 0.01, 0.001, 0, 0, 1), gen_entry("a", 2, 0.01, 0.001, 0, 0, 1)}, {"a"},
               {gen(0, 0, 10, 1), gen(0, 0, 10, 1)}, {group(1, 2, {0})}, big_memory());
  CHECK(r.rec[0].finish == Approx(0.04).epsilon(1e-12));
  CHECK(r.rec[1].finish == Approx(0.06).epsilon(1e-12));
  CHECK(r.rec[1].first_token == r.rec[1].finish);
  CHECK(r.stats.steps == 2);
}

TEST_CASE("generation invariants hold on a random trace under KV pressure: one record each, tokens conserved, "
          "TTFT <= e2e, KV never over capacity", "[sim][gen]") {
  std::mt19937_64 rng{7};
  std::uniform_int_distribution<int> in(5, 60), out(1, 40);
  std::exponential_distribution<double> gap(50);
  std::vector<sim::trace_request> reqs;
  double t = 0;
  long want_tokens = 0;
  for (int i = 0; i < 200; ++i) {
    t += gap(rng);
    reqs.push_back(gen(t, 0, in(rng), out(rng)));
    want_tokens += reqs.back().output_tokens;
  }
  reqs.push_back(sim::trace_request{t + 0.001, 1, 8, 0}); // a one-pass request beside them
  sim::sim_options o;
  // KV: 2 x 100 weight bytes + 24 blocks of 16 tokens x 1 byte per GPU; a sequence needs at most 7 blocks.
  // (One generating model: a lone sequence of one model can fail when another model's sequences hold the
  // shared blocks, as in the runtime, whose preemption is per model.)
  o.mem_budget_bytes = 2 * 100 + 24 * 16;
  auto r = run({gen_entry("a", 1, 0.002, 0.0001, 0.0005, 0.00001, 1), entry("c", 1, 1, {0.01}, 100)}, {"a", "c"}, reqs,
               {group(1, 1, {0, 1})}, o);
  REQUIRE(r.rec.size() == reqs.size());
  long tokens = 0;
  for (std::size_t i = 0; i + 1 < reqs.size(); ++i) {
    const auto& x = r.rec[i];
    INFO("request " << i);
    REQUIRE(x.status == sim::request_status::ok);
    CHECK(x.new_tokens == reqs[i].output_tokens);
    CHECK(x.first_token >= x.arrival);
    CHECK(x.first_token - x.arrival <= x.finish - x.arrival);
    CHECK(x.start >= x.arrival);
    tokens += x.new_tokens;
  }
  CHECK(tokens == want_tokens);
  CHECK(r.stats.tokens == want_tokens);
  CHECK(r.stats.requests == 200);
  CHECK(r.stats.preemptions > 0);             // the KV was too small for everyone at once
  CHECK(r.stats.peak_kv_fraction <= 1.0);
  CHECK(r.stats.peak_kv_fraction > 0.5);
  CHECK(r.rec.back().status == sim::request_status::ok); // the one-pass request, by the compat kernel
  CHECK(r.rec.back().new_tokens == 0);
  CHECK(r.eval.requests == 201);
  CHECK(r.eval.good == 201);
}

TEST_CASE("a sequence that does not fit the KV cache alone fails; the others are unaffected", "[sim][gen]") {
  sim::sim_options o;
  o.mem_budget_bytes = 100 + 4 * 16; // 4 blocks: 64 tokens
  auto r = run({gen_entry("a", 1, 0.01, 0.001, 0.002, 0, 1)}, {"a"}, {gen(0, 0, 100, 2), gen(1, 0, 10, 2)},
               {group(1, 1, {0})}, o);
  CHECK(r.rec[0].status == sim::request_status::failed);
  CHECK(std::string{sim::reason_of(r.rec[0], 0)} == "no room in the KV cache even for this sequence alone");
  CHECK(r.rec[1].status == sim::request_status::ok);
}

TEST_CASE("admission refuses a predicted TTFT over the SLO and a late first token is deadline_exceeded",
          "[sim][gen]") {
  // batch-1 one-pass latency 0.05 (x 1.009, the compat penalty): a TTFT SLO of 0.04 cannot be met.
  auto r = run({gen_entry("a", 1, 0.01, 0.001, 0.002, 0, 1)}, {"a"}, {gen(0, 0, 10, 2, 0.04), gen(1, 0, 10, 2, 0.2)},
               {group(1, 1, {0})}, big_memory());
  CHECK(r.rec[0].status == sim::request_status::rejected);
  CHECK(r.rec[0].finish == 0);
  CHECK(r.rec[1].status == sim::request_status::ok);
  auto s = sim::summarize(r.rec, {0, 0}, {"a"}, 0);
  CHECK(s.overall.gen.requests == 2); // the refused one counts (no tokens, yet a generation request)
  CHECK(s.overall.gen.attainment == 0.5);
  // without admission: the prefill of 100 tokens (0.11 s) passes the 0.05 s deadline
  auto o = big_memory();
  o.gen.admission = false;
  auto late = run({gen_entry("a", 1, 0.01, 0.001, 0.002, 0, 1)}, {"a"}, {gen(0, 0, 100, 2, 0.05)}, {group(1, 1, {0})}, o);
  CHECK(late.rec[0].status == sim::request_status::deadline_exceeded);
  CHECK(late.rec[0].finish == Approx(0.05));
  CHECK(late.rec[0].new_tokens == 0);
  CHECK(std::string{sim::to_string(late.rec[0].status)} == "deadline_exceeded");
}

TEST_CASE("TPOT over its SLO is measured, not killed: the request is ok but not good", "[sim][gen]") {
  auto r = run({gen_entry("a", 1, 0.01, 0.001, 0.002, 0, 1)}, {"a"}, {gen(0, 0, 10, 5, 1.0, 0.005)},
               {group(1, 1, {0})}, big_memory());
  CHECK(r.rec[0].status == sim::request_status::ok);
  CHECK(r.rec[0].new_tokens == 5);
  CHECK(r.eval.good == 0); // TPOT 0.012 > 0.005
  auto s = sim::summarize(r.rec, {0}, {"a"}, 0);
  CHECK(s.overall.gen.tpot_misses == 1);
  CHECK(s.overall.gen.attainment == 0);
}

TEST_CASE("generation requests for an entry without generation costs are refused, naming the model", "[sim][gen]") {
  auto table = policies::profile_table::build({"enc"}, {entry("enc", 1, 1, {0.01}, 100)});
  REQUIRE(table.ok());
  sim::trace t;
  t.models = {"enc"};
  t.requests = {gen(0, 0, 10, 2)};
  auto p = sim::prepare(t, *table, 5);
  REQUIRE(p.ok());
  policies::placement pl;
  pl.groups = {group(1, 1, {0})};
  sim::simulator s(*table, big_memory());
  auto e = s.run(pl, *p);
  REQUIRE_FALSE(e.ok());
  CHECK(e.err().message.find("model 'enc' (op 1, pp 1) has generation requests, but its profile entry has no "
                             "generation costs") != std::string::npos);
}

TEST_CASE("one-pass requests beside generation requests get the records they get alone", "[sim][gen]") {
  std::vector<sim::trace_request> one{{0.0, 1, 1, 0}, {0.01, 1, 1, 0}, {0.5, 1, 1, 0}};
  auto entries = std::vector<policies::profile_entry>{gen_entry("a", 1, 0.01, 0.001, 0.002, 0, 1),
                                                      entry("c", 1, 1, {0.02}, 100)};
  auto alone = run(entries, {"a", "c"}, one, {group(1, 1, {0, 1})}, big_memory());
  auto mixed_reqs = one;
  mixed_reqs.insert(mixed_reqs.begin() + 1, gen(0.005, 0, 10, 3));
  auto mixed = run(entries, {"a", "c"}, mixed_reqs, {group(1, 1, {0, 1})}, big_memory());
  REQUIRE(mixed.rec.size() == 4);
  for (std::size_t i : {0, 2, 3}) {
    const auto& x = mixed.rec[i];
    const auto& y = alone.rec[i == 0 ? 0 : i - 1];
    CHECK(x.finish == y.finish);
    CHECK(x.status == y.status);
    CHECK(x.new_tokens == 0);
  }
  CHECK(mixed.rec[1].new_tokens == 3);
}

TEST_CASE("a model TTFT SLO below 0 means none (a deployment model without ttft_ms), 0 the one-pass SLO", "[sim][gen]") {
  auto table = policies::profile_table::build({"a"}, {gen_entry("a", 1, 0.01, 0.001, 0.002, 0, 1)});
  REQUIRE(table.ok());
  sim::trace t;
  t.models = {"a"};
  t.requests = {gen(0, 0, 10, 2)};
  auto none = sim::prepare(t, *table, 1, {}, {-1.0}, {});
  REQUIRE(none.ok());
  CHECK(none->ttft_slo[0] == 0);
  auto fallback = sim::prepare(t, *table, 1, {}, {0.0}, {});
  REQUIRE(fallback.ok());
  CHECK(fallback->ttft_slo[0] == Approx(static_cast<double>(fallback->model_slo[0])));
  auto given = sim::prepare(t, *table, 1, {}, {0.25}, {0.02});
  REQUIRE(given.ok());
  CHECK(given->ttft_slo[0] == 0.25);
  CHECK(given->tpot_slo[0] == 0.02);
}

TEST_CASE("the runtime's hop and request overheads from the profile delay the steps and the first token as "
          "hand-computed", "[sim][gen]") {
  // pp 2, per stage 0.01 + 0.001/prefill token; gen_hop_s 0.002 (3 hops per step), gen_request_s 0.005.
  // One request at t=0, input 10, 2 new tokens (decode: 0.01 per stage, no per-sequence/context terms):
  //   reaches the group at 0.005; step 1: stage 0 [0.007, 0.027], stage 1 [0.029, 0.049], back at 0.051
  //   (first token); step 2: stage 0 [0.053, 0.063], stage 1 [0.065, 0.075], back at 0.077 (finish).
  auto e1 = gen_entry("a", 1, 0.01, 0.001, 0, 0, 1);
  auto e2 = gen_entry("a", 2, 0.01, 0.001, 0, 0, 1);
  e2.gen_hop_s = 0.002;
  e2.gen_request_s = 0.005;
  auto r = run({e1, e2}, {"a"}, {gen(0, 0, 10, 2)}, {group(1, 2, {0})}, big_memory());
  REQUIRE(r.rec.size() == 1);
  CHECK(r.rec[0].status == sim::request_status::ok);
  CHECK(r.rec[0].first_token == Approx(0.051).epsilon(1e-12));
  CHECK(r.rec[0].finish == Approx(0.077).epsilon(1e-12));
  CHECK(r.rec[0].start == Approx(0.005).epsilon(1e-12)); // admitted when it reached the group
  // The hops occupy no stage: a second sequence's step enters stage 0 as soon as stage 0 is free.
  auto two = run({e1, e2}, {"a"}, {gen(0, 0, 10, 1), gen(0, 0, 10, 1)}, {group(1, 2, {0})}, big_memory());
  // A: stage 0 [0.007, 0.027], stage 1 [0.029, 0.049] -> 0.051; B (planned at 0.005 too, pp 2 micro-batches):
  // stage 0 [0.027, 0.047] (free after A, hop already passed), stage 1 [0.049, 0.069] -> 0.071.
  CHECK(two.rec[0].finish == Approx(0.051).epsilon(1e-12));
  CHECK(two.rec[1].finish == Approx(0.071).epsilon(1e-12));
  // Without the overheads (profile fields 0) the same case gives the engine-only times.
  auto plain = run({e1, gen_entry("a", 2, 0.01, 0.001, 0, 0, 1)}, {"a"}, {gen(0, 0, 10, 2)}, {group(1, 2, {0})},
                   big_memory());
  CHECK(plain.rec[0].first_token == Approx(0.04).epsilon(1e-12));
  CHECK(plain.rec[0].finish == Approx(0.06).epsilon(1e-12));
}

namespace {

sim::sim_options swapping_budget(double bytes) {
  sim::sim_options o;
  o.mode = sim::sim_mode::swapping;
  o.mem_budget_bytes = bytes;
  return o;
}

/// A one-stage decoder of 100 bytes: steps 0.01 s + 0.001 s per prefill token, decodes 0.01 s, load 0.1 s.
policies::profile_entry swap_entry(const std::string& model) {
  auto e = gen_entry(model, 1, 0.01, 0.001, 0, 0, 0.01);
  e.load_seconds = {0.1};
  return e;
}

} // namespace

TEST_CASE("swapping generation: a placed model that is not resident loads on its first request, evicting an idle "
          "one, as hand-computed", "[sim][gen][swap]") {
  // Budget 150 bytes: a (first in the group) is resident, b is not. b's request at t=0 (input 10, 1 token):
  // a is idle, so it is evicted; b's load is ready at 0.1; its step runs [0.1, 0.12].
  auto r = run({swap_entry("a"), swap_entry("b")}, {"a", "b"}, {gen(0, 1, 10, 1)}, {group(1, 1, {0, 1})},
               swapping_budget(150));
  REQUIRE(r.rec.size() == 1);
  CHECK(r.rec[0].status == sim::request_status::ok);
  CHECK(r.rec[0].finish == Approx(0.12).epsilon(1e-12));
  CHECK(r.rec[0].load_wait == Approx(0.1).epsilon(1e-12));
  // With room for both (budget 250) b is resident from the start: no load.
  auto both = run({swap_entry("a"), swap_entry("b")}, {"a", "b"}, {gen(0, 1, 10, 1)}, {group(1, 1, {0, 1})},
                  swapping_budget(250));
  CHECK(both.rec[0].finish == Approx(0.02).epsilon(1e-12));
  CHECK(both.rec[0].load_wait == 0);
  // The batching mode keeps every placed model resident (no load) whatever the budget.
  auto resident = run({swap_entry("a"), swap_entry("b")}, {"a", "b"}, {gen(0, 1, 10, 1)}, {group(1, 1, {0, 1})},
                      [] { auto o = swapping_budget(1e12); o.mode = sim::sim_mode::batching; return o; }());
  CHECK(resident.rec[0].finish == Approx(0.02).epsilon(1e-12));
}

TEST_CASE("swapping generation: a model with running sequences is never evicted; the load waits until it is idle",
          "[sim][gen][swap]") {
  // a at t=0: input 10, 5 tokens: prefill [0, 0.02] (token 1), decodes end at 0.03, 0.04, 0.05, 0.06.
  // b at t=0.001 needs a's room: a runs (pinned), so b waits; at 0.06 a is idle and evicted, b loads until
  // 0.16 and its step runs [0.16, 0.18]. load_wait: 0.16 - 0.06 (from its admission).
  auto r = run({swap_entry("a"), swap_entry("b")}, {"a", "b"}, {gen(0, 0, 10, 5), gen(0.001, 1, 10, 1)},
               {group(1, 1, {0, 1})}, swapping_budget(150));
  REQUIRE(r.rec.size() == 2);
  CHECK(r.rec[0].status == sim::request_status::ok);
  CHECK(r.rec[0].finish == Approx(0.06).epsilon(1e-12));
  CHECK(r.rec[0].load_wait == 0);
  CHECK(r.rec[1].status == sim::request_status::ok);
  CHECK(r.rec[1].finish == Approx(0.18).epsilon(1e-12));
  CHECK(r.rec[1].start == Approx(0.06).epsilon(1e-12));
  CHECK(r.rec[1].load_wait == Approx(0.1).epsilon(1e-12));
  // A model bigger than the budget never loads: its requests fail, the others are served.
  auto big = swap_entry("b");
  big.weight_bytes = {1000};
  auto f = run({swap_entry("a"), big}, {"a", "b"}, {gen(0, 0, 10, 1), gen(0, 1, 10, 1)}, {group(1, 1, {0, 1})},
               swapping_budget(150));
  CHECK(f.rec[0].status == sim::request_status::ok);
  CHECK(f.rec[1].status == sim::request_status::failed);
}

TEST_CASE("cpu devices sharing one core: a step that starts while the other stage computes takes twice as long",
          "[sim][gen][cpu_share]") {
  // As above, per stage 0.02 s. host_cores 1: A: stage 0 [0, 0.02], stage 1 [0.02, 0.04] (alone each time);
  // B: stage 0 starts at 0.02 while A's stage 1 computes -> 2 x 0.02: [0.02, 0.06]; stage 1 then alone
  // [0.06, 0.08]. host_cores 2: as without sharing.
  auto opt = big_memory();
  opt.host_cores = 1;
  const std::vector<policies::profile_entry> entries{gen_entry("a", 1, 0.01, 0.001, 0, 0, 1),
                                                     gen_entry("a", 2, 0.01, 0.001, 0, 0, 1)};
  auto one = run(entries, {"a"}, {gen(0, 0, 10, 1), gen(0, 0, 10, 1)}, {group(1, 2, {0})}, opt);
  CHECK(one.rec[0].finish == Approx(0.04).epsilon(1e-12));
  CHECK(one.rec[1].finish == Approx(0.08).epsilon(1e-12));
  opt.host_cores = 2;
  auto two = run(entries, {"a"}, {gen(0, 0, 10, 1), gen(0, 0, 10, 1)}, {group(1, 2, {0})}, opt);
  CHECK(two.rec[0].finish == Approx(0.04).epsilon(1e-12));
  CHECK(two.rec[1].finish == Approx(0.06).epsilon(1e-12));
}

TEST_CASE("costs fitted to live steps (gen_fitted_live) already hold the cores' sharing: they are not stretched",
          "[sim][gen][cpu_share]") {
  // The case above with host_cores 1: B's stage 0 overlaps A's stage 1; marked live, it keeps its 0.02 s.
  auto opt = big_memory();
  opt.host_cores = 1;
  auto live = gen_entry("a", 2, 0.01, 0.001, 0, 0, 1);
  live.gen_fitted_live = true;
  auto r = run({gen_entry("a", 1, 0.01, 0.001, 0, 0, 1), live}, {"a"}, {gen(0, 0, 10, 1), gen(0, 0, 10, 1)},
               {group(1, 2, {0})}, opt);
  CHECK(r.rec[0].finish == Approx(0.04).epsilon(1e-12));
  CHECK(r.rec[1].finish == Approx(0.06).epsilon(1e-12));
}

TEST_CASE("a step cost spread (gen_step_sdlog) draws each step's cost around the model: mean kept, spread as "
          "asked, the same draws for the same seed", "[sim][gen]") {
  // One sequence decoding 400 tokens alone: each decode step costs 0.01 s on its one stage.
  const auto plain = gen_entry("a", 1, 0.01, 0, 0, 0, 1);
  auto spread = plain;
  spread.gen_step_sdlog = {0.3};
  auto none = spread;
  none.gen_step_sdlog = {0.0};
  const std::vector<sim::trace_request> one{gen(0, 0, 1, 401)};
  auto base = run({plain}, {"a"}, one, {group(1, 1, {0})}, big_memory());
  auto zero = run({none}, {"a"}, one, {group(1, 1, {0})}, big_memory());
  CHECK(zero.rec[0].finish == base.rec[0].finish); // sdlog 0: no draw, the same schedule
  auto a = run({spread}, {"a"}, one, {group(1, 1, {0})}, big_memory());
  auto b = run({spread}, {"a"}, one, {group(1, 1, {0})}, big_memory());
  CHECK(a.rec[0].finish == b.rec[0].finish); // deterministic
  // 401 steps of mean 0.01: the total within 3 standard errors (0.01 x sqrt(e^0.09 - 1) x sqrt(401) x 3)
  CHECK(a.rec[0].finish == Approx(base.rec[0].finish).margin(0.01 * 0.307 * std::sqrt(401.0) * 3));
  CHECK(a.rec[0].finish != base.rec[0].finish);
  auto opt = big_memory();
  opt.gen.noise_seed = 2;
  auto c = run({spread}, {"a"}, one, {group(1, 1, {0})}, opt);
  CHECK(c.rec[0].finish != a.rec[0].finish);
  // The spread itself: many single-token requests apart from each other; their latencies' log spread
  // (84th - 16th percentile) / 2 is the sdlog asked for.
  std::vector<sim::trace_request> apart;
  for (int i = 0; i < 2000; ++i)
    apart.push_back(gen(i * 1.0, 0, 1, 1));
  auto d = run({spread}, {"a"}, apart, {group(1, 1, {0})}, big_memory());
  std::vector<double> logs;
  for (std::size_t i = 0; i < d.rec.size(); ++i)
    logs.push_back(std::log((d.rec[i].finish - d.rec[i].arrival) / 0.01));
  std::sort(logs.begin(), logs.end());
  const double sd = (logs[static_cast<std::size_t>(0.84 * 1999)] - logs[static_cast<std::size_t>(0.16 * 1999)]) / 2;
  CHECK(sd == Approx(0.3).epsilon(0.1));
}
