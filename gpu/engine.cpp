#include "gpu/engine.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "gpu/internal/stage_model.hpp"
#include "messages/logging.hpp"

namespace sy::gpu {

std::string_view to_string(residency r) noexcept {
  switch (r) {
    case residency::host: return "host";
    case residency::loading: return "loading";
    case residency::resident: return "resident";
    case residency::evicting: return "evicting";
  }
  return "?";
}

dtype compute_type(const model_spec& spec, const device& d) noexcept {
  return d.supports(spec.type) ? spec.type : dtype::f32;
}

namespace {
constexpr std::size_t load_chunk = std::size_t{4} << 20; // bytes per host->device copy of a shard load

std::string mname(model_id id) {
  return "model " + std::to_string(id.value);
}

/// Sequence lengths, token types and the output kind of a one-pass forward against the model.
status check_request_shape(const model_spec& spec, const forward_request& r) {
  if (!r.seq_lens.empty()) {
    if (static_cast<int>(r.seq_lens.size()) != r.batch)
      return make_error("engine", std::to_string(r.seq_lens.size()) + " sequence lengths for a batch of " +
                                    std::to_string(r.batch));
    for (std::size_t i = 0; i < r.seq_lens.size(); ++i)
      if (r.seq_lens[i] < 1 || r.seq_lens[i] > r.seq)
        return make_error("engine", "sequence " + std::to_string(i) + " has length " + std::to_string(r.seq_lens[i]) +
                                      ", expected 1.." + std::to_string(r.seq) + " (seq)");
  }
  if (r.token_types && spec.type_vocab <= 0)
    return make_error("engine", "token types given, but '" + spec.name + "' has no token-type embeddings");
  return check_output_kind(spec, r.out_kind);
}

} // namespace

status check_output_kind(const model_spec& spec, output_kind k) {
  const bool dec = spec.kind == arch::decoder;
  if (dec && k == output_kind::pooler)
    return make_error("engine", "output 'pooler' needs an encoder with a pooler; '" + spec.name + "' is a decoder");
  if (!dec && (k == output_kind::logits_last || k == output_kind::logits_all))
    return make_error("engine", "output '" + std::string{to_string(k)} + "' needs a decoder; '" + spec.name +
                                  "' is an encoder (outputs: pooler, cls, mean, mean_normalized, hidden)");
  if (!dec && k == output_kind::pooler && !spec.pooler)
    return make_error("engine", "output 'pooler': '" + spec.name + "' has no pooler (outputs: cls, mean, "
                                                                    "mean_normalized, hidden)");
  return {};
}

namespace {

/// Calls `done` once `n` parts have reported (from any thread), with the first error any part reported.
std::function<void(status)> countdown(int n, stage_executor::done_fn done) {
  struct shared {
    explicit shared(int n) : left(n) {}
    std::atomic<int> left;
    std::mutex mutex;
    status first;
  };
  auto st = std::make_shared<shared>(n);
  return [st, done = std::move(done)](status part) {
    if (!part) {
      std::lock_guard<std::mutex> lock{st->mutex};
      if (st->first)
        st->first = std::move(part);
    }
    if (st->left.fetch_sub(1) == 1 && done) {
      status out;
      {
        std::lock_guard<std::mutex> lock{st->mutex};
        out = st->first;
      }
      done(std::move(out));
    }
  };
}

} // namespace

/// Completions that failed on the owner thread itself: run once the executor's mutex is released (a load's
/// or eviction's completion takes that mutex). Declare it before the lock.
struct stage_executor::deferred {
  std::vector<std::function<void()>> calls;
  void fail(const std::function<void(status)>& finish, status why) {
    calls.push_back([finish, why] { finish(why); });
  }
  ~deferred() {
    for (auto& c : calls)
      c();
  }
};

namespace {

stage_executor::done_fn ignore_status(std::function<void()> done) {
  return [done = std::move(done)](status) {
    if (done)
      done();
  };
}
} // namespace

struct stage_executor::impl {
  explicit impl(backend& be) : b(be) {}
  backend& b;
  std::vector<device*> devs;
  std::vector<std::unique_ptr<communicator>> comms;
  std::vector<std::unique_ptr<kv_pool>> pools; // per rank; before `models`, whose KV caches hold its blocks
  mutable std::mutex mutex; // guards models' state (completions run on backend threads)
  std::map<model_id, internal::stage_model> models;
  // Weights of loads that failed: freed (stream-ordered, after the forwards queued behind the load) by the
  // owner thread's next call, since a completion callback may not call the device.
  std::vector<std::pair<device*, device_buffer>> failed_weights;

  /// Owner thread, mutex held.
  void free_failed_weights() {
    for (auto& [d, buf] : std::exchange(failed_weights, {}))
      if (auto st = d->free_after(buf, d->compute_stream()); !st)
        d->free(buf);
  }

