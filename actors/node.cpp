// node actor: one per process/machine. Opens the node's devices (engine backend), spawns one gpu actor per
// device, registers with the controller, and spawns stage actors on request: it builds the host shards of
// every model of the stage (seeded weights, a safetensors file, or a Hugging Face folder read straight from its
// mapped files into the shards; the source is cached per model) and an engine stage executor.
// Building shards (reading and splitting weights: seconds for large models) runs in a detached builder
// actor (its own thread), never in the node's handler: the node keeps answering heartbeats and other
// requests meanwhile, and no scheduler worker blocks. Answers the controller's heartbeats.
#include <map>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/internal/engine_stage_backend.hpp"
#include "actors/spawn.hpp"
#include "config/cluster_config.hpp"
#include "gpu/backend.hpp"
#include "gpu/hf_checkpoint.hpp"
#include "gpu/weights.hpp"
#include "messages/logging.hpp"
#include "policies/profile.hpp"

namespace sy::actors {

namespace {

using namespace messages;

/// What a builder thread needs; shared by the node actor and its builders (the weight cache is locked).
struct build_context {
  std::shared_ptr<const config::cluster_config> cfg;
  std::shared_ptr<gpu::backend> backend;
  std::vector<gpu_actor> gpus;
  std::mutex mutex; // guards weights
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

struct node_state {
  std::shared_ptr<build_context> ctx;
  int node = 0;
  std::vector<stage_actor> stages;
  std::uint64_t next_build = 1;
  std::map<std::uint64_t, std::pair<caf::typed_response_promise<stage_actor>, stage_spec>> building;
};

using self_ptr = node_actor::stateful_pointer<node_state>;

result<std::shared_ptr<const gpu::tensor_source>> weights_of(build_context& st, int model) {
  std::lock_guard<std::mutex> lock{st.mutex}; // one model's weights are read once, even by parallel builders
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

/// Runs on a builder thread.
result<stage_actor> build_stage(caf::actor_system& sys, build_context& st, const stage_spec& spec) {
  std::vector<int> devices(spec.devices.begin(), spec.devices.end());
  for (auto d : devices)
    if (d < 0 || static_cast<std::size_t>(d) >= st.gpus.size())
      return make_error("cluster", "group " + spec.group + " stage " + std::to_string(spec.stage) + ": device " +
                                     std::to_string(d) + " is not on this node");
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
  return spawn_stage(sys, spec.stage, std::move(backend), std::move(gpus));
}

node_actor::behavior_type node_fn(self_ptr self, std::shared_ptr<build_context> ctx, int node) {
  self->state.ctx = std::move(ctx);
  self->state.node = node;
  // Killed (the controller refusing the node, a link): stop the stages and gpus too; they are referenced from
  // other processes, which would keep them, and the actor system, alive.
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (auto& s : self->state.stages)
      caf::anon_send(s, stop_atom_v);
    for (auto& g : self->state.ctx->gpus)
      caf::anon_send(g, stop_atom_v);
    self->state.stages.clear();
    self->quit(em.reason);
  });
  return {
    [=](spawn_stage_atom, stage_spec& spec) -> caf::result<stage_actor> {
      auto& st = self->state;
      auto id = st.next_build++;
      auto p = self->make_response_promise<stage_actor>();
      st.building.emplace(id, std::make_pair(p, spec));
      node_actor me{self};
      auto ctx = st.ctx;
      self->system().spawn<caf::detached>([ctx, spec, me, id](caf::blocking_actor* b) {
        auto res = build_stage(b->system(), *ctx, spec);
        if (res)
          caf::anon_send(me, spawn_stage_atom_v, id, *res, std::string{});
        else
          caf::anon_send(me, spawn_stage_atom_v, id, stage_actor{}, res.err().to_string());
      });
      return p;
    },
    [=](spawn_stage_atom, std::uint64_t id, stage_actor& stage, std::string& error) {
      auto& st = self->state;
      auto it = st.building.find(id);
      if (it == st.building.end())
        return;
      auto [p, spec] = std::move(it->second);
      st.building.erase(it);
      if (!error.empty() || !stage) {
        logger("node")->error("group {} stage {}: {}", spec.group, spec.stage, error);
        p.deliver(caf::make_error(caf::sec::runtime_error, error));
        return;
      }
      st.stages.push_back(stage);
      p.deliver(stage);
    },
    [=](heartbeat_atom) { return ack{}; },
    [=](stop_atom) -> ack {
      for (auto& [id, b] : std::exchange(self->state.building, {}))
        b.first.deliver(caf::make_error(caf::sec::runtime_error, "node stopped"));
      for (auto& s : self->state.stages)
        caf::anon_send(s, stop_atom_v);
      for (auto& g : self->state.ctx->gpus)
        caf::anon_send(g, stop_atom_v);
      self->state.stages.clear();
      self->quit();
      return {};
    },
  };
}

} // namespace

result<node_registration> spawn_node(caf::actor_system& sys, std::shared_ptr<const config::cluster_config> cfg,
                                     int node) {
  const auto& nc = cfg->nodes.at(static_cast<std::size_t>(node));
  if (nc.devices.empty())
    return make_error("cluster", "node " + nc.name + " has no devices");
  gpu::backend_options opts;
  const auto kind = nc.devices.front().kind;
  opts.kind = kind == config::device_kind::cuda ? gpu::backend_kind::cuda
              : kind == config::device_kind::sim ? gpu::backend_kind::sim
                                                  : gpu::backend_kind::cpu;
  if (kind == config::device_kind::sim) { // simulated devices take the times of their profile
    auto costs = policies::load_sim_costs(*cfg, node);
    if (!costs)
      return make_error("cluster", "node " + nc.name + ": " + costs.err().message);
    opts.sim_costs = *costs;
  }
  opts.devices = static_cast<int>(nc.devices.size());
  opts.budget_bytes = static_cast<std::size_t>(nc.devices.front().memory_bytes);
  auto backend = gpu::open_devices(opts);
  if (!backend)
    return make_error("cluster", "node " + nc.name + ": " + backend.err().to_string());
  logger("node")->info("node {}: {}", nc.name, (*backend)->describe());
  auto ctx = std::make_shared<build_context>();
  ctx->cfg = cfg;
  ctx->backend = std::shared_ptr<gpu::backend>{std::move(*backend)};
  for (const auto& d : nc.devices)
    ctx->gpus.push_back(spawn_gpu(sys, nc.name + "/" + std::to_string(d.ordinal), d.memory_bytes));
  auto gpus = ctx->gpus;
  auto handle = sys.spawn(node_fn, std::move(ctx), node);
  return node_registration{nc.name, handle, std::move(gpus)};
}

} // namespace sy::actors
