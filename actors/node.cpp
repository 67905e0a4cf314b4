// node actor: one per process/machine. Opens the node's devices (engine backend), spawns one gpu actor per
// device, registers with the controller, and spawns stage actors on request: it builds the host shards of
// every model of the stage (seeded weights, a safetensors file, or a Hugging Face folder read straight from its
// mapped files into the shards; the source is cached per model) and an engine stage executor.
// Building shards runs inside the spawn_stage handler (start-up only).
#include <map>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/internal/engine_stage_backend.hpp"
#include "actors/spawn.hpp"
#include "config/cluster_config.hpp"
#include "gpu/backend.hpp"
#include "gpu/hf_checkpoint.hpp"
#include "gpu/weights.hpp"
#include "messages/logging.hpp"

namespace sy::actors {

namespace {

using namespace messages;

struct node_state {
  std::shared_ptr<const config::cluster_config> cfg;
  int node = 0;
  std::shared_ptr<gpu::backend> backend;
  std::vector<gpu_actor> gpus;
  std::vector<stage_actor> stages;
  std::map<int, std::shared_ptr<const gpu::tensor_source>> weights; // by model index
};

/// A weight_set (seeded, safetensors) as a source that owns it.
struct owned_weight_source final : gpu::tensor_source {
  explicit owned_weight_source(gpu::weight_set w) : weights(std::move(w)), view(weights) {}
  status check(const gpu::model_spec& s) const override { return view.check(s); }
  status read(const gpu::tensor_desc& t, const gpu::tensor_slice& sl, gpu::dtype d, std::byte* dst) const override {
    return view.read(t, sl, d, dst);
  }
  gpu::weight_set weights;
  gpu::weight_set_source view;
};

using self_ptr = node_actor::stateful_pointer<node_state>;

result<std::shared_ptr<const gpu::tensor_source>> weights_of(node_state& st, int model) {
  if (auto it = st.weights.find(model); it != st.weights.end())
    return it->second;
  const auto& mc = st.cfg->models[static_cast<std::size_t>(model)];
  std::shared_ptr<const gpu::tensor_source> src;
  if (mc.weights.kind == config::weights_config::source::hf) {
    auto ck = gpu::open_hf_checkpoint(mc.weights.path, mc.spec.type);
    if (!ck)
      return ck.err();
    src = ck->source;
  } else {
    auto w = mc.weights.kind == config::weights_config::source::seed ? gpu::generate_weights(mc.spec, mc.weights.seed)
                                                                     : gpu::load_weights(mc.weights.path, mc.spec);
    if (!w)
      return w.err();
    src = std::make_shared<const owned_weight_source>(std::move(*w));
  }
  if (auto ok = src->check(mc.spec); !ok)
    return ok.err();
  st.weights[model] = src;
  return src;
}

result<stage_actor> build_stage(self_ptr self, const stage_spec& spec) {
  auto& st = self->state;
  std::vector<int> devices(spec.devices.begin(), spec.devices.end());
  auto exec = gpu::stage_executor::create(*st.backend, devices);
  if (!exec)
    return exec.err();
  auto backend = std::make_shared<internal::engine_stage_backend>(st.backend, std::move(*exec));
  int tp = static_cast<int>(devices.size());
  for (auto m : spec.models) {
    const auto& mc = st.cfg->models[static_cast<std::size_t>(m)];
    auto layout = gpu::even_layout(mc.spec, tp, spec.stages);
    if (!layout)
      return layout.err();
    auto w = weights_of(st, m);
    if (!w)
      return w.err();
    std::vector<std::shared_ptr<const gpu::host_shard>> shards;
    for (int r = 0; r < tp; ++r) {
      auto plan = gpu::plan_shard(mc.spec, *layout, spec.stage, r, mc.spec.type);
      if (!plan)
        return plan.err();
      auto shard = gpu::build_host_shard(*plan, **w, *st.backend);
      if (!shard)
        return shard.err();
      shards.push_back(std::move(*shard));
    }
    if (auto ok = backend->add_model(mc.name, model_id{static_cast<std::uint32_t>(m)}, std::move(shards)); !ok)
      return ok.err();
  }
  std::vector<gpu_actor> gpus;
  for (auto d : spec.devices)
    gpus.push_back(st.gpus.at(static_cast<std::size_t>(d)));
  auto stage = spawn_stage(self->system(), spec.stage, std::move(backend), std::move(gpus));
  st.stages.push_back(stage);
  return stage;
}

node_actor::behavior_type node_fn(self_ptr self, std::shared_ptr<const config::cluster_config> cfg, int node,
                                  std::shared_ptr<gpu::backend> backend, std::vector<gpu_actor> gpus) {
  self->state.cfg = std::move(cfg);
  self->state.node = node;
  self->state.backend = std::move(backend);
  self->state.gpus = std::move(gpus);
  // Killed (the controller refusing the node, a link): stop the stages and gpus too; they are referenced from
  // other processes, which would keep them, and the actor system, alive.
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (auto& s : self->state.stages)
      caf::anon_send(s, stop_atom_v);
    for (auto& g : self->state.gpus)
      caf::anon_send(g, stop_atom_v);
    self->state.stages.clear();
    self->quit(em.reason);
  });
  return {
    [=](spawn_stage_atom, stage_spec& spec) -> caf::result<stage_actor> {
      auto res = build_stage(self, spec);
      if (!res) {
        logger("node")->error("group {} stage {}: {}", spec.group, spec.stage, res.err().to_string());
        return caf::make_error(caf::sec::runtime_error, res.err().to_string());
      }
      return *res;
    },
    [=](stop_atom) -> ack {
      for (auto& s : self->state.stages)
        caf::anon_send(s, stop_atom_v);
      for (auto& g : self->state.gpus)
        caf::anon_send(g, stop_atom_v);
      self->state.stages.clear();
      self->quit();
      return {};
    },
  };
}

} // namespace

result<node_actor> spawn_node(caf::actor_system& sys, std::shared_ptr<const config::cluster_config> cfg, int node,
                              controller_full_actor controller) {
  const auto& nc = cfg->nodes.at(static_cast<std::size_t>(node));
  if (nc.devices.empty())
    return make_error("cluster", "node " + nc.name + " has no devices");
  gpu::backend_options opts;
  opts.kind = nc.devices.front().kind == config::device_kind::cuda ? gpu::backend_kind::cuda : gpu::backend_kind::cpu;
  opts.devices = static_cast<int>(nc.devices.size());
  opts.budget_bytes = static_cast<std::size_t>(nc.devices.front().memory_bytes);
  auto backend = gpu::open_devices(opts);
  if (!backend)
    return make_error("cluster", "node " + nc.name + ": " + backend.err().to_string());
  logger("node")->info("node {}: {}", nc.name, (*backend)->describe());
  std::vector<gpu_actor> gpus;
  for (const auto& d : nc.devices)
    gpus.push_back(spawn_gpu(sys, nc.name + "/" + std::to_string(d.ordinal), d.memory_bytes));
  std::shared_ptr<gpu::backend> shared{std::move(*backend)};
  auto handle = sys.spawn(node_fn, cfg, node, shared, gpus);
  if (controller)
    caf::anon_send(controller, register_atom_v, node_registration{nc.name, handle, gpus});
  return handle;
}

} // namespace sy::actors