  internal::stage_model* find(model_id id) {
    auto it = models.find(id);
    return it == models.end() ? nullptr : &it->second;
  }
};

stage_executor::stage_executor(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

stage_executor::~stage_executor() {
  for (auto* d : impl_->devs) {
    (void)d->synchronize(d->copy_stream());
    (void)d->synchronize(d->compute_stream());
  }
  std::lock_guard<std::mutex> lock{impl_->mutex};
  for (auto& [id, m] : impl_->models) {
    for (std::size_t r = 0; r < m.weights.size(); ++r) {
      impl_->devs[r]->free(m.weights[r]);
    }
    for (std::size_t r = 0; r < m.loaded.size(); ++r)
      impl_->devs[r]->destroy_event(m.loaded[r]);
  }
}

result<std::unique_ptr<stage_executor>> stage_executor::create(backend& b, const std::vector<int>& devices) {
  auto comms = b.make_communicators(devices);
  if (!comms)
    return comms.err();
  auto p = std::make_unique<impl>(b);
  p->comms = std::move(*comms);
  for (int i : devices) {
    p->devs.push_back(&b.dev(i));
    p->pools.push_back(std::make_unique<kv_pool>(b.dev(i)));
  }
  return std::unique_ptr<stage_executor>{new stage_executor(std::move(p))};
}

int stage_executor::tp() const noexcept {
  return static_cast<int>(impl_->devs.size());
}

device& stage_executor::rank_device(int rank) const {
  return *impl_->devs.at(static_cast<std::size_t>(rank));
}

status stage_executor::add_model(model_id id, std::vector<std::shared_ptr<const host_shard>> shards) {
  if (static_cast<int>(shards.size()) != tp())
    return make_error("engine", mname(id) + ": " + std::to_string(shards.size()) + " shards for a stage of " +
                                  std::to_string(tp()) + " ranks");
  internal::stage_model m;
  for (int r = 0; r < tp(); ++r) {
    const auto& s = shards[static_cast<std::size_t>(r)];
    if (!s)
      return make_error("engine", mname(id) + ": null shard for rank " + std::to_string(r));
    const auto& p = s->plan;
    const auto& p0 = shards[0]->plan;
    if (p.rank != r || p.layout.tp != tp() || p.stage != p0.stage || p.spec.name != p0.spec.name ||
        p.layout.stage_bounds != p0.layout.stage_bounds)
      return make_error("engine", mname(id) + ": shard " + std::to_string(r) + " is (stage " +
                                    std::to_string(p.stage) + ", rank " + std::to_string(p.rank) + " of tp " +
                                    std::to_string(p.layout.tp) + "), expected rank " + std::to_string(r) +
                                    " of tp " + std::to_string(tp()) + " of the same model and stage");
    dtype want = compute_type(p.spec, *impl_->devs[static_cast<std::size_t>(r)]);
    if (p.type != want)
      return make_error("engine", mname(id) + ": shard stored as " + std::string{to_string(p.type)} + " but " +
                                    impl_->devs[static_cast<std::size_t>(r)]->name() + " computes it in " +
                                    std::string{to_string(want)});
    auto offs = internal::resolve_offsets(p);
    if (!offs)
      return offs.err();
    m.offsets.push_back(std::move(*offs));
    m.type = p.type;
  }
  m.shards = std::move(shards);
  std::lock_guard<std::mutex> lock{impl_->mutex};
  if (impl_->models.count(id))
    return make_error("engine", mname(id) + " is already registered on this stage");
  impl_->models.emplace(id, std::move(m));
  return {};
}

status stage_executor::remove_model(model_id id) {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  if (m->state != residency::host)
    return make_error("engine", mname(id) + " cannot be removed while " + std::string{to_string(m->state)});
  impl_->models.erase(id);
  return {};
}

bool stage_executor::has_model(model_id id) const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  return impl_->models.count(id) > 0;
}

result<residency> stage_executor::state(model_id id) const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto it = impl_->models.find(id);
  if (it == impl_->models.end())
    return make_error("engine", mname(id) + " is not registered on this stage");
  return it->second.state;
}

result<std::size_t> stage_executor::shard_bytes(model_id id) const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto it = impl_->models.find(id);
  if (it == impl_->models.end())
    return make_error("engine", mname(id) + " is not registered on this stage");
  std::size_t mx = 0;
  for (const auto& s : it->second.shards)
    mx = std::max(mx, s->plan.bytes);
  return mx;
}

result<std::size_t> stage_executor::workspace_bytes(model_id id, int batch, int seq,
                                                    std::optional<output_kind> out) const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto it = impl_->models.find(id);
  if (it == impl_->models.end())
    return make_error("engine", mname(id) + " is not registered on this stage");
  const auto& plan = it->second.shards[0]->plan;
  return internal::plan_workspace(plan, it->second.type, batch, seq, out.value_or(default_output(plan.spec))).total;
}

dtype stage_executor::activation_type(model_id id) const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto it = impl_->models.find(id);
  return it == impl_->models.end() ? dtype::f32 : it->second.type;
}

status stage_executor::load(model_id id, std::function<void()> done) {
  return load(id, ignore_status(std::move(done)));
}

