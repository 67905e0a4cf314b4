#include "gpu/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace sy::gpu {

namespace {
/// A one-shot latch: done() from any thread, wait() blocks until it was called `n` times.
/// Callbacks hold the latch by shared_ptr: one may fire after the waiter gave up (error paths).
class latch : public std::enable_shared_from_this<latch> {
public:
  explicit latch(int n) : left_(n) {}
  std::function<void()> arrive() {
    return [self = shared_from_this()] {
      std::lock_guard<std::mutex> l{self->m_};
      if (--self->left_ == 0)
        self->cv_.notify_all();
    };
  }
  void wait() {
    std::unique_lock<std::mutex> l{m_};
    cv_.wait(l, [&] { return left_ <= 0; });
  }

private:
  std::mutex m_;
  std::condition_variable cv_;
  int left_;
};
constexpr model_id the_model{1};
} // namespace

struct pipeline::impl {
  backend* b = nullptr;
  model_spec spec;
  parallel_layout layout;
  std::vector<std::unique_ptr<stage_executor>> stages;
  std::vector<device*> first_rank_devs;
  int out_dim = 0;
  double load_seconds = 0;
  std::size_t bytes = 0;
};

pipeline::pipeline(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
pipeline::~pipeline() = default;

result<std::unique_ptr<pipeline>> pipeline::create(backend& b, const model_spec& spec, const parallel_layout& layout,
                                                   const weight_set& weights, int first_device) {
  if (auto st = check_weights(spec, weights); !st)
    return st.err();
  return create(b, spec, layout, weight_set_source{weights}, first_device);
}

result<std::unique_ptr<pipeline>> pipeline::create(backend& b, const model_spec& spec, const parallel_layout& layout,
                                                   const tensor_source& weights, int first_device) {
  if (auto st = validate_layout(spec, layout); !st)
    return st.err();
  if (auto st = weights.check(spec); !st)
    return st.err();
  int need = layout.stages() * layout.tp;
  if (first_device < 0 || first_device + need > b.device_count())
    return make_error("engine", "model '" + spec.name + "' with " + std::to_string(layout.stages()) + " stages x tp " +
                                  std::to_string(layout.tp) + " needs " + std::to_string(need) +
                                  " devices from index " + std::to_string(first_device) + ", the backend has " +
                                  std::to_string(b.device_count()));
  auto p = std::make_unique<impl>();
  p->b = &b;
  p->spec = spec;
  p->layout = layout;
  p->out_dim = spec.kind == arch::decoder ? spec.vocab : spec.hidden;
  for (int s = 0; s < layout.stages(); ++s) {
    std::vector<int> devs;
    std::vector<std::shared_ptr<const host_shard>> shards;
    for (int r = 0; r < layout.tp; ++r) {
      int di = first_device + s * layout.tp + r;
      devs.push_back(di);
      auto plan = plan_shard(spec, layout, s, r, compute_type(spec, b.dev(di)));
      if (!plan)
        return plan.err();
      auto shard = build_host_shard(*plan, weights, b);
      if (!shard)
        return shard.err();
      p->bytes += (*shard)->plan.bytes;
      shards.push_back(std::move(*shard));
    }
    auto ex = stage_executor::create(b, devs);
    if (!ex)
      return ex.err();
    if (auto st = (*ex)->add_model(the_model, std::move(shards)); !st)
      return st.err();
    p->first_rank_devs.push_back(&b.dev(devs[0]));
    p->stages.push_back(std::move(*ex));
  }
  return std::unique_ptr<pipeline>{new pipeline(std::move(p))};
}

status pipeline::load() {
  auto l = std::make_shared<latch>(static_cast<int>(impl_->stages.size()));
  auto t0 = std::chrono::steady_clock::now();
  for (auto& s : impl_->stages)
    if (auto st = s->load(the_model, l->arrive()); !st) {
      // Roll back what was started, so that the pipeline stays consistent.
      for (auto& o : impl_->stages)
        if (o->state(the_model).ok() && *o->state(the_model) != residency::host) {
          auto e = std::make_shared<latch>(1);
          if (o->evict(the_model, e->arrive()).ok())
            e->wait();
        }
      return st;
    }
  l->wait();
  impl_->load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto* d : impl_->first_rank_devs)
    if (auto st = d->health(); !st)
      return st;
  return {};
}

