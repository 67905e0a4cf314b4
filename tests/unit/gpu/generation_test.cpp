// Generation through the sharded engine (stage_executor::step + gpu::generate) against the one-pass
// forward of the same engine: the step path (paged KV, per-sequence positions, last-row logits) must give
// the logits a full forward over the same prefix gives, for every split; and batching is invisible to a
// sequence.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "gpu/generation.hpp"

using namespace sy;
using namespace sy::gpu;

namespace {

struct rig {
  std::unique_ptr<backend> b;
  std::unique_ptr<pipeline> p;
};

rig make_rig(const model_spec& spec, const weight_set& w, int tp, int pp, std::size_t budget = 256 << 20) {
  backend_options o;
  o.kind = backend_kind::cpu;
  o.devices = tp * pp;
  o.cpu_threads = 1;
  o.budget_bytes = budget;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  auto layout = even_layout(spec, tp, pp);
  REQUIRE(layout.ok());
  auto p = pipeline::create(**b, spec, *layout, w);
  REQUIRE(p.ok());
  REQUIRE((*p)->load().ok());
  return rig{std::move(*b), std::move(*p)};
}

std::vector<std::int32_t> some_tokens(const model_spec& s, int n, int salt) {
  std::vector<std::int32_t> t;
  for (int i = 0; i < n; ++i)
    t.push_back(static_cast<std::int32_t>((i * 7919 + 13 + salt * 31) % s.vocab));
  return t;
}

int argmax(const float* row, int n) {
  return static_cast<int>(std::max_element(row, row + n) - row);
}

double max_rel_diff(const float* a, const float* b, int n) {
  double m = 0, scale = 1e-6;
  for (int i = 0; i < n; ++i) {
    m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return m / scale;
}

/// One step of `seqs` through every stage of the pipeline; returns [seqs, vocab] logits.
std::vector<float> step_all(pipeline& p, const std::vector<step_sequence>& seqs, const std::vector<std::int32_t>& tokens) {
  std::shared_ptr<device_activation> prev, next;
  std::vector<float> logits(seqs.size() * static_cast<std::size_t>(p.spec().vocab));
  for (int s = 0; s < p.stages(); ++s) {
    step_request r;
    r.seqs = seqs;
    r.tokens = tokens.data();
    r.input_activation = prev;
    if (s + 1 == p.stages())
      r.output = logits.data();
    else
      r.output_activation = &next;
    REQUIRE(p.stage(s).step(p.id(), r, stage_executor::done_fn{}).ok());
    REQUIRE(p.stage(s).rank_device(0).synchronize(p.stage(s).rank_device(0).compute_stream()).ok());
    for (int k = 0; k < p.stage(s).tp(); ++k)
      REQUIRE(p.stage(s).rank_device(k).synchronize(p.stage(s).rank_device(k).compute_stream()).ok());
    prev = std::move(next);
  }
  return logits;
}

/// A Llama-shaped tiny model: RMSNorm, rotary positions with llama3 scaling, GQA, SwiGLU, tied head.
model_spec tiny_llama() {
  auto s = preset("tiny-gpt").value();
  s.name = "tiny-llama";
  s.fam = family::llama;
  s.kv_heads = 2;
  s.norm = norm_kind::rms_norm;
  s.norm_eps = 1e-6f;
  s.ffn_act = ffn_kind::silu_gated;
  s.positions = position_kind::rotary;
  s.rope_theta = 500000;
  s.rope_scaling = rope_scaling_spec{"llama3", 8, 1, 4, 16};
  s.qkv_bias = s.attn_out_bias = s.ffn_bias = false;
  s.tied_head = true;
  s.head_bias = false;
  return s;
}

} // namespace

TEST_CASE("prefill chunks and decode steps give the logits of a one-pass forward over the same prefix, for "
          "every split, with learned or rotary positions",
          "[gpu][generation]") {
  for (const auto& spec : {preset("tiny-gpt").value(), tiny_llama()}) {
  INFO(spec.name);
  auto w = generate_weights(spec, 5);
  REQUIRE(w.ok());
  const int V = spec.vocab;
  // Sequence a: prompt 7 in one chunk, then 3 decode steps; b: prompt 5 in chunks 3 + 2, joins at step 1;
  // c: decode-only from one token.
  auto a = some_tokens(spec, 10, 1), b = some_tokens(spec, 8, 2), c = some_tokens(spec, 4, 3);
  struct part {
    std::uint64_t id;
    int from, n;
  };
  std::vector<std::vector<part>> steps{
    {{0, 0, 7}, {2, 0, 1}},
    {{0, 7, 1}, {1, 0, 3}, {2, 1, 1}},
    {{1, 3, 2}, {0, 8, 1}, {2, 2, 1}},
    {{0, 9, 1}, {1, 5, 1}, {2, 3, 1}},
  };
  const std::vector<std::int32_t>* seq_tokens[3] = {&a, &b, &c};
  auto ref_rig = make_rig(spec, *w, 1, 1);
  for (auto [tp, pp] : {std::pair{1, 1}, std::pair{2, 1}, std::pair{1, 2}, std::pair{2, 2}}) {
    INFO("tp " << tp << " pp " << pp);
    auto r = make_rig(spec, *w, tp, pp);
    for (const auto& st : steps) {
      std::vector<step_sequence> seqs;
      std::vector<std::int32_t> tokens;
      for (const auto& x : st) {
        seqs.push_back({sequence_id{x.id}, x.n});
        tokens.insert(tokens.end(), seq_tokens[x.id]->begin() + x.from, seq_tokens[x.id]->begin() + x.from + x.n);
      }
      auto logits = step_all(*r.p, seqs, tokens);
      for (std::size_t k = 0; k < st.size(); ++k) {
        const auto& x = st[k];
        std::vector<std::int32_t> prefix(seq_tokens[x.id]->begin(), seq_tokens[x.id]->begin() + x.from + x.n);
        auto ref = ref_rig.p->run(prefix, 1);
        REQUIRE(ref.ok());
        INFO("sequence " << x.id << " at " << x.from + x.n << " tokens");
        CHECK(max_rel_diff(logits.data() + k * V, ref->data(), V) < 1e-4);
        CHECK(argmax(logits.data() + k * V, V) == argmax(ref->data(), V));
      }
    }
    for (int s = 0; s < r.p->stages(); ++s) {
      CHECK(r.p->stage(s).cached_tokens(r.p->id(), sequence_id{1}) == 6);
      for (std::uint64_t id : {0, 1, 2})
        REQUIRE(r.p->stage(s).free_sequence(r.p->id(), sequence_id{id}).ok());
      for (int k = 0; k < r.p->stage(s).tp(); ++k)
        CHECK(r.p->stage(s).rank_kv_pool(k).usage().blocks_used == 0);
    }
  }
  }
}

TEST_CASE("greedy generation follows the one-pass forward's arg max token by token", "[gpu][generation]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 9);
  REQUIRE(w.ok());
  auto r = make_rig(spec, *w, 1, 1);
  generation_request q;
  q.prompt = some_tokens(spec, 6, 4);
  q.stop.max_new_tokens = 12;
  auto out = generate(*r.p, {q});
  REQUIRE(out.ok());
  REQUIRE((*out)[0].tokens.size() == 12);
  CHECK((*out)[0].reason == stop_reason::length);
  std::vector<std::int32_t> ctx = q.prompt;
  for (int t : (*out)[0].tokens) {
    auto ref = r.p->run(ctx, 1);
    REQUIRE(ref.ok());
    CHECK(t == argmax(ref->data(), spec.vocab));
    ctx.push_back(t);
  }
}

TEST_CASE("a sequence's tokens are the same alone and in a batch with others of different lengths",
          "[gpu][generation]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 3);
  REQUIRE(w.ok());
  std::vector<generation_request> reqs;
  for (int i = 0; i < 6; ++i) {
    generation_request q;
    q.prompt = some_tokens(spec, 2 + 5 * i, i);
    q.stop.max_new_tokens = 4 + 3 * i;
    if (i % 2 == 1) {
      q.sampling.temperature = 0.8f;
      q.sampling.top_k = 20;
      q.sampling.top_p = 0.9f;
      q.sampling.seed = 100 + static_cast<std::uint64_t>(i);
    }
    reqs.push_back(q);
  }
  for (auto [tp, pp] : {std::pair{1, 1}, std::pair{2, 2}}) {
    INFO("tp " << tp << " pp " << pp);
    auto r = make_rig(spec, *w, tp, pp);
    generation_options small;
    small.max_seqs = 4;    // the later ones join as earlier ones leave
    small.token_budget = 7; // prompts go in chunks
    generation_stats stats;
    auto batched = generate(*r.p, reqs, small, &stats);
    REQUIRE(batched.ok());
    CHECK(stats.steps > 10);
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      auto alone = generate(*r.p, {reqs[i]});
      REQUIRE(alone.ok());
      INFO("request " << i);
      CHECK((*alone)[0].tokens == (*batched)[i].tokens);
      CHECK((*batched)[i].tokens.size() == static_cast<std::size_t>(reqs[i].stop.max_new_tokens));
    }
    for (int s = 0; s < r.p->stages(); ++s)
      for (int k = 0; k < r.p->stage(s).tp(); ++k)
        CHECK(r.p->stage(s).rank_kv_pool(k).usage().blocks_used == 0);
  }
}