status stage_executor::load(model_id id, done_fn done) {
  deferred later;
  std::unique_lock<std::mutex> lock{impl_->mutex};
  impl_->free_failed_weights();
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  if (m->state != residency::host)
    return make_error("engine", mname(id) + ": load requested while " + std::string{to_string(m->state)});
  std::vector<device_buffer> bufs;
  for (int r = 0; r < tp(); ++r) {
    auto* d = impl_->devs[static_cast<std::size_t>(r)];
    auto buf = d->allocate(m->shards[static_cast<std::size_t>(r)]->plan.bytes);
    if (!buf) {
      for (std::size_t i = 0; i < bufs.size(); ++i)
        impl_->devs[i]->free(bufs[i]);
      return make_error(buf.err().category, mname(id) + ": loading the shard failed: " + buf.err().message);
    }
    bufs.push_back(*buf);
  }
  if (m->loaded.empty())
    for (int r = 0; r < tp(); ++r) {
      auto ev = impl_->devs[static_cast<std::size_t>(r)]->create_event();
      if (!ev) {
        for (std::size_t i = 0; i < bufs.size(); ++i)
          impl_->devs[i]->free(bufs[i]);
        return ev.err();
      }
      m->loaded.push_back(*ev);
    }
  m->weights = bufs;
  m->state = residency::loading;
  auto gen = ++m->generation;
  auto finish = countdown(tp(), [this, id, gen, done = std::move(done)](status st) {
    {
      std::lock_guard<std::mutex> l{impl_->mutex};
      auto* mm = impl_->find(id);
      if (mm && mm->generation == gen && mm->state == residency::loading) {
        if (st) {
          mm->state = residency::resident;
        } else { // a copy failed: the shard is not usable; its memory goes back after what is queued on it
          for (std::size_t r = 0; r < mm->weights.size(); ++r)
            impl_->failed_weights.emplace_back(impl_->devs[r], mm->weights[r]);
          mm->weights.clear();
          mm->state = residency::host;
        }
      }
    }
    if (done)
      done(std::move(st));
  });
  for (int r = 0; r < tp(); ++r) {
    auto* d = impl_->devs[static_cast<std::size_t>(r)];
    const auto& shard = *m->shards[static_cast<std::size_t>(r)];
    auto s = d->copy_stream();
    // A failed enqueue (the device refused a copy) fails the load through `done`: what was enqueued on
    // this and earlier ranks still completes first, later ranks report the error at once.
    // A simulated device takes the stage's profiled load time here (others: nothing).
    status st = d->simulate(stage_work{stage_work::kind::load, shard.plan.spec.name, shard.plan.layout.tp,
                                       shard.plan.layout.stages(), shard.plan.stage, 1},
                            s);
    for (std::size_t off = 0; off < shard.plan.bytes && st; off += load_chunk) {
      std::size_t n = std::min(load_chunk, shard.plan.bytes - off);
      st = d->copy_to_device(bufs[static_cast<std::size_t>(r)].as<std::byte>() + off, shard.data.data() + off, n, s);
    }
    if (st)
      st = d->record(m->loaded[static_cast<std::size_t>(r)], s);
    if (!st) {
      logger("engine")->error("{}: enqueueing the load on rank {} failed: {}", mname(id), r, st.err().to_string());
      auto err = make_error(st.err().category, mname(id) + ": load on rank " + std::to_string(r) + ": " + st.err().message);
      if (!d->on_complete(s, [finish, err](status) { finish(err); }))
        later.fail(finish, err);
      for (int next = r + 1; next < tp(); ++next)
        later.fail(finish, err);
      return {};
    }
    if (auto cb = d->on_complete(s, finish); !cb)
      later.fail(finish, cb);
  }
  return {};
}

status stage_executor::evict(model_id id, std::function<void()> done) {
  return evict(id, ignore_status(std::move(done)));
}

status stage_executor::evict(model_id id, done_fn done) {
  deferred later;
  std::lock_guard<std::mutex> lock{impl_->mutex};
  impl_->free_failed_weights();
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  if (m->state != residency::loading && m->state != residency::resident)
    return make_error("engine", mname(id) + ": evict requested while " + std::string{to_string(m->state)});
  m->state = residency::evicting;
  auto gen = ++m->generation;
  auto finish = countdown(tp(), [this, id, gen, done = std::move(done)](status st) {
    {
      std::lock_guard<std::mutex> l{impl_->mutex};
      auto* mm = impl_->find(id);
      if (mm && mm->generation == gen && mm->state == residency::evicting) {
        mm->state = residency::host;
        mm->weights.clear();
      }
    }
    if (done)
      done(std::move(st));
  });
  for (int r = 0; r < tp(); ++r) {
    auto* d = impl_->devs[static_cast<std::size_t>(r)];
    auto s = d->compute_stream();
    // After the load's copies (if still running) and every forward enqueued so far on the compute stream.
    auto st = d->wait(s, m->loaded[static_cast<std::size_t>(r)]);
    if (st)
      st = d->free_after(m->weights[static_cast<std::size_t>(r)], s);
    if (!st) {
      logger("engine")->error("{}: enqueueing the eviction on rank {} failed: {}", mname(id), r, st.err().to_string());
      later.fail(finish, make_error(st.err().category, mname(id) + ": evict on rank " + std::to_string(r) + ": " +
                                                         st.err().message));
      continue;
    }
    if (auto cb = d->on_complete(s, finish); !cb)
      later.fail(finish, cb);
  }
  return {};
}

status stage_executor::forward(model_id id, const forward_request& req, std::function<void()> done) {
  return forward(id, req, ignore_status(std::move(done)));
}

