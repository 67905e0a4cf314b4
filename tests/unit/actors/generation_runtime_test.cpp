// Generation through the actors (issue 10 §2): request actors -> model_group (continuous batching) ->
// stage actors over the real engine on the cpu backend. The tokens must equal gpu::generate's (the
// engine-level loop, itself checked against transformers), unsplit and split; a sequence's tokens must not
// depend on who else runs; every request gets exactly one answer after its streamed tokens; and all KV
// blocks are back in the pools afterwards.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/internal/engine_stage_backend.hpp"
#include "actors/spawn.hpp"
#include "gpu/generation.hpp"
#include "gpu/shard.hpp"
#include "messages/type_ids.hpp"
#include "policies/runtime_registry.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;

namespace {

struct sys_config : caf::actor_system_config {
  sys_config() {
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
    messages::add_message_types(*this);
  }
};

std::vector<std::int32_t> some_tokens(const gpu::model_spec& s, int n, int salt) {
  std::vector<std::int32_t> t;
  for (int i = 0; i < n; ++i)
    t.push_back(static_cast<std::int32_t>((i * 7919 + 13 + salt * 31) % s.vocab));
  return t;
}

/// A model group with `pp` stages of `tp` cpu devices each, serving `spec` as "m" through the real engine.
struct runtime_rig {
  sys_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<gpu::backend> backend;
  std::vector<std::shared_ptr<actors::internal::engine_stage_backend>> stage_backends;
  std::vector<stage_actor> stages;
  model_group_actor group;

  runtime_rig(const gpu::model_spec& spec, const gpu::weight_set& w, int tp, int pp, int max_seqs = 16,
              int token_budget = 256, std::size_t budget = 256 << 20, bool swap = false) {
    gpu::backend_options o;
    o.kind = gpu::backend_kind::cpu;
    o.devices = tp * pp;
    o.cpu_threads = 1;
    o.budget_bytes = budget;
    backend = std::shared_ptr<gpu::backend>(gpu::make_cpu_backend(o).value().release());
    auto layout = gpu::even_layout(spec, tp, pp).value();
    gpu::weight_set_source src{w};
    std::int64_t bytes = 0;
    for (int s = 0; s < pp; ++s) {
      std::vector<int> devs;
      for (int r = 0; r < tp; ++r)
        devs.push_back(s * tp + r);
      auto exec = gpu::stage_executor::create(*backend, devs);
      REQUIRE(exec.ok());
      auto sb = std::make_shared<actors::internal::engine_stage_backend>(backend, std::move(*exec));
      std::vector<std::shared_ptr<const gpu::host_shard>> shards;
      for (int r = 0; r < tp; ++r) {
        auto plan = gpu::plan_shard(spec, layout, s, r, spec.type).value();
        shards.push_back(gpu::build_host_shard(plan, src, *backend).value());
      }
      REQUIRE(sb->add_model("m", model_id{0}, std::move(shards)).ok());
      bytes = std::max(bytes, sb->shard_bytes("m"));
      stage_backends.push_back(sb);
      stages.push_back(actors::spawn_stage(sys, s, sb, {}));
    }
    actors::model_group_init init;
    init.name = "g";
    init.stages = pp;
    init.budget_bytes = static_cast<std::int64_t>(budget);
    init.models = {{"m", bytes}};
    init.batching = *policies::make_batching("none", {});
    init.eviction = *policies::make_eviction("lru");
    init.preload = {"m"};
    init.generators = {{"m", spec.eos_token}};
    init.gen_max_seqs = max_seqs;
    init.gen_token_budget = token_budget;
    init.gen_swap = swap;
    group = actors::spawn_model_group(sys, std::move(init));
    caf::anon_send(group, attach_atom_v, stages);
  }

  /// A request actor for one generation (TTFT deadline `ttft` from now).
  request_actor request(std::chrono::nanoseconds ttft = 60s) {
    actors::request_init init;
    init.model = "m";
    init.arrival = init.dispatch = std::chrono::steady_clock::now();
    init.deadline = init.arrival + ttft;
    init.group_name = "g";
    init.group = group;
    return actors::spawn_request(sys, std::move(init));
  }

  /// KV blocks still handed out on every stage (after the stages processed everything sent so far).
  std::int64_t blocks_used() {
    std::int64_t n = 0;
    for (auto& sb : stage_backends)
      n += sb->kv().blocks_used;
    return n;
  }