TEST_CASE("generation stops at eos unless it is ignored", "[gpu][generation]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 9);
  REQUIRE(w.ok());
  auto r = make_rig(spec, *w, 1, 1);
  generation_request q;
  q.prompt = some_tokens(spec, 6, 4);
  q.stop.max_new_tokens = 12;
  auto free_run = generate(*r.p, {q});
  REQUIRE(free_run.ok());
  q.stop.eos_token = (*free_run)[0].tokens[3]; // the 4th token becomes eos
  auto stopped = generate(*r.p, {q});
  REQUIRE(stopped.ok());
  auto first = std::find((*free_run)[0].tokens.begin(), (*free_run)[0].tokens.end(), q.stop.eos_token);
  std::vector<std::int32_t> want((*free_run)[0].tokens.begin(), first + 1);
  CHECK((*stopped)[0].tokens == want);
  CHECK((*stopped)[0].reason == stop_reason::eos);
  q.stop.ignore_eos = true;
  auto ignored = generate(*r.p, {q});
  REQUIRE(ignored.ok());
  CHECK((*ignored)[0].tokens == (*free_run)[0].tokens);
}

TEST_CASE("bad generation requests and steps are refused with precise errors", "[gpu][generation]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 1);
  REQUIRE(w.ok());
  auto r = make_rig(spec, *w, 1, 1);
  generation_request q;
  q.prompt = some_tokens(spec, 60, 0);
  q.stop.max_new_tokens = 10;
  CHECK(generate(*r.p, {q}).err().message ==
        "request 0: prompt of 60 tokens + 10 new tokens exceeds max_seq 64 of 'tiny-gpt'");
  q.prompt = {1, 9999};
  CHECK(generate(*r.p, {q}).err().message ==
        "request 0: prompt token 1 (9999) is outside the vocabulary [0, 512)");
  q.prompt = {1};
  q.sampling.top_p = 0;
  CHECK(generate(*r.p, {q}).err().message == "request 0: top_p must be in (0, 1], found 0.000000");
  std::vector<std::int32_t> tokens{1, 2};
  std::vector<float> logits(2 * 512);
  step_request sr;
  sr.seqs = {{sequence_id{1}, 1}, {sequence_id{1}, 1}};
  sr.tokens = tokens.data();
  sr.output = logits.data();
  CHECK(r.p->stage(0).step(r.p->id(), sr, stage_executor::done_fn{}).err().message == "model 1: sequence 1 is twice in one step");
  sr.seqs = {{sequence_id{1}, 0}};
  CHECK(r.p->stage(0).step(r.p->id(), sr, stage_executor::done_fn{}).err().message ==
        "model 1: sequence 1 has 0 new tokens in a step (at least 1)");
}