status stage_executor::forward(model_id id, const forward_request& request, done_fn done) {
  deferred later;
  std::lock_guard<std::mutex> lock{impl_->mutex};
  impl_->free_failed_weights();
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  forward_request req = request; // an encoder asked for logits_last (the default value) gets its default output
  if (m->shards[0]->plan.spec.kind == arch::encoder && req.out_kind == output_kind::logits_last)
    req.out_kind = default_output(m->shards[0]->plan.spec);
  if (m->state != residency::loading && m->state != residency::resident)
    return make_error("engine", mname(id) + ": forward while " + std::string{to_string(m->state)} +
                                  " (load it first)");
  const auto& plan = m->shards[0]->plan;
  if (req.batch <= 0 || req.seq <= 0 || req.seq > plan.spec.max_seq)
    return make_error("engine", mname(id) + ": batch " + std::to_string(req.batch) + " x seq " +
                                  std::to_string(req.seq) + ": both must be positive and seq <= max_seq " +
                                  std::to_string(plan.spec.max_seq));
  const bool device_out = req.output_activation != nullptr;
  if (device_out && plan.has_head)
    return make_error("engine", mname(id) + ": the last stage writes its output to host memory (output_activation "
                                            "is for the stages before it)");
  if (!req.output && !device_out)
    return make_error("engine", mname(id) + ": forward without an output buffer");
  if (req.output && device_out)
    return make_error("engine", mname(id) + ": forward with both a host output and an output_activation");
  if (auto st = check_request_shape(plan.spec, req); !st)
    return make_error(st.err().category, mname(id) + ": " + st.err().message);
  const std::int64_t T = total_tokens(req);
  if (plan.has_embeddings) {
    if (!req.tokens)
      return make_error("engine", mname(id) + ": the first stage needs token ids");
    for (std::int64_t i = 0; i < T; ++i)
      if (req.tokens[i] < 0 || req.tokens[i] >= plan.spec.vocab)
        return make_error("engine", mname(id) + ": token " + std::to_string(req.tokens[i]) + " at position " +
                                      std::to_string(i) + " is outside the vocabulary [0, " +
                                      std::to_string(plan.spec.vocab) + ")");
    if (req.token_types)
      for (std::int64_t i = 0; i < T; ++i)
        if (req.token_types[i] < 0 || req.token_types[i] >= std::max(1, plan.spec.type_vocab))
          return make_error("engine", mname(id) + ": token type " + std::to_string(req.token_types[i]) +
                                        " at position " + std::to_string(i) + " is outside [0, " +
                                        std::to_string(std::max(1, plan.spec.type_vocab)) + ")");
  } else if (!req.input && !req.input_activation) {
    return make_error("engine", mname(id) + ": stage " + std::to_string(plan.stage) + " needs input activations");
  } else if (req.input && req.input_activation) {
    return make_error("engine", mname(id) + ": forward with both a host input and an input_activation");
  } else if (const auto& a = req.input_activation) {
    const std::size_t want = static_cast<std::size_t>(T) * plan.spec.hidden * dtype_size(m->type);
    if (a->type() != m->type || a->bytes() != want)
      return make_error("engine", mname(id) + ": input_activation of " + std::to_string(a->bytes()) + " bytes of " +
                                    std::string{to_string(a->type())} + ", expected " + std::to_string(want) +
                                    " bytes of " + std::string{to_string(m->type)});
    if (a->owner().kind() != impl_->devs[0]->kind())
      return make_error("engine", mname(id) + ": input_activation on " + a->owner().name() + ", another backend");
  }
  // The output handle: [batch * seq, hidden] on rank 0's device (every rank holds the same x).
  std::shared_ptr<device_activation> out_act;
  if (device_out) {
    auto* d0 = impl_->devs[0];
    const std::size_t bytes = static_cast<std::size_t>(T) * plan.spec.hidden * dtype_size(m->type);
    auto buf = d0->allocate(bytes);
    if (!buf)
      return make_error(buf.err().category, mname(id) + ": forward output activation: " + buf.err().message);
    out_act = std::make_shared<device_activation>(*d0, *buf, bytes, m->type);
  }
  std::vector<device_buffer> ws;
  for (int r = 0; r < tp(); ++r) {
    auto* d = impl_->devs[static_cast<std::size_t>(r)];
    auto bytes = internal::plan_workspace(m->shards[static_cast<std::size_t>(r)]->plan, m->type, req.batch, req.seq,
                                          req.out_kind);
    auto buf = d->allocate(bytes.total);
    if (!buf) {
      for (std::size_t i = 0; i < ws.size(); ++i)
        impl_->devs[i]->free(ws[i]);
      return make_error(buf.err().category, mname(id) + ": forward workspace: " + buf.err().message);
    }
    ws.push_back(*buf);
  }
  // The sequence layout (positions, starts, token types), copied by each rank; alive until all are done.
  auto meta = std::make_shared<const internal::batch_meta>(internal::make_batch_meta(req));
  auto finish = countdown(tp(), std::move(done));
  for (int r = 0; r < tp(); ++r) {
    auto* d = impl_->devs[static_cast<std::size_t>(r)];
    auto s = d->compute_stream();
    // A simulated device takes the stage's profiled time for this batch here (others: nothing).
    auto st = d->simulate(stage_work{stage_work::kind::forward, plan.spec.name, plan.layout.tp, plan.layout.stages(),
                                     plan.stage, req.batch},
                          s);
    if (st)
      st = internal::enqueue_forward(*m, r, *d, *impl_->comms[static_cast<std::size_t>(r)], req,
                                     ws[static_cast<std::size_t>(r)], out_act.get(), meta.get());
    if (!st) {
      // The failing rank's partly enqueued work (its meta copy included) runs before its completion: that
      // completion keeps the sequence layout alive too, not only the other ranks' completions.
      enqueue_failed(later, r, ws, [meta, finish](status e) { finish(std::move(e)); },
                     make_error(st.err().category,
                                mname(id) + ": forward on rank " + std::to_string(r) + ": " + st.err().message));
      break;
    }
    (void)d->free_after(ws[static_cast<std::size_t>(r)], s);
    if (auto cb = d->on_complete(s, [meta, finish](status st) { finish(std::move(st)); }); !cb)
      later.fail(finish, cb);
  }
  if (device_out)
    *req.output_activation = std::move(out_act);
  return {};
}