  /// Stops the group and its stages and waits for them (so every release reached its stage).
  void stop() {
    caf::scoped_actor self{sys};
    self->request(group, 10s, stop_atom_v).receive([](const ack&) {}, [](caf::error&) {});
    for (auto& s : stages)
      self->request(s, 10s, stop_atom_v).receive([](const ack&) {}, [](caf::error&) {});
  }
};

generate_request make_request(std::uint64_t id, std::vector<std::int32_t> prompt, int max_new,
                              sampling_options so = {}) {
  generate_request r;
  r.id = request_id{id};
  r.model = "m";
  r.tokens = std::move(prompt);
  r.max_new_tokens = max_new;
  r.sampling = so;
  r.ignore_eos = true;
  return r;
}

std::vector<gpu::generation_result> reference(const gpu::model_spec& spec, const gpu::weight_set& w,
                                              const std::vector<generate_request>& reqs) {
  gpu::backend_options o;
  o.kind = gpu::backend_kind::cpu;
  o.devices = 1;
  o.cpu_threads = 1;
  auto b = gpu::make_cpu_backend(o).value();
  auto p = gpu::pipeline::create(*b, spec, gpu::even_layout(spec, 1, 1).value(), w).value();
  REQUIRE(p->load().ok());
  std::vector<gpu::generation_request> g;
  for (auto& r : reqs) {
    gpu::generation_request q;
    q.prompt = r.tokens;
    q.sampling = {r.sampling.temperature, r.sampling.top_k, r.sampling.top_p, r.sampling.seed};
    q.stop = {r.max_new_tokens, r.ignore_eos, spec.eos_token};
    g.push_back(q);
  }
  return gpu::generate(*p, g).value();
}

/// Sends every request at once (streams to `self`), returns the answers by id and the streamed frames.
struct run_out {
  std::map<std::uint64_t, generate_response> answers;
  std::map<std::uint64_t, std::vector<token_frame>> frames;
  std::map<std::uint64_t, int> answer_count;
  bool frame_after_answer = false;
};

run_out run_all(runtime_rig& rig, std::vector<generate_request> reqs, bool stream) {
  caf::scoped_actor self{rig.sys};
  run_out out;
  for (auto& r : reqs) {
    if (stream)
      r.stream = caf::actor_cast<token_sink_actor>(self);
    self->send(rig.request(), generate_atom_v, r);
  }
  std::size_t answered = 0;
  while (answered < reqs.size()) {
    bool timed_out = false;
    self->receive(
      [&](generate_response& resp) {
        ++out.answer_count[resp.id.value];
        out.answers[resp.id.value] = std::move(resp);
        ++answered;
      },
      [&](token_atom, token_frame& f) {
        if (out.answers.count(f.id.value))
          out.frame_after_answer = true;
        out.frames[f.id.value].push_back(f);
      },
      caf::after(60s) >> [&] { timed_out = true; });
    REQUIRE_FALSE(timed_out);
  }
  // frames that could still be on their way would come before the answers (same sender, in order)
  for (bool more = true; more;)
    self->receive([&](token_atom, token_frame&) { out.frame_after_answer = true; },
                  caf::after(std::chrono::milliseconds(0)) >> [&] { more = false; });
  return out;
}

} // namespace

TEST_CASE("greedy tokens generated through the actors equal gpu::generate's, unsplit, pp 2 and tp 2",
          "[actors][generation]") {
  auto spec = gpu::preset("tiny-gpt").value();
  auto weights = gpu::generate_weights(spec, 9);
  REQUIRE(weights.ok());
  const auto& w = *weights;
  std::vector<generate_request> reqs;
  for (int i = 0; i < 4; ++i)
    reqs.push_back(make_request(static_cast<std::uint64_t>(i + 1), some_tokens(spec, 3 + 4 * i, i), 6 + 2 * i));
  auto ref = reference(spec, w, reqs);
  for (auto [tp, pp] : {std::pair{1, 1}, std::pair{1, 2}, std::pair{2, 1}}) {
    INFO("tp " << tp << " pp " << pp);
    runtime_rig rig{spec, w, tp, pp};
    auto out = run_all(rig, reqs, true);
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      auto& a = out.answers.at(i + 1);
      INFO("request " << i + 1 << ": " << a.reason);
      REQUIRE(a.status == request_status::ok);
      CHECK(a.tokens == ref[i].tokens);
      CHECK(a.finish_reason == "length");
      CHECK(a.timings.token_times.size() == a.tokens.size());
      // streamed: every token, in order, before the answer
      std::vector<std::int32_t> streamed;
      for (std::size_t k = 0; k < out.frames[i + 1].size(); ++k) {
        CHECK(out.frames[i + 1][k].index == static_cast<std::int32_t>(k));
        streamed.push_back(out.frames[i + 1][k].token);
      }
      CHECK(streamed == a.tokens);
    }
    CHECK_FALSE(out.frame_after_answer);
    rig.stop();
    CHECK(rig.blocks_used() == 0);
  }
}