status pipeline::evict() {
  auto l = std::make_shared<latch>(static_cast<int>(impl_->stages.size()));
  for (auto& s : impl_->stages)
    if (auto st = s->evict(the_model, l->arrive()); !st)
      return st;
  l->wait();
  return {};
}

result<std::vector<float>> pipeline::run(const std::vector<std::int32_t>& tokens, int batch,
                                         std::vector<double>* stage_seconds, handoff h) {
  run_options o;
  o.batch = batch;
  return run(tokens, o, stage_seconds, h);
}

result<std::vector<float>> pipeline::run(const std::vector<std::int32_t>& tokens, const run_options& o,
                                         std::vector<double>* stage_seconds, handoff h) {
  int batch = o.batch, seq = 0;
  if (!o.seq_lens.empty()) {
    batch = static_cast<int>(o.seq_lens.size());
    std::int64_t sum = 0;
    for (int l : o.seq_lens) {
      if (l <= 0)
        return make_error("engine", "sequence length " + std::to_string(l) + ": lengths must be positive");
      sum += l;
      seq = std::max(seq, l);
    }
    if (sum != static_cast<std::int64_t>(tokens.size()))
      return make_error("engine", std::to_string(tokens.size()) + " tokens, but the sequence lengths add up to " +
                                    std::to_string(sum));
  } else {
    if (batch <= 0 || tokens.empty() || tokens.size() % static_cast<std::size_t>(batch) != 0)
      return make_error("engine", std::to_string(tokens.size()) + " tokens cannot form " + std::to_string(batch) +
                                    " sequences of equal length");
    seq = static_cast<int>(tokens.size()) / batch;
  }
  if (!o.token_types.empty() && o.token_types.size() != tokens.size())
    return make_error("engine", std::to_string(o.token_types.size()) + " token types for " +
                                  std::to_string(tokens.size()) + " tokens");
  const output_kind kind = o.out ? *o.out : default_output(impl_->spec);
  forward_request shape;
  shape.batch = batch;
  shape.seq = seq;
  shape.seq_lens = o.seq_lens;
  shape.out_kind = kind;
  std::vector<float> out(static_cast<std::size_t>(output_rows(shape)) *
                         static_cast<std::size_t>(output_width(impl_->spec, kind)));
  pinned_buffer prev, next;                            // handoff::host
  std::shared_ptr<device_activation> prev_act, next_act; // handoff::device
  if (stage_seconds)
    stage_seconds->assign(impl_->stages.size(), 0.0);
  for (std::size_t s = 0; s < impl_->stages.size(); ++s) {
    auto& ex = *impl_->stages[s];
    bool last = s + 1 == impl_->stages.size();
    forward_request req = shape;
    req.tokens = tokens.data();
    req.token_types = o.token_types.empty() ? nullptr : o.token_types.data();
    req.input = prev ? prev.data() : nullptr;
    req.input_activation = prev_act;
    if (last) {
      req.output = out.data();
    } else if (h == handoff::device) {
      req.output_activation = &next_act;
    } else {
      auto buf = impl_->b->allocate_pinned(tokens.size() * impl_->spec.hidden *
                                           dtype_size(ex.activation_type(the_model)));
      if (!buf)
        return buf.err();
      next = std::move(*buf);
      req.output = next.data();
    }
    auto l = std::make_shared<latch>(1);
    const auto t0 = std::chrono::steady_clock::now();
    if (auto st = ex.forward(the_model, req, l->arrive()); !st)
      return st.err();
    l->wait();
    if (stage_seconds)
      (*stage_seconds)[s] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (auto st = impl_->first_rank_devs[s]->health(); !st)
      return st.err();
    prev = std::move(next);
    prev_act = std::move(next_act); // the previous stage's input is released: its reader completed
  }
  return out;
}

int pipeline::out_dim() const noexcept {
  return impl_->out_dim;
}
const model_spec& pipeline::spec() const noexcept {
  return impl_->spec;
}
stage_executor& pipeline::stage(int s) {
  return *impl_->stages.at(static_cast<std::size_t>(s));
}
int pipeline::stages() const noexcept {
  return static_cast<int>(impl_->stages.size());
}
model_id pipeline::id() const noexcept {
  return the_model;
}
double pipeline::last_load_seconds() const noexcept {
  return impl_->load_seconds;
}
std::size_t pipeline::shard_bytes() const noexcept {
  return impl_->bytes;
}

} // namespace sy::gpu