void stage_executor::enqueue_failed(deferred& later, int rank, const std::vector<device_buffer>& ws,
                                    const std::function<void(status)>& finish, const error& why) {
  // Host-side checks passed, so this is a backend failure on one rank: the ranks before it (and this one,
  // partly) have enqueued their part, collectives included, and would wait for this rank forever. Break the
  // group's collectives so that they complete (failed), let what this rank enqueued finish before its part
  // reports the error, and report it for the ranks after it at once. `done` then runs once, failed.
  logger("engine")->error("{}", why.to_string());
  for (auto& c : impl_->comms)
    c->abort(why.message);
  auto* d = impl_->devs[static_cast<std::size_t>(rank)];
  auto s = d->compute_stream();
  if (!d->free_after(ws[static_cast<std::size_t>(rank)], s))
    d->free(ws[static_cast<std::size_t>(rank)]); // nothing could be enqueued on this stream
  if (!d->on_complete(s, std::function<void(status)>{[finish, why](status) { finish(why); }}))
    later.fail(finish, why);
  for (int next = rank + 1; next < tp(); ++next) {
    impl_->devs[static_cast<std::size_t>(next)]->free(ws[static_cast<std::size_t>(next)]);
    later.fail(finish, why);
  }
}

device_activation::device_activation(device& dev, device_buffer buf, std::size_t bytes, dtype type)
    : dev_(&dev), buf_(buf), bytes_(bytes), type_(type) {}

device_activation::~device_activation() {
  // After the producing forward (and any reader on the same device) enqueued on the compute stream so far.
  if (auto st = dev_->free_after(buf_, dev_->compute_stream()); !st) {
    logger("engine")->warn("{}: freeing an activation after its stream failed ({}); freeing now",
                           dev_->name(), st.err().to_string());
    dev_->free(buf_);
  }
}

std::string_view to_string(output_kind k) noexcept {
  switch (k) {
    case output_kind::logits_last: return "logits_last";
    case output_kind::logits_all: return "logits_all";
    case output_kind::pooler: return "pooler";
    case output_kind::cls: return "cls";
    case output_kind::mean: return "mean";
    case output_kind::mean_normalized: return "mean_normalized";
    case output_kind::hidden: return "hidden";
  }
  return "?";
}

result<output_kind> parse_output_kind(std::string_view s) {
  if (s == "logits_last" || s == "last") return output_kind::logits_last;
  if (s == "logits_all" || s == "all") return output_kind::logits_all;
  if (s == "pooler") return output_kind::pooler;
  if (s == "cls") return output_kind::cls;
  if (s == "mean") return output_kind::mean;
  if (s == "mean_normalized" || s == "mean-normalized") return output_kind::mean_normalized;
  if (s == "hidden") return output_kind::hidden;
  return make_error("spec", "unknown output '" + std::string{s} +
                              "', expected one of logits_last, logits_all, pooler, cls, mean, mean_normalized, hidden");
}

std::int64_t total_tokens(const forward_request& r) noexcept {
  if (r.seq_lens.empty())
    return static_cast<std::int64_t>(r.batch) * r.seq;
  std::int64_t n = 0;
  for (int l : r.seq_lens)
    n += l;
  return n;
}

std::int64_t output_rows(const forward_request& r) noexcept {
  return r.out_kind == output_kind::logits_all || r.out_kind == output_kind::hidden ? total_tokens(r) : r.batch;
}

int output_width(const model_spec& spec, output_kind kind) noexcept {
  return kind == output_kind::logits_last || kind == output_kind::logits_all ? spec.vocab : spec.hidden;
}

// --- generation steps ---------------------------------------------------------------------------------