TEST_CASE("out of kv blocks, the newest sequence is preempted and recomputed with the same tokens",
          "[gpu][generation]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 1);
  REQUIRE(w.ok());
  std::vector<generation_request> reqs(12);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].prompt = some_tokens(spec, 20 + static_cast<int>(i), static_cast<int>(i));
    reqs[i].stop.max_new_tokens = 20;
    if (i % 3 == 0) {
      reqs[i].sampling.temperature = 1.0f;
      reqs[i].sampling.seed = i;
    }
  }
  generation_options o;
  o.max_seqs = 12;
  o.token_budget = 64;
  auto roomy = make_rig(spec, *w, 1, 2);
  generation_stats free_stats;
  auto want = generate(*roomy.p, reqs, o, &free_stats);
  REQUIRE(want.ok());
  CHECK(free_stats.preemptions == 0);
  // A budget with room for the weights, a step's workspace and about a third of the sequences' KV.
  const std::size_t weights = roomy.p->stage(0).shard_bytes(roomy.p->id()).value();
  const std::size_t block = roomy.p->stage(0).rank_kv_pool(0).block_tokens() * std::size_t{2} * 2 * spec.hidden * 4;
  auto tight = make_rig(spec, *w, 1, 2, weights + (std::size_t{256} << 10) + 12 * block);
  generation_stats stats;
  auto got = generate(*tight.p, reqs, o, &stats);
  INFO((got.ok() ? std::string{"ok"} : got.err().to_string()));
  REQUIRE(got.ok());
  INFO("peak blocks " << stats.peak_kv_blocks << " weights " << weights << " block " << block);
  CHECK(stats.preemptions > 0);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    INFO("request " << i);
    CHECK((*got)[i].tokens == (*want)[i].tokens);
  }
  for (int s = 0; s < tight.p->stages(); ++s)
    CHECK(tight.p->stage(s).rank_kv_pool(0).usage().blocks_used == 0);
}

