#include "apps/profile_measure.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>

#include "gpu/backend.hpp"
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
  (void)pl.evict();
  if (e.stage_latency.empty())
    return make_error("memory", "a batch-1 forward does not fit the device budget");
  if (auto st = e.validate(); !st)
    return st.err();
  return e;
}

} // namespace

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