namespace {
std::size_t align_up(std::size_t n) {
  return (n + 255) / 256 * 256;
}

/// The model's per-rank KV caches, made at its first step.
status ensure_kv(internal::stage_model& m, const std::vector<std::unique_ptr<kv_pool>>& pools) {
  if (!m.kv.empty())
    return {};
  for (std::size_t r = 0; r < m.shards.size(); ++r) {
    const auto& pr = m.shards[r]->plan;
    auto layout = make_kv_layout(pr.spec, pr.first_layer, pr.end_layer, pr.layout.tp, m.type);
    if (!layout) {
      m.kv.clear();
      return layout.err();
    }
    m.kv.push_back(std::make_unique<kv_cache>(*pools[r], *layout));
  }
  return {};
}

/// Block tables, query starts, context lengths and the new rows' positions of a step.
std::size_t meta_bytes(int seqs, int max_blocks, int tokens) {
  return static_cast<std::size_t>(seqs) * max_blocks * sizeof(void*) +
         (2 * static_cast<std::size_t>(seqs) + 1 + static_cast<std::size_t>(tokens)) * sizeof(std::int32_t);
}

/// Device bytes a step of `seqs` needs on each rank besides its KV blocks: the workspace with its KV
/// metadata and, on rank 0 of a stage before the last, the output activation (plus allocator rounding).
std::vector<std::size_t> step_headroom(const internal::stage_model& m, const std::vector<step_sequence>& seqs,
                                       int block_tokens) {
  int T = 0, max_context = 1;
  for (const auto& q : seqs) {
    T += q.tokens;
    max_context = std::max(max_context, m.kv[0]->length(q.id) + q.tokens);
  }
  const int n = std::max<int>(1, static_cast<int>(seqs.size()));
  const int max_blocks = (max_context + block_tokens - 1) / block_tokens;
  std::vector<std::size_t> out;
  for (std::size_t r = 0; r < m.shards.size(); ++r) {
    const auto& pr = m.shards[r]->plan;
    std::size_t b = align_up(internal::plan_workspace(pr, m.type, n, (T + n - 1) / n).total) +
                    meta_bytes(n, max_blocks, T) + 512;
    if (r == 0 && !pr.has_head)
      b += align_up(static_cast<std::size_t>(T) * pr.spec.hidden * dtype_size(m.type)) + 512;
    out.push_back(b);
  }
  return out;
}

/// Blocks for every sequence's cached + new tokens on every rank, leaving headroom[r] bytes of rank r's
/// budget free; on failure the sequences that held nothing before are forgotten again (the others keep
/// what they had, plus any block already added).
status reserve_blocks(std::vector<std::unique_ptr<kv_cache>>& kv, const std::vector<step_sequence>& seqs,
                      const std::vector<std::size_t>& headroom) {
  std::vector<int> total;
  std::vector<bool> fresh;
  for (const auto& q : seqs) {
    total.push_back(kv[0]->length(q.id) + q.tokens);
    fresh.push_back(kv[0]->capacity(q.id) == 0);
  }
  for (std::size_t r = 0; r < kv.size(); ++r)
    for (std::size_t i = 0; i < seqs.size(); ++i)
      if (auto st = kv[r]->reserve(seqs[i].id, total[i], headroom[r]); !st) {
        for (std::size_t j = 0; j < seqs.size(); ++j)
          if (fresh[j])
            for (auto& c : kv)
              c->free(seqs[j].id);
        return st;
      }
  return {};
}
} // namespace

status stage_executor::reserve(model_id id, const std::vector<step_sequence>& seqs) {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  if (auto st = ensure_kv(*m, impl_->pools); !st)
    return st;
  if (auto st = reserve_blocks(m->kv, seqs, step_headroom(*m, seqs, impl_->pools[0]->block_tokens())); !st)
    return make_error(st.err().category, mname(id) + ": kv blocks: " + st.err().message);
  return {};
}

status stage_executor::step(model_id id, const step_request& req, std::function<void()> done) {
  return step(id, req, ignore_status(std::move(done)));
}