TEST_CASE("a sequence that alone does not fit the kv budget fails with a memory error and leaks no blocks",
          "[gpu][generation]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 1);
  REQUIRE(w.ok());
  auto probe = make_rig(spec, *w, 1, 1);
  const std::size_t weights = probe.p->stage(0).shard_bytes(probe.p->id()).value();
  auto r = make_rig(spec, *w, 1, 1, weights + (std::size_t{64} << 10));
  generation_request q;
  q.prompt = some_tokens(spec, 60, 1);
  q.stop.max_new_tokens = 2;
  auto out = generate(*r.p, {q});
  REQUIRE_FALSE(out.ok());
  CHECK(out.err().category == "memory");
  CHECK_THAT(out.err().message, Catch::Contains("kv blocks"));
  CHECK(r.p->stage(0).rank_kv_pool(0).usage().blocks_used == 0);
}

TEST_CASE("a sequence swapped out to host memory and back continues with the logits it would have had, on "
          "every split",
          "[gpu][generation]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 5);
  REQUIRE(w.ok());
  const int V = spec.vocab;
  auto a = some_tokens(spec, 20, 1), b = some_tokens(spec, 9, 2);
  for (auto [tp, pp] : {std::pair{1, 1}, std::pair{2, 1}, std::pair{1, 2}}) {
    INFO("tp " << tp << " pp " << pp);
    auto kept = make_rig(spec, *w, tp, pp), swapped = make_rig(spec, *w, tp, pp);
    // Both: prefill a (19 tokens: more than one 16-token block) and b; then `swapped` swaps a out, runs b
    // alone for a step, swaps a back in; then both decode a and b.
    std::vector<std::int32_t> pre(a.begin(), a.begin() + 19);
    pre.insert(pre.end(), b.begin(), b.begin() + 8);
    std::vector<step_sequence> prefill{{sequence_id{1}, 19}, {sequence_id{2}, 8}};
    step_all(*kept.p, prefill, pre);
    step_all(*swapped.p, prefill, pre);
    auto& p = *swapped.p;
    std::vector<std::int64_t> used_before;
    for (int s = 0; s < p.stages(); ++s)
      used_before.push_back(static_cast<std::int64_t>(p.stage(s).rank_kv_pool(0).usage().blocks_used));
    for (int s = 0; s < p.stages(); ++s) {
      auto bytes = p.stage(s).swap_out_sequence(p.id(), sequence_id{1});
      REQUIRE(bytes.ok());
      CHECK(*bytes > 0);
      CHECK(p.stage(s).cached_tokens(p.id(), sequence_id{1}) == 0);
      CHECK(p.stage(s).swapped_out(p.id(), sequence_id{1}));
      CHECK_FALSE(p.stage(s).swapped_out(p.id(), sequence_id{2}));
      CHECK_FALSE(p.stage(s).swap_out_sequence(p.id(), sequence_id{1}).ok()); // twice: refused
      CHECK(static_cast<std::int64_t>(p.stage(s).rank_kv_pool(0).usage().blocks_used) <
            used_before[static_cast<std::size_t>(s)]);
    }
    std::vector<std::int32_t> one{b[8]};
    auto lb = step_all(*kept.p, {{sequence_id{2}, 1}}, one);
    auto lb2 = step_all(p, {{sequence_id{2}, 1}}, one);
    CHECK(max_rel_diff(lb2.data(), lb.data(), V) < 1e-5);
    for (int s = 0; s < p.stages(); ++s) {
      REQUIRE(p.stage(s).swap_in_sequence(p.id(), sequence_id{1}).ok());
      CHECK_FALSE(p.stage(s).swap_in_sequence(p.id(), sequence_id{1}).ok()); // not swapped out any more
      CHECK_FALSE(p.stage(s).swapped_out(p.id(), sequence_id{1}));
      CHECK(p.stage(s).cached_tokens(p.id(), sequence_id{1}) == 19);
    }
    std::vector<std::int32_t> dec{a[19]};
    auto la = step_all(*kept.p, {{sequence_id{1}, 1}}, dec);
    auto la2 = step_all(p, {{sequence_id{1}, 1}}, dec);
    CHECK(max_rel_diff(la2.data(), la.data(), V) < 1e-5);
    CHECK(argmax(la2.data(), V) == argmax(la.data(), V));
    // Freed while swapped out: the host copy goes, and no block is left behind.
    REQUIRE(p.stage(0).swap_out_sequence(p.id(), sequence_id{2}).ok());
    for (int s = 0; s < p.stages(); ++s) {
      for (std::uint64_t id : {1, 2})
        REQUIRE(p.stage(s).free_sequence(p.id(), sequence_id{id}).ok());
      CHECK_FALSE(p.stage(s).swapped_out(p.id(), sequence_id{2}));
      CHECK_FALSE(p.stage(s).swap_in_sequence(p.id(), sequence_id{2}).ok());
      for (int k = 0; k < p.stage(s).tp(); ++k)
        CHECK(p.stage(s).rank_kv_pool(k).usage().blocks_used == 0);
    }
  }
}
