#include "apps/profile_measure.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "apps/least_squares.hpp"
#include "gpu/backend.hpp"
#include "gpu/engine.hpp"
#include "gpu/generation.hpp"
#include "gpu/kv_cache.hpp"
#include "gpu/pipeline.hpp"
#include "gpu/shard.hpp"
#include "gpu/weights.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

/// Runs an executor operation that reports completion by callback and waits for it.
template <class Start>
status wait_for(Start start) {
  auto done = std::make_shared<std::promise<void>>();
  auto f = done->get_future();
  if (auto st = start([done] { done->set_value(); }); !st)
    return st;
  f.wait();
  return {};
}

std::vector<std::int32_t> tokens_for(const gpu::model_spec& spec, int batch, int seq) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(batch) * static_cast<std::size_t>(seq));
  for (std::size_t i = 0; i < t.size(); ++i)
    t[i] = static_cast<std::int32_t>((static_cast<long long>(i) * 7919 + 13) % spec.vocab);
  return t;
}

} // namespace

status measure_generation(gpu::pipeline& pl, const gpu::model_spec& spec, const gpu::parallel_layout& layout,
                          gpu::dtype kv_type, int reps, policies::profile_entry& e) {
  if (spec.kind != gpu::arch::decoder)
    return {};
  // Per stage, the seconds of the measured (not warm-up) runs' decode-only steps and of their prefill steps
  // (gpu::generate times each stage of a step): how the costs split over the stages.
  const auto pp = static_cast<std::size_t>(e.config.pp);
  std::vector<double> decode_stage(pp, 0.0), prefill_stage(pp, 0.0);
  bool time_decodes = false, time_prefills = false; // add this run's decode-only / prefill step times
  auto run = [&](int batch, int prompt, int new_tokens) -> result<std::vector<gpu::generation_result>> {
    std::vector<gpu::generation_request> rq(static_cast<std::size_t>(batch));
    for (std::size_t i = 0; i < rq.size(); ++i) {
      auto t = tokens_for(spec, 1, prompt);
      t[0] = static_cast<std::int32_t>((static_cast<long long>(i) * 31 + 5) % spec.vocab); // distinct prompts
      rq[i].prompt = std::move(t);
      rq[i].stop = gpu::stop_params{new_tokens, true, spec.eos_token};
    }
    gpu::generation_options go;
    go.max_seqs = batch;
    go.token_budget = std::max(512, batch * prompt);
    gpu::generation_stats stats;
    auto g = gpu::generate(pl, rq, go, &stats);
    if (g)
      for (std::size_t i = 0; i < stats.stage_seconds.size(); ++i)
        for (std::size_t k = 0; k < pp && k < stats.stage_seconds[i].size(); ++k)
          if (stats.decode_only[i] ? time_decodes : time_prefills)
            (stats.decode_only[i] ? decode_stage : prefill_stage)[k] += stats.stage_seconds[i][k];
    return g;
  };
  // Prefill: the time to the first (only) token of one sequence at three prompt lengths, the longest as long
  // as the model takes (up to 512): the cpu engine's prefill grows with the square of the prompt.
  const int pa = std::max(2, std::min(8, spec.max_seq / 8)), pb = std::max(pa + 2, std::min(512, spec.max_seq - 1));
  const int pm = (pa + pb) / 2;
  // The three lengths take turns in each repetition, so that the host's load moving between them (other
  // tenants' builds) shifts all three alike rather than bending the fit.
  std::array<std::vector<double>, 3> first_token;
  const std::array<int, 3> prompts{pa, pm, pb};
  for (int r = 0; r <= reps; ++r) // the first repetition warms up
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      time_prefills = r > 0 && prompts[i] == pb; // the stages' split of prefill: the longest prompt
      auto g = run(1, prompts[i], 1);
      if (!g)
        return g.err();
      if (r > 0)
        first_token[i].push_back(g->front().token_times.front().count());
    }
  time_prefills = false;
  const double ta = median(first_token[0]), tm = median(first_token[1]), tb = median(first_token[2]);
  const auto prefill = fit_prefill({std::pair{double(pa), ta}, std::pair{double(pm), tm}, std::pair{double(pb), tb}});
  // Decode: TPOT of b sequences decoding together at two context lengths; least squares on
  // tpot = a + c1 * b + c2 * b * context (context: the mean over the decoded tokens).
  const int new_tokens = 9;
  const int ca = pa, cb = std::max(ca + 1, std::min(256, spec.max_seq - new_tokens - 1));
  std::array<std::array<double, 3>, 3> ata{};
  std::array<double, 3> aty{};
  int points = 0;
  for (int batch : {1, 4, 16})
    for (int ctx : {ca, cb}) {
      std::vector<double> v;
      bool ok = true;
      for (int r = 0; r <= reps && ok; ++r) {
        time_decodes = r > 0;
        auto g = run(batch, ctx, new_tokens);
        if (!g) { // e.g. a batch whose KV does not fit: fewer points
          ok = false;
          break;
        }
        if (r == 0)
          continue;
        std::vector<double> per_seq;
        for (const auto& x : *g)
          per_seq.push_back((x.token_times.back() - x.token_times.front()).count() / (new_tokens - 1));
        v.push_back(median(per_seq));
      }
      if (!ok)
        continue;
      const double y = median(v), bctx = batch * (ctx + new_tokens / 2.0);
      const std::array<double, 3> row{1.0, static_cast<double>(batch), bctx};
      for (std::size_t i = 0; i < 3; ++i) {
        for (std::size_t j = 0; j < 3; ++j)
          ata[i][j] += row[i] * row[j];
        aty[i] += row[i] * y;
      }
      ++points;
    }
  // Non-negative least squares: a coefficient that comes out negative (noise, tiny models) is fixed at 0 and
  // the others refitted without it.
  const auto x = points < 3 ? std::nullopt : nnls_normal(ata, aty);
  if (!x)
    return make_error("profile", "model '" + spec.name + "': too few decode measurements fit the device budget (" +
                                   std::to_string(points) + " of 6) to fit the decode cost model");
  const double a = (*x)[0], c1 = (*x)[1], c2 = (*x)[2];
  // Per stage: the totals split in proportion to the stages' measured times in these runs, decode-only steps
  // for the step and decode terms, prefill steps for the prefill term. (The one-pass latencies' split, used
  // where a kind of step was not timed, put 57% of small-gpt's decode on its last stage; its live decode
  // steps spent 68% there: the output head of a one-row step is a large share of it.)
  auto shares = [&](const std::vector<double>& timed_s) {
    double total = 0, one_pass = 0;
    for (double x : timed_s)
      total += x;
    for (double l : e.stage_latency[0])
      one_pass += l;
    std::vector<double> out(pp, 1.0 / static_cast<double>(pp));
    for (std::size_t k = 0; k < pp; ++k)
      if (total > 0)
        out[k] = timed_s[k] / total;
      else if (one_pass > 0)
        out[k] = e.stage_latency[0][k] / one_pass;
    return out;
  };
  const auto decode_share = shares(decode_stage), prefill_share = shares(prefill_stage);
  for (std::size_t k = 0; k < pp; ++k) {
    e.gen_step_s.push_back(a * decode_share[k]);
    e.prefill_s_per_token.push_back(prefill.per_token * prefill_share[k]);
    e.prefill_s_per_pair.push_back(prefill.per_pair * prefill_share[k]);
    e.decode_s_per_seq.push_back(c1 * decode_share[k]);
    e.decode_s_per_ctx.push_back(c2 * decode_share[k]);
    auto kv = gpu::make_kv_layout(spec, layout.stage_bounds[k], layout.stage_bounds[k + 1], layout.tp, kv_type);
    if (!kv)
      return kv.err();
    e.kv_bytes_per_token.push_back(static_cast<double>(kv->block_bytes(1)));
  }
  return {};
}

