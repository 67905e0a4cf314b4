#include "actors/internal/engine_stage_backend.hpp"

namespace sy::actors::internal {

namespace {

messages::element_type to_element(gpu::dtype t) {
  switch (t) {
    case gpu::dtype::f16: return messages::element_type::f16;
    case gpu::dtype::bf16: return messages::element_type::bf16;
    default: return messages::element_type::f32;
  }
}

} // namespace

status engine_stage_backend::add_model(const std::string& name, model_id id,
                                       std::vector<std::shared_ptr<const gpu::host_shard>> shards) {
  if (shards.empty())
    return make_error("cluster", "model " + name + ": no shards");
  auto plan = shards.front()->plan;
  if (auto st = exec_->add_model(id, std::move(shards)); !st)
    return st;
  models_[name] = model_slot{id, std::move(plan)};
  return {};
}

status engine_stage_backend::health() const {
  for (int r = 0; r < exec_->tp(); ++r)
    if (auto st = exec_->rank_device(r).health(); !st)
      return st;
  return {};
}

const engine_stage_backend::model_slot* engine_stage_backend::find(const std::string& model) const {
  auto it = models_.find(model);
  return it == models_.end() ? nullptr : &it->second;
}

std::int64_t engine_stage_backend::shard_bytes(const std::string& model) const {
  auto* m = find(model);
  if (!m)
    return 0;
  auto b = exec_->shard_bytes(m->id);
  return b ? static_cast<std::int64_t>(*b) : 0;
}

status engine_stage_backend::load(const std::string& model, done_fn done) {
  auto* m = find(model);
  if (!m)
    return make_error("cluster", "unknown model " + model + " on this stage");
  return exec_->load(m->id, gpu::stage_executor::done_fn{[done](status st) { done(std::move(st)); }});
}

status engine_stage_backend::evict(const std::string& model, done_fn done) {
  auto* m = find(model);
  if (!m)
    return make_error("cluster", "unknown model " + model + " on this stage");
  return exec_->evict(m->id, gpu::stage_executor::done_fn{[done](status st) { done(std::move(st)); }});
}

status engine_stage_backend::forward(const std::string& model, const messages::tensor& input, int batch, int seq,
                                     const std::string& out_kind, std::shared_ptr<messages::tensor> output,
                                     bool keep_on_device, done_fn done) {
  auto* m = find(model);
  if (!m)
    return make_error("cluster", "unknown model " + model + " on this stage");
  const auto& plan = m->plan;
  // Host bytes the device reads or writes must outlive the device work: the completion captures them. Device
  // handles are not captured: the stage actor holds them until the completion (a last reference dropped on
  // a device callback thread would call the device from its own callback, which CUDA forbids).
  std::shared_ptr<messages::tensor> in;
  gpu::forward_request req;
  req.batch = batch;
  req.seq = seq;
  req.out_kind = gpu::default_output(plan.spec);
  if (!out_kind.empty()) {
    auto k = gpu::parse_output_kind(out_kind);
    if (!k)
      return make_error("input", "output '" + out_kind + "': " + k.err().message);
    req.out_kind = *k;
  }
  if (plan.has_embeddings) {
    if (input.type != messages::element_type::i32
        || input.bytes.size() != static_cast<std::size_t>(batch) * static_cast<std::size_t>(seq) * sizeof(std::int32_t))
      return make_error("input", "expected " + std::to_string(batch * seq) + " i32 tokens");
    in = std::make_shared<messages::tensor>(input);
    req.tokens = reinterpret_cast<const std::int32_t*>(in->bytes.data());
  } else if (input.device_data) {
    // The previous stage's output by handle (it ran in this process and completed).
    req.input_activation = std::static_pointer_cast<const gpu::device_activation>(input.device_data);
  } else {
    in = std::make_shared<messages::tensor>(input);
    req.input = in->bytes.data();
  }
  if (plan.has_head) { // one row per request, or one per token (logits_all, hidden): [batch, seq, width]
    output->type = messages::element_type::f32;
    const std::int64_t width = gpu::output_width(plan.spec, req.out_kind);
    const bool per_token = req.out_kind == gpu::output_kind::logits_all || req.out_kind == gpu::output_kind::hidden;
    if (per_token)
      output->shape = {batch, seq, width};
    else
      output->shape = {batch, width};
  } else {
    output->type = to_element(exec_->activation_type(m->id));
    output->shape = {static_cast<std::int64_t>(batch) * seq, plan.spec.hidden};
  }
  if (keep_on_device && !plan.has_head) {
    std::shared_ptr<gpu::device_activation> act;
    req.output_activation = &act;
    if (auto st = exec_->forward(m->id, req, gpu::stage_executor::done_fn{[in, done](status s) { done(std::move(s)); }}); st) {
      output->bytes.clear();
      output->device_data = std::move(act);
      return {};
    }
    // e.g. no room on the device for the activations: hand them over through host memory instead
    req.output_activation = nullptr;
  }
  output->bytes.resize(static_cast<std::size_t>(output->elements()) * messages::element_size(output->type));
  req.output = output->bytes.data();
  return exec_->forward(m->id, req, gpu::stage_executor::done_fn{[in, output, done](status s) { done(std::move(s)); }});
}

} // namespace sy::actors::internal