TEST_CASE("a sequence's tokens through the actors are the same alone and with 15 others joining and leaving",
          "[actors][generation]") {
  auto spec = gpu::preset("tiny-gpt").value();
  auto weights = gpu::generate_weights(spec, 4);
  REQUIRE(weights.ok());
  const auto& w = *weights;
  std::mt19937 rng(7);
  std::vector<generate_request> reqs;
  for (int i = 0; i < 16; ++i) {
    sampling_options so;
    if (i % 3 == 1)
      so = {0.8f, 20, 0.9f, 100 + static_cast<std::uint64_t>(i)};
    int prompt = 1 + static_cast<int>(rng() % 20), gen = 1 + static_cast<int>(rng() % 16);
    reqs.push_back(make_request(static_cast<std::uint64_t>(i + 1), some_tokens(spec, prompt, i), gen, so));
  }
  for (auto [tp, pp] : {std::pair{1, 1}, std::pair{1, 2}}) {
    INFO("tp " << tp << " pp " << pp);
    std::map<std::uint64_t, std::vector<std::int32_t>> alone;
    {
      runtime_rig rig{spec, w, tp, pp};
      for (auto& r : reqs)
        alone[r.id.value] = run_all(rig, {r}, false).answers.at(r.id.value).tokens;
      rig.stop();
      CHECK(rig.blocks_used() == 0);
    }
    // all together, 6 running at a time, prompts in chunks of at most 5 tokens per step
    runtime_rig rig{spec, w, tp, pp, 6, 5};
    auto out = run_all(rig, reqs, true);
    for (auto& r : reqs) {
      INFO("request " << r.id.value);
      CHECK(out.answer_count[r.id.value] == 1);
      CHECK(out.answers.at(r.id.value).status == request_status::ok);
      CHECK(out.answers.at(r.id.value).tokens == alone[r.id.value]);
      CHECK(static_cast<int>(alone[r.id.value].size()) == r.max_new_tokens);
    }
    rig.stop();
    CHECK(rig.blocks_used() == 0);
  }
}

TEST_CASE("out of KV blocks, sequences are preempted (recompute, or swap to the host and back) with the same "
          "tokens, unsplit and pp 2, and every block comes back", "[actors][generation]") {
  auto spec = gpu::preset("tiny-gpt").value();
  auto weights = gpu::generate_weights(spec, 5);
  REQUIRE(weights.ok());
  const auto& w = *weights;
  std::vector<generate_request> reqs;
  for (int i = 0; i < 8; ++i)
    reqs.push_back(make_request(static_cast<std::uint64_t>(i + 1), some_tokens(spec, 20, i), 40));
  auto ref = reference(spec, w, reqs);
  for (bool swap : {false, true})
    for (int pp : {1, 2}) {
      INFO((swap ? "gen_preemption swap" : "gen_preemption recompute") << ", pp " << pp);
      runtime_rig probe{spec, w, 1, pp};
      std::size_t shard = 0;
      for (auto& sb : probe.stage_backends)
        shard = std::max(shard, static_cast<std::size_t>(sb->shard_bytes("m")));
      probe.stop();
      // A budget with room for the weights and only a few KV blocks (tiny-gpt: 4 layers x 64 hidden x 16
      // tokens x 2 x 4 bytes = 32 KiB a block, half that per stage with pp 2), so the 8 sequences of 60 tokens
      // (4 blocks each) cannot all run at once.
      runtime_rig rig{spec, w, 1, pp, 16, 256, shard + (1 << 20) / static_cast<std::size_t>(pp), swap};
      auto out = run_all(rig, reqs, swap);
      int preemptions = 0;
      for (std::size_t i = 0; i < reqs.size(); ++i) {
        auto& a = out.answers.at(i + 1);
        INFO("request " << i + 1 << ": " << a.reason);
        REQUIRE(a.status == request_status::ok);
        CHECK(a.tokens == ref[i].tokens);
        preemptions += a.timings.preemptions;
      }
      CHECK(preemptions > 0);
      rig.stop(); // every release reached its stage
      std::int64_t outs = 0, ins = 0, dropped = 0;
      for (auto& sb : rig.stage_backends) {
        outs += sb->kv_swaps_out();
        ins += sb->kv_swaps_in();
        dropped += sb->kv_swaps_dropped();
      }
      INFO("swaps out " << outs << ", in " << ins << ", host copies dropped " << dropped << ", preemptions "
                        << preemptions);
      // With swap, unsplit, every preemption is on stage 0 and swaps. With pp 2 the last stage (it also holds
      // the head, so less KV room) runs out first: the earlier stage appended the step already, that KV is not
      // intact and those sequences recompute (the swap path needs a failure on stage 0). A swap in can also
      // fail on one stage (no free blocks there): the other stages' copies are dropped and it recomputes.
      if (!swap)
        CHECK(outs == 0);
      else if (pp == 1)
        CHECK(outs > 0);
      CHECK(ins + dropped == outs); // every host copy came back or was dropped: none is left behind
      CHECK(rig.blocks_used() == 0);
    }
}