namespace {

/// One (model, config) on `b`; an error says why the config was skipped.
result<policies::profile_entry> measure_one(gpu::backend& b, const gpu::model_spec& spec,
                                            const gpu::weight_set& weights, policies::parallel_config c,
                                            const measure_options& o) {
  auto layout = gpu::even_layout(spec, c.op, c.pp);
  if (!layout)
    return layout.err();
  if (c.gpus() > b.device_count())
    return make_error("profile", "needs " + std::to_string(c.gpus()) + " devices, " +
                                   std::to_string(b.device_count()) + " open");
  auto p = gpu::pipeline::create(b, spec, *layout, weights);
  if (!p)
    return p.err();
  auto& pl = **p;
  const auto id = pl.id();
  const int seq = std::min(o.seq, spec.max_seq);
  policies::profile_entry e;
  e.model = spec.name;
  e.config = c;
  // Loads: stage by stage, so that each stage's time is its own copy.
  std::vector<std::vector<double>> loads(static_cast<std::size_t>(pl.stages()));
  for (int rep = 0; rep < o.reps; ++rep) {
    for (int s = 0; s < pl.stages(); ++s) {
      const auto t0 = clock_type::now();
      if (auto st = wait_for([&](std::function<void()> done) { return pl.stage(s).load(id, std::move(done)); }); !st) {
        (void)pl.evict();
        return st.err();
      }
      loads[static_cast<std::size_t>(s)].push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
    }
    if (rep + 1 < o.reps)
      if (auto st = pl.evict(); !st)
        return st.err();
  }
  for (int s = 0; s < pl.stages(); ++s) {
    e.load_seconds.push_back(median(loads[static_cast<std::size_t>(s)]));
    auto bytes = pl.stage(s).shard_bytes(id);
    if (!bytes)
      return bytes.err();
    e.weight_bytes.push_back(static_cast<double>(*bytes));
  }
  // Forwards at each batch size; a batch that does not fit ends the rows (entries hold a prefix).
  for (int batch : policies::profile_batch_sizes) {
    const auto tokens = tokens_for(spec, batch, seq);
    std::vector<std::int64_t> act;
    bool fits = true;
    for (int s = 0; s < pl.stages() && fits; ++s) {
      auto w = pl.stage(s).workspace_bytes(id, batch, seq);
      if (!w)
        return w.err();
      fits = e.weight_bytes[static_cast<std::size_t>(s)] + static_cast<double>(*w) <=
             static_cast<double>(pl.stage(s).rank_device(0).memory_budget());
      act.push_back(static_cast<std::int64_t>(*w));
    }
    if (!fits)
      break;
    std::vector<double> times;
    if (auto r = pl.run(tokens, batch, &times); !r) { // warm-up
      if (batch == 1)
        return r.err();
      break;
    }
    std::vector<std::vector<double>> per_stage(static_cast<std::size_t>(pl.stages()));
    for (int rep = 0; rep < o.reps; ++rep) {
      if (auto r = pl.run(tokens, batch, &times); !r)
        return r.err();
      for (std::size_t s = 0; s < times.size(); ++s)
        per_stage[s].push_back(times[s]);
    }
    std::vector<double> row;
    for (const auto& v : per_stage)
      row.push_back(median(v));
    e.stage_latency.push_back(std::move(row));
    e.act_bytes.push_back(std::move(act));
  }
  if (e.stage_latency.empty()) {
    (void)pl.evict();
    return make_error("memory", "a batch-1 forward does not fit the device budget");
  }
  if (o.generation)
    if (auto st = measure_generation(pl, spec, *layout, gpu::compute_type(spec, pl.stage(0).rank_device(0)), o.reps, e);
        !st) {
      (void)pl.evict();
      return st.err();
    }
  (void)pl.evict();
  if (auto st = e.validate(); !st)
    return st.err();
  return e;
}

} // namespace