namespace sy::actors::internal {

status engine_stage_backend::step(const std::string& model, const std::vector<std::uint64_t>& seqs,
                                  const std::vector<std::int32_t>& counts, const messages::tensor& input,
                                  std::shared_ptr<messages::tensor> output, bool keep_on_device, done_fn done) {
  auto* m = find(model);
  if (!m)
    return make_error("cluster", "unknown model " + model + " on this stage");
  if (seqs.size() != counts.size() || seqs.empty())
    return make_error("input", "step of model " + model + ": " + std::to_string(seqs.size()) + " sequences, " +
                                 std::to_string(counts.size()) + " counts");
  const auto& plan = m->plan;
  gpu::step_request req;
  std::int64_t rows = 0;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    req.seqs.push_back({gpu::sequence_id{seqs[i]}, counts[i]});
    rows += counts[i];
  }
  std::shared_ptr<messages::tensor> in;
  if (plan.has_embeddings) {
    if (input.type != messages::element_type::i32
        || input.bytes.size() != static_cast<std::size_t>(rows) * sizeof(std::int32_t))
      return make_error("input", "expected " + std::to_string(rows) + " i32 tokens");
    in = std::make_shared<messages::tensor>(input);
    req.tokens = reinterpret_cast<const std::int32_t*>(in->bytes.data());
  } else if (input.device_data) {
    req.input_activation = std::static_pointer_cast<const gpu::device_activation>(input.device_data);
  } else {
    in = std::make_shared<messages::tensor>(input);
    req.input = in->bytes.data();
  }
  if (plan.has_head) {
    output->type = messages::element_type::f32;
    output->shape = {static_cast<std::int64_t>(seqs.size()), plan.spec.vocab};
  } else {
    output->type = to_element(exec_->activation_type(m->id));
    output->shape = {rows, plan.spec.hidden};
  }
  if (keep_on_device && !plan.has_head) {
    std::shared_ptr<gpu::device_activation> act;
    req.output_activation = &act;
    auto st = exec_->step(m->id, req, gpu::stage_executor::done_fn{[in, done](status s) { done(std::move(s)); }});
    if (st) {
      output->bytes.clear();
      output->device_data = std::move(act);
      return {};
    }
    if (st.err().category != "memory")
      return st;
    req.output_activation = nullptr; // no room for the activations on the device: through host memory
  }
  output->bytes.resize(static_cast<std::size_t>(output->elements()) * messages::element_size(output->type));
  req.output = output->bytes.data();
  return exec_->step(m->id, req, gpu::stage_executor::done_fn{[in, output, done](status s) { done(std::move(s)); }});
}

void engine_stage_backend::release(const std::string& model, const std::vector<std::uint64_t>& seqs) {
  auto* m = find(model);
  if (!m)
    return;
  for (auto s : seqs) {
    if (exec_->swapped_out(m->id, gpu::sequence_id{s}))
      ++swaps_dropped_;
    (void)exec_->free_sequence(m->id, gpu::sequence_id{s});
  }
}

result<std::int64_t> engine_stage_backend::swap_kv(const std::string& model, std::uint64_t seq, bool out) {
  auto* m = find(model);
  if (!m)
    return make_error("input", "model " + model + " is not on this stage");
  if (out) {
    auto bytes = exec_->swap_out_sequence(m->id, gpu::sequence_id{seq});
    if (!bytes)
      return bytes.err();
    ++swaps_out_;
    return static_cast<std::int64_t>(*bytes);
  }
  if (auto st = exec_->swap_in_sequence(m->id, gpu::sequence_id{seq}); !st)
    return st.err();
  ++swaps_in_;
  return std::int64_t{0};
}

stage_backend::kv_usage engine_stage_backend::kv() const {
  kv_usage u;
  for (const auto& r : kv_by_rank()) {
    u.blocks_used += r.blocks_used;
    u.blocks_free += r.blocks_free;
  }
  return u;
}

std::vector<stage_backend::kv_usage> engine_stage_backend::kv_by_rank() const {
  std::vector<kv_usage> out;
  for (int r = 0; r < exec_->tp(); ++r) {
    auto p = exec_->rank_kv_pool(r).usage();
    out.push_back({static_cast<std::int64_t>(p.blocks_used), static_cast<std::int64_t>(p.blocks_free)});
  }
  return out;
}

} // namespace sy::actors::internal