TEST_CASE("a TTFT deadline that passes before the first token answers deadline_exceeded once, and the "
          "sequence's KV comes back", "[actors][generation]") {
  auto spec = gpu::preset("tiny-gpt").value();
  auto weights = gpu::generate_weights(spec, 6);
  REQUIRE(weights.ok());
  const auto& w = *weights;
  runtime_rig rig{spec, w, 1, 2};
  caf::scoped_actor self{rig.sys};
  // the deadline has passed already: the request's timer fires before any step can come back
  self->send(rig.request(-1ms), generate_atom_v, make_request(1, some_tokens(spec, 30, 1), 30));
  // a second one with time to spare runs to the end beside it
  self->send(rig.request(), generate_atom_v, make_request(2, some_tokens(spec, 5, 2), 8));
  std::map<std::uint64_t, generate_response> answers;
  std::map<std::uint64_t, int> count;
  for (int i = 0; i < 2; ++i)
    self->receive([&](generate_response& r) { ++count[r.id.value]; answers[r.id.value] = r; },
                  caf::after(60s) >> [] { FAIL("no answer"); });
  REQUIRE(answers.count(1));
  CHECK(answers[1].status == request_status::deadline_exceeded);
  CHECK(answers[1].code == error_code::deadline_exceeded);
  CHECK(answers[2].status == request_status::ok);
  CHECK(answers[2].tokens.size() == 8);
  self->receive([&](generate_response& r) { ++count[r.id.value]; }, caf::after(std::chrono::milliseconds(200)) >> [] {});
  CHECK(count[1] == 1);
  CHECK(count[2] == 1);
  rig.stop();
  CHECK(rig.blocks_used() == 0);
}

TEST_CASE("a cancel from the client side ends a running generation with one failed answer and frees its KV",
          "[actors][generation]") {
  // small-gpt (8 layers, max_seq 256): 250 new tokens take far longer than the cancel's trip
  auto spec = gpu::preset("small-gpt").value();
  auto weights = gpu::generate_weights(spec, 8);
  REQUIRE(weights.ok());
  const auto& w = *weights;
  runtime_rig rig{spec, w, 1, 1};
  caf::scoped_actor self{rig.sys};
  auto req = make_request(1, some_tokens(spec, 4, 1), 250);
  req.stream = caf::actor_cast<token_sink_actor>(self);
  auto who = rig.request();
  self->send(who, generate_atom_v, req);
  int frames = 0;
  caf::strong_actor_ptr sender;
  while (frames < 2)
    self->receive([&](token_atom, token_frame&) {
                    ++frames;
                    sender = self->current_sender();
                  },
                  caf::after(60s) >> [] { FAIL("no token"); });
  CHECK(sender == caf::actor_cast<caf::strong_actor_ptr>(who)); // frames come from the request's actor
  self->send(caf::actor_cast<caf::actor>(sender), cancel_atom_v); // the client left
  bool answered = false;
  while (!answered)
    self->receive([&](token_atom, token_frame&) {},
                  [&](generate_response& r) {
                    answered = true;
                    CHECK(r.status == request_status::failed);
                    CHECK(r.reason == "the client left");
                    CHECK(r.tokens.size() < 250);
                  },
                  caf::after(60s) >> [] { FAIL("no answer"); });
  rig.stop();
  CHECK(rig.blocks_used() == 0);
}

TEST_CASE("an unload of a model with a running generation waits until the sequence finished, which runs to "
          "its end", "[actors][generation]") {
  auto spec = gpu::preset("small-gpt").value();
  auto weights = gpu::generate_weights(spec, 2);
  REQUIRE(weights.ok());
  runtime_rig rig{spec, *weights, 1, 1};
  caf::scoped_actor self{rig.sys};
  auto req = make_request(1, some_tokens(spec, 4, 1), 200);
  req.stream = caf::actor_cast<token_sink_actor>(self);
  self->send(rig.request(), generate_atom_v, req);
  // the first token: the sequence runs; now ask for the model's eviction
  self->receive([](token_atom, token_frame&) {}, caf::after(60s) >> [] { FAIL("no token"); });
  self->send(rig.group, unload_atom_v, std::string{"m"}); // its ack comes back as an ordinary message
  std::vector<std::string> order;
  while (order.size() < 2)
    self->receive([](token_atom, token_frame&) {},
                  [&](generate_response& r) {
                    order.push_back("answer");
                    CHECK(r.status == request_status::ok);
                    CHECK(r.tokens.size() == 200);
                  },
                  [&](ack& a) {
                    order.push_back("unloaded");
                    CHECK(a.ok);
                  },
                  caf::after(60s) >> [] { FAIL("no answer"); });
  CHECK(order == std::vector<std::string>{"answer", "unloaded"});
  rig.stop();
  CHECK(rig.blocks_used() == 0);
}