cpu_capacity measure_cpu_capacity() {
  cpu_capacity out;
  out.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  out.capacity = 1;
  if (out.threads == 1)
    return out;
  // About 10 ms of dependent multiply-adds per thread on a cache-resident array: compute-bound like the
  // device threads' GEMMs, no memory traffic to share.
  auto kernel = [] {
    std::array<float, 1024> a{};
    a.fill(1.0f);
    const auto t0 = clock_type::now();
    for (int r = 0; r < 4000; ++r)
      for (auto& x : a)
        x = x * 0.99999f + 0.00001f;
    volatile float sink = a[7];
    (void)sink;
    return std::chrono::duration<double>(clock_type::now() - t0).count();
  };
  std::vector<double> caps;
  for (int rep = 0; rep < 5; ++rep) {
    const double alone = kernel();
    std::vector<std::future<double>> all;
    for (int i = 0; i < out.threads; ++i)
      all.push_back(std::async(std::launch::async, kernel));
    std::vector<double> together;
    for (auto& f : all)
      together.push_back(f.get());
    std::sort(together.begin(), together.end());
    const double t = together[together.size() / 2];
    caps.push_back(std::clamp(out.threads * alone / t, 1.0, static_cast<double>(out.threads)));
  }
  std::sort(caps.begin(), caps.end());
  out.capacity = caps[caps.size() / 2];
  return out;
}