status stage_executor::step(model_id id, const step_request& req, done_fn done) {
  deferred later;
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  if (m->state != residency::loading && m->state != residency::resident)
    return make_error("engine", mname(id) + ": step while " + std::string{to_string(m->state)} + " (load it first)");
  const auto& plan = m->shards[0]->plan;
  const auto& spec = plan.spec;
  if (spec.kind != arch::decoder)
    return make_error("engine", mname(id) + ": generation steps need a decoder, " + spec.name + " is an encoder");
  const int seqs = static_cast<int>(req.seqs.size());
  if (seqs == 0)
    return make_error("engine", mname(id) + ": a step without sequences");
  if (auto st = ensure_kv(*m, impl_->pools); !st)
    return st;
  // Rows, positions and sizes (rank 0's cache is the reference: all ranks move together).
  std::vector<int> query_start{0}, first_pos, context;
  std::map<sequence_id, int> seen;
  for (const auto& q : req.seqs) {
    if (q.tokens <= 0)
      return make_error("engine", mname(id) + ": sequence " + std::to_string(q.id.value) + " has " +
                                    std::to_string(q.tokens) + " new tokens in a step (at least 1)");
    if (!seen.emplace(q.id, 0).second)
      return make_error("engine", mname(id) + ": sequence " + std::to_string(q.id.value) + " is twice in one step");
    const int cached = m->kv[0]->length(q.id);
    if (cached + q.tokens > spec.max_seq)
      return make_error("engine", mname(id) + ": sequence " + std::to_string(q.id.value) + " would reach " +
                                    std::to_string(cached + q.tokens) + " tokens, past max_seq " +
                                    std::to_string(spec.max_seq));
    first_pos.push_back(cached);
    context.push_back(cached + q.tokens);
    query_start.push_back(query_start.back() + q.tokens);
  }
  const int T = query_start.back();
  const bool device_out = req.output_activation != nullptr;
  if (device_out && plan.has_head)
    return make_error("engine", mname(id) + ": the last stage writes its logits to host memory");
  if (req.output == nullptr && !device_out)
    return make_error("engine", mname(id) + ": step without an output buffer");
  if (plan.has_embeddings) {
    if (!req.tokens)
      return make_error("engine", mname(id) + ": the first stage needs token ids");
    for (int i = 0; i < T; ++i)
      if (req.tokens[i] < 0 || req.tokens[i] >= spec.vocab)
        return make_error("engine", mname(id) + ": token " + std::to_string(req.tokens[i]) + " at row " +
                                      std::to_string(i) + " is outside the vocabulary [0, " +
                                      std::to_string(spec.vocab) + ")");
  } else if ((req.input == nullptr) == (req.input_activation == nullptr)) {
    return make_error("engine", mname(id) + ": stage " + std::to_string(plan.stage) +
                                  " needs exactly one of a host input and an input_activation");
  } else if (const auto& a = req.input_activation) {
    const std::size_t want = static_cast<std::size_t>(T) * spec.hidden * dtype_size(m->type);
    if (a->type() != m->type || a->bytes() != want)
      return make_error("engine", mname(id) + ": input_activation of " + std::to_string(a->bytes()) + " bytes, expected " +
                                    std::to_string(want));
  }
  // Blocks first, on every rank: all or nothing for the sequences this step creates.
  if (auto st = reserve_blocks(m->kv, req.seqs, step_headroom(*m, req.seqs, impl_->pools[0]->block_tokens())); !st)
    return make_error(st.err().category, mname(id) + ": kv blocks for the step: " + st.err().message);
  std::shared_ptr<device_activation> out_act;
  if (device_out) {
    auto* d0 = impl_->devs[0];
    const std::size_t bytes = static_cast<std::size_t>(T) * spec.hidden * dtype_size(m->type);
    auto buf = d0->allocate(bytes);
    if (!buf)
      return make_error(buf.err().category, mname(id) + ": step output activation: " + buf.err().message);
    out_act = std::make_shared<device_activation>(*d0, *buf, bytes, m->type);
  }
  // Per rank: workspace = activations for T rows and head rows for `seqs`, then the KV metadata.
  int max_context = *std::max_element(context.begin(), context.end());
  const int bt = impl_->pools[0]->block_tokens();
  const int max_blocks = (max_context + bt - 1) / bt;
  std::vector<internal::step_context> ctx(static_cast<std::size_t>(tp()));
  std::vector<std::shared_ptr<std::vector<std::byte>>> meta(static_cast<std::size_t>(tp()));
  std::vector<device_buffer> ws;
  auto release_ws = [&] {
    for (std::size_t i = 0; i < ws.size(); ++i)
      impl_->devs[i]->free(ws[i]);
  };
  const std::size_t tables_bytes = static_cast<std::size_t>(seqs) * max_blocks * sizeof(void*);
  const std::size_t step_meta = meta_bytes(seqs, max_blocks, T);
  for (int r = 0; r < tp(); ++r) {
    auto& c = ctx[static_cast<std::size_t>(r)];
    const auto& pr = m->shards[static_cast<std::size_t>(r)]->plan;
    c.seqs = seqs;
    c.tokens = T;
    c.query_start = query_start;
    c.first_pos = first_pos;
    c.ws = internal::plan_workspace(pr, m->type, seqs, (T + seqs - 1) / seqs);
    const std::size_t meta_at = align_up(c.ws.total);
    auto buf = impl_->devs[static_cast<std::size_t>(r)]->allocate(meta_at + step_meta);
    if (!buf) {
      release_ws();
      return make_error(buf.err().category, mname(id) + ": step workspace: " + buf.err().message);
    }
    ws.push_back(*buf);
    auto host = std::make_shared<std::vector<std::byte>>(step_meta);
    auto* tables = reinterpret_cast<void**>(host->data());
    for (int q = 0; q < seqs; ++q) {
      const auto& t = m->kv[static_cast<std::size_t>(r)]->table(req.seqs[static_cast<std::size_t>(q)].id);
      for (int b = 0; b < max_blocks; ++b)
        tables[static_cast<std::size_t>(q) * max_blocks + b] = b < static_cast<int>(t.size()) ? t[static_cast<std::size_t>(b)] : nullptr;
    }
    auto* qs = reinterpret_cast<std::int32_t*>(host->data() + tables_bytes);
    std::copy(query_start.begin(), query_start.end(), qs);
    std::copy(context.begin(), context.end(), qs + seqs + 1);
    std::int32_t* pos = qs + 2 * seqs + 1; // each new row's position (rotary)
    for (int q = 0; q < seqs; ++q)
      for (int i = 0; i < query_start[q + 1] - query_start[q]; ++i)
        pos[query_start[q] + i] = first_pos[static_cast<std::size_t>(q)] + i;
    auto* dmeta = buf->as<std::byte>() + meta_at;
    c.kv.block_tables = reinterpret_cast<void* const*>(dmeta);
    c.kv.query_start = reinterpret_cast<const std::int32_t*>(dmeta + tables_bytes);
    c.kv.context_lens = reinterpret_cast<const std::int32_t*>(dmeta + tables_bytes) + seqs + 1;
    c.positions = reinterpret_cast<const std::int32_t*>(dmeta + tables_bytes) + 2 * seqs + 1;
    c.kv.seqs = seqs;
    c.kv.tokens = T;
    c.kv.max_blocks = max_blocks;
    c.kv.max_context = max_context;
    c.kv.layers = pr.end_layer - pr.first_layer;
    c.kv.kv_heads = m->kv[static_cast<std::size_t>(r)]->layout().kv_heads;
    c.kv.head_dim = m->kv[static_cast<std::size_t>(r)]->layout().head_dim;
    c.kv.block_tokens = bt;
    meta[static_cast<std::size_t>(r)] = std::move(host);
  }
  forward_request fr;
  fr.batch = 1;
  fr.seq = T;
  fr.tokens = req.tokens;
  fr.input = req.input;
  fr.input_activation = req.input_activation;
  fr.output = req.output;
  auto finish = countdown(tp(), std::move(done));
  for (int r = 0; r < tp(); ++r) {
    auto* d = impl_->devs[static_cast<std::size_t>(r)];
    auto s = d->compute_stream();
    const auto& c = ctx[static_cast<std::size_t>(r)];
    const auto& host = meta[static_cast<std::size_t>(r)];
    auto st = d->copy_to_device(const_cast<void**>(c.kv.block_tables), host->data(), step_meta, s);
    if (st)
      st = internal::enqueue_forward(*m, r, *d, *impl_->comms[static_cast<std::size_t>(r)], fr,
                                     ws[static_cast<std::size_t>(r)], out_act.get(), nullptr, &c);
    if (!st) {
      enqueue_failed(later, r, ws, [host, finish](status e) { finish(std::move(e)); },
                     make_error(st.err().category, mname(id) + ": step on rank " + std::to_string(r) + ": " +
                                                     st.err().message));
      break;
    }
    (void)d->free_after(ws[static_cast<std::size_t>(r)], s);
    // The host metadata stays alive until the stream has copied it.
    if (auto cb = d->on_complete(s, std::function<void(status)>{[host, finish](status e) { finish(std::move(e)); }}); !cb)
      later.fail(finish, cb);
  }
  for (auto& cache : m->kv)
    for (std::size_t i = 0; i < req.seqs.size(); ++i)
      (void)cache->set_length(req.seqs[i].id, context[i]);
  if (device_out)
    *req.output_activation = std::move(out_act);
  return {};
}

