#include "gpu/generation.hpp"

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <string>

namespace sy::gpu {

namespace {

struct latch {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  void arrive() {
    {
      std::lock_guard<std::mutex> l{m};
      done = true;
    }
    cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> l{m};
    cv.wait(l, [&] { return done; });
  }
};

struct running {
  int index = 0;   // into requests
  int fed = 0;     // tokens of prompt (then of generated) already in the cache
  bool decoding = false;
};

status check_request(const model_spec& spec, const generation_request& r, std::size_t i) {
  std::string who = "request " + std::to_string(i) + ": ";
  if (r.prompt.empty())
    return make_error("generate", who + "empty prompt");
  for (std::size_t t = 0; t < r.prompt.size(); ++t)
    if (r.prompt[t] < 0 || r.prompt[t] >= spec.vocab)
      return make_error("generate", who + "prompt token " + std::to_string(t) + " (" + std::to_string(r.prompt[t]) +
                                      ") is outside the vocabulary [0, " + std::to_string(spec.vocab) + ")");
  if (r.stop.max_new_tokens <= 0)
    return make_error("generate", who + "max_new_tokens must be positive, found " +
                                    std::to_string(r.stop.max_new_tokens));
  if (static_cast<long long>(r.prompt.size()) + r.stop.max_new_tokens - 1 > spec.max_seq)
    return make_error("generate", who + "prompt of " + std::to_string(r.prompt.size()) + " tokens + " +
                                    std::to_string(r.stop.max_new_tokens) + " new tokens exceeds max_seq " +
                                    std::to_string(spec.max_seq) + " of '" + spec.name + "'");
  if (auto st = r.sampling.check(); !st)
    return make_error("generate", who + st.err().message);
  return {};
}

} // namespace

result<std::vector<generation_result>> generate(pipeline& p, const std::vector<generation_request>& requests,
                                                const generation_options& o, generation_stats* stats) {
  const model_spec& spec = p.spec();
  if (spec.kind != arch::decoder)
    return make_error("generate", "'" + spec.name + "' is an encoder; generation needs a decoder");
  if (o.max_seqs <= 0 || o.token_budget <= 0)
    return make_error("generate", "max_seqs and token_budget must be positive, found " + std::to_string(o.max_seqs) +
                                    " and " + std::to_string(o.token_budget));
  for (std::size_t i = 0; i < requests.size(); ++i)
    if (auto st = check_request(spec, requests[i], i); !st)
      return st.err();

  const auto t0 = std::chrono::steady_clock::now();
  const int vocab = spec.vocab;
  std::vector<generation_result> out(requests.size());
  std::deque<int> waiting;
  for (std::size_t i = 0; i < requests.size(); ++i)
    waiting.push_back(static_cast<int>(i));
  std::vector<running> run;
  auto free_all = [&](int index) {
    for (int s = 0; s < p.stages(); ++s)
      (void)p.stage(s).free_sequence(p.id(), sequence_id{static_cast<std::uint64_t>(index)});
  };
  auto fail = [&](const error& e) {
    for (const auto& r : run)
      free_all(r.index);
    return e;
  };
  generation_stats st{};
  std::vector<std::int32_t> tokens;
  std::vector<float> logits;
  bool hold_admission = false; // after a preemption, until a sequence finishes
  // Token j of a sequence's context: its prompt, then what it generated (re-read after a preemption).
  auto context_token = [&](int index, int j) {
    const auto& prompt = requests[static_cast<std::size_t>(index)].prompt;
    return j < static_cast<int>(prompt.size())
             ? prompt[static_cast<std::size_t>(j)]
             : out[static_cast<std::size_t>(index)].tokens[static_cast<std::size_t>(j - static_cast<int>(prompt.size()))];
  };
  auto context_len = [&](int index) {
    return static_cast<int>(requests[static_cast<std::size_t>(index)].prompt.size() +
                            out[static_cast<std::size_t>(index)].tokens.size());
  };
  while (!waiting.empty() || !run.empty()) {
    // The batch: decodes of running sequences, then prefill chunks (running first, then new admissions).
    int budget = o.token_budget;
    step_request req;
    tokens.clear();
    std::vector<int> members; // indices into `run`, in req.seqs order
    for (std::size_t i = 0; i < run.size() && budget > 0; ++i)
      if (run[i].decoding) {
        req.seqs.push_back({sequence_id{static_cast<std::uint64_t>(run[i].index)}, 1});
        tokens.push_back(out[static_cast<std::size_t>(run[i].index)].tokens.back());
        members.push_back(static_cast<int>(i));
        --budget;
      }
    while (!hold_admission && !waiting.empty() && static_cast<int>(run.size()) < o.max_seqs) {
      run.push_back(running{waiting.front(), 0, false});
      waiting.pop_front();
    }
    for (std::size_t i = 0; i < run.size() && budget > 0; ++i) {
      if (run[i].decoding)
        continue;
      int n = std::min(budget, context_len(run[i].index) - run[i].fed);
      req.seqs.push_back({sequence_id{static_cast<std::uint64_t>(run[i].index)}, n});
      for (int j = run[i].fed; j < run[i].fed + n; ++j)
        tokens.push_back(context_token(run[i].index, j));
      members.push_back(static_cast<int>(i));
      budget -= n;
    }
    // Room on every stage first; out of KV blocks: preempt the newest sequence (recompute it later).
    bool room = true;
    for (int s = 0; s < p.stages() && room; ++s)
      if (auto e = p.stage(s).reserve(p.id(), req.seqs); !e) {
        if (e.err().category != "memory" || run.size() <= 1)
          return fail(e.err());
        room = false;
      }
    if (!room) {
      running victim = run.back();
      run.pop_back();
      free_all(victim.index);
      waiting.push_front(victim.index);
      hold_admission = true;
      ++st.preemptions;
      continue;
    }
    // One step through the stages, activations handed over on the devices.
    std::shared_ptr<device_activation> prev, next;
    logits.assign(req.seqs.size() * static_cast<std::size_t>(vocab), 0.0f);
    std::vector<double> stage_s(static_cast<std::size_t>(p.stages()), 0.0);
    for (int s = 0; s < p.stages(); ++s) {
      const auto enqueued = std::chrono::steady_clock::now();
      step_request r = req;
      r.tokens = tokens.data();
      r.input_activation = prev;
      if (s + 1 == p.stages())
        r.output = logits.data();
      else
        r.output_activation = &next;
      auto l = std::make_shared<latch>();
      if (auto e = p.stage(s).step(p.id(), r, [l] { l->arrive(); }); !e)
        return fail(e.err());
      l->wait();
      stage_s[static_cast<std::size_t>(s)] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - enqueued).count();
      if (auto h = p.stage(s).rank_device(0).health(); !h)
        return fail(h.err());
      prev = std::move(next);
    }
    ++st.steps;
    if (stats) {
      st.stage_seconds.push_back(std::move(stage_s));
      st.decode_only.push_back(std::all_of(members.begin(), members.end(), [&](int k) {
        return run[static_cast<std::size_t>(k)].decoding;
      }));
    }
    st.peak_kv_blocks = std::max(st.peak_kv_blocks, p.stage(0).rank_kv_pool(0).usage().blocks_used);
    const auto now = std::chrono::steady_clock::now() - t0;
    // Sample the rows that end a (re)fill or decode; retire the sequences that stop.
    std::vector<bool> retire(run.size(), false);
    for (std::size_t k = 0; k < members.size(); ++k) {
      running& r = run[static_cast<std::size_t>(members[k])];
      const auto& rq = requests[static_cast<std::size_t>(r.index)];
      auto& res = out[static_cast<std::size_t>(r.index)];
      r.fed += req.seqs[k].tokens;
      if (!r.decoding && r.fed < context_len(r.index))
        continue; // a prefill chunk in the middle of the context
      r.decoding = true;
      int token = sample_token(logits.data() + k * static_cast<std::size_t>(vocab), vocab, rq.sampling,
                               res.tokens.size());
      res.tokens.push_back(token);
      res.token_times.push_back(now);
      res.reason = stop_after(token, static_cast<int>(res.tokens.size()), rq.stop);
      if (res.reason != stop_reason::none) {
        free_all(r.index);
        retire[static_cast<std::size_t>(members[k])] = true;
        hold_admission = false;
      }
    }
    std::vector<running> kept;
    for (std::size_t i = 0; i < run.size(); ++i)
      if (!retire[i])
        kept.push_back(run[i]);
    run.swap(kept);
  }
  if (stats)
    *stats = st;
  return out;
}

} // namespace sy::gpu