result<cpu_capacity> measure_engine_capacity(const std::vector<gpu::model_spec>& models, const measure_options& o) {
  if (models.empty())
    return make_error("profile", "engine capacity: no model to run");
  auto size = [](const gpu::model_spec& m) {
    return static_cast<double>(m.layers) * m.hidden * (static_cast<double>(m.hidden) + m.ffn);
  };
  const auto& spec = *std::max_element(models.begin(), models.end(),
                                       [&](const auto& a, const auto& b) { return size(a) < size(b); });
  gpu::backend_options bo;
  bo.kind = gpu::backend_kind::cpu;
  bo.devices = std::max(1, o.devices);
  bo.budget_bytes = o.budget_bytes;
  bo.cpu_threads = o.cpu_threads;
  auto b = gpu::open_devices(bo);
  if (!b)
    return b.err();
  const int n = (*b)->device_count();
  auto layout = gpu::even_layout(spec, 1, 1);
  if (!layout)
    return layout.err();
  auto weights = gpu::generate_weights(spec, 1);
  if (!weights)
    return weights.err();
  std::vector<std::unique_ptr<gpu::pipeline>> pls;
  for (int d = 0; d < n; ++d) {
    auto p = gpu::pipeline::create(**b, spec, *layout, *weights, d);
    if (!p)
      return make_error("profile", "engine capacity: " + spec.name + " on device " + std::to_string(d) + ": " +
                                     p.err().message);
    if (auto st = (*p)->load(); !st)
      return make_error("profile", "engine capacity: loading " + spec.name + ": " + st.err().message);
    pls.push_back(std::move(*p));
  }
  const auto tokens = tokens_for(spec, 1, std::min(o.seq, spec.max_seq));
  const int reps = std::max(6, 2 * o.reps);
  // The seconds of each of `reps` forwards on pipeline d (after one warm-up).
  auto forwards = [&](int d) -> result<std::vector<double>> {
    std::vector<double> t;
    for (int r = 0; r <= reps; ++r) {
      const auto t0 = clock_type::now();
      if (auto out = pls[static_cast<std::size_t>(d)]->run(tokens, 1); !out)
        return out.err();
      if (r > 0)
        t.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
    }
    return t;
  };
  cpu_capacity out;
  out.threads = n;
  // no more devices' worth than devices, nor than the host's hardware threads
  const double top = std::min<double>(n, std::max(1u, std::thread::hardware_concurrency()));
  std::vector<double> caps;
  for (int round = 0; round < 3 && n > 1; ++round) {
    auto alone = forwards(0);
    if (!alone)
      return alone.err();
    std::vector<std::future<result<std::vector<double>>>> all;
    for (int d = 0; d < n; ++d)
      all.push_back(std::async(std::launch::async, forwards, d));
    std::vector<double> together;
    for (auto& f : all) {
      auto t = f.get();
      if (!t)
        return t.err();
      together.insert(together.end(), t->begin(), t->end());
    }
    const double ta = median(*alone), tt = median(together);
    caps.push_back(tt > 0 ? std::clamp(n * ta / tt, 1.0, top) : top);
  }
  for (auto& p : pls)
    (void)p->evict();
  out.capacity = caps.empty() ? 1.0 : median(caps);
  logger("profile")->info("engine capacity: {} batch-1 forwards of {} ({} tokens) on {} devices at once ran at {:.2f} "
                          "of one device alone -> {:.2f} devices' worth", reps, spec.name, tokens.size(), n,
                          out.capacity / n, out.capacity);
  return out;
}