status stage_executor::free_sequence(model_id id, sequence_id seq) {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  for (auto& c : m->kv)
    c->free(seq);
  if (auto it = m->swapped.find(seq); it != m->swapped.end()) {
    // a swap-out copy may still be running on a stream: its callback holds the buffer until then
    for (std::size_t r = 0; r < it->second.size(); ++r) {
      auto& d = *impl_->devs[r];
      auto keep = it->second[r];
      (void)d.on_complete(d.compute_stream(), [keep](status) {});
    }
    m->swapped.erase(it);
  }
  return {};
}

result<std::size_t> stage_executor::swap_out_sequence(model_id id, sequence_id seq) {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  if (m->swapped.count(seq))
    return make_error("engine", mname(id) + ": sequence " + std::to_string(seq.value) + " is swapped out already");
  if (m->kv.empty() || !m->kv[0]->contains(seq))
    return make_error("engine", mname(id) + ": sequence " + std::to_string(seq.value) + " has no KV on this stage");
  std::vector<pinned_buffer> hosts;
  std::size_t total = 0;
  for (auto& c : m->kv) {
    const std::size_t bytes = std::max<std::size_t>(1, c->swap_bytes(seq));
    auto h = impl_->b.allocate_pinned(bytes);
    if (!h)
      return make_error(h.err().category, mname(id) + ": swapping sequence " + std::to_string(seq.value) + " out: " + h.err().message);
    hosts.push_back(std::move(*h));
    total += bytes;
  }
  std::vector<std::shared_ptr<kv_swapped>> copies;
  for (std::size_t r = 0; r < m->kv.size(); ++r) {
    auto out = m->kv[r]->swap_out(seq, std::move(hosts[r]));
    if (!out) // only on a broken invariant (checked above); ranks before r are out already
      return make_error("engine", mname(id) + ": swapping sequence " + std::to_string(seq.value) + " out on rank " +
                                              std::to_string(r) + ": " + out.err().message);
    copies.push_back(std::make_shared<kv_swapped>(std::move(*out)));
  }
  m->swapped.emplace(seq, std::move(copies));
  return total;
}

status stage_executor::swap_in_sequence(model_id id, sequence_id seq) {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto* m = impl_->find(id);
  if (!m)
    return make_error("engine", mname(id) + " is not registered on this stage");
  auto it = m->swapped.find(seq);
  if (it == m->swapped.end())
    return make_error("engine", mname(id) + ": sequence " + std::to_string(seq.value) + " is not swapped out");
  for (std::size_t r = 0; r < m->kv.size(); ++r)
    if (auto st = m->kv[r]->swap_in(seq, *it->second[r]); !st) {
      for (std::size_t q = 0; q < r; ++q) // all or nothing: the host copies stay, the blocks go back
        m->kv[q]->free(seq);
      return st;
    }
  for (std::size_t r = 0; r < m->kv.size(); ++r) { // the copies read the host buffers until their stream passes
    auto& d = *impl_->devs[r];
    auto keep = it->second[r];
    (void)d.on_complete(d.compute_stream(), [keep](status) {});
  }
  m->swapped.erase(it);
  return {};
}

bool stage_executor::swapped_out(model_id id, sequence_id seq) const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto it = impl_->models.find(id);
  return it != impl_->models.end() && it->second.swapped.count(seq) > 0;
}

int stage_executor::cached_tokens(model_id id, sequence_id seq) const {
  std::lock_guard<std::mutex> lock{impl_->mutex};
  auto it = impl_->models.find(id);
  if (it == impl_->models.end() || it->second.kv.empty())
    return 0;
  return it->second.kv[0]->length(seq);
}

kv_pool& stage_executor::rank_kv_pool(int rank) const {
  return *impl_->pools.at(static_cast<std::size_t>(rank));
}

} // namespace sy::gpu