double measure_host_cores(const std::vector<gpu::model_spec>& models, const measure_options& o) {
  auto log = logger("profile");
  const auto cap = measure_cpu_capacity();
  log->info("cpu capacity: {} hardware threads; a compute-bound kernel in L1 on all of them at once ran at {:.2f} of "
            "its speed alone -> {:.2f}", cap.threads, cap.capacity / cap.threads, cap.capacity);
  if (o.devices < 2)
    return cap.capacity;
  auto engine = measure_engine_capacity(models, o);
  if (!engine) {
    log->warn("engine capacity not measured ({}): host_cores {:.2f} from the kernel", engine.err().to_string(),
              cap.capacity);
    return cap.capacity;
  }
  log->info("host_cores {:.2f}: the engine's capacity (the kernel's {:.2f} misses what slows forwards that stream "
            "their weights)", engine->capacity, cap.capacity);
  return engine->capacity;
}

result<policies::profile_db> measure_profile(const std::vector<gpu::model_spec>& models,
                                             const std::vector<policies::parallel_config>& configs,
                                             const measure_options& o) {
  auto log = logger("profile");
  if (o.reps < 1 || o.seq < 1 || o.devices < 1)
    return make_error("profile", "--reps, --seq and --devices must be >= 1");
  gpu::backend_options bo;
  bo.kind = o.backend;
  bo.devices = o.devices;
  bo.budget_bytes = o.budget_bytes;
  bo.cpu_threads = o.cpu_threads;
  auto b = gpu::open_devices(bo);
  if (!b)
    return b.err();
  log->info("measuring on {}", (*b)->describe());
  policies::profile_db db;
  db.set_device(std::string{gpu::to_string((*b)->kind())}); // what the entries are for (planner, simulator checks)
  // cpu devices are threads sharing this host's cores: the simulator models that sharing with the cores the
  // host gives at once (issue 11 §3); each entry below is measured with only its own config's devices busy.
  if ((*b)->kind() == gpu::backend_kind::cpu)
    db.set_host_cores(measure_host_cores(models, o));
  for (const auto& spec : models) {
    auto weights = gpu::generate_weights(spec, 1);
    if (!weights)
      return weights.err();
    int measured = 0, skipped = 0;
    for (auto c : configs) {
      const auto t0 = clock_type::now();
      auto e = measure_one(**b, spec, *weights, c, o);
      if (!e) {
        ++skipped;
        log->debug("{} op {} pp {}: skipped: {}", spec.name, c.op, c.pp, e.err().to_string());
        continue;
      }
      log->info("{} op {} pp {}: batch-1 latency {:.3g} s, {} batch sizes, measured in {:.2f} s", spec.name, c.op,
                c.pp, e->total_latency(0), e->stage_latency.size(),
                std::chrono::duration<double>(clock_type::now() - t0).count());
      db.put(std::move(*e));
      ++measured;
    }
    log->info("{}: measured {} config(s), skipped {} that do not fit (--log-level debug says why)", spec.name,
              measured, skipped);
    if (measured == 0)
      return make_error("profile", "model '" + spec.name + "': no config could be measured on " +
                                     std::to_string((*b)->device_count()) + " device(s) (see the log)");
  }
  return db;
}

} // namespace sy::apps
