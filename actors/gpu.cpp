// gpu actor: one per device, a view for metrics: the device's weight memory (resident shards by model) and
// swap statistics, derived from the loads and evictions its stages report, and its KV pool's blocks (used,
// free) as its stage last reported them. It owns nothing: the stage owns
// its shards' residency (messages/pipeline.hpp, stage_event) and the stage's executor (engine) owns the
// device memory, freeing a shard only after its last use.
#include <map>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/spawn.hpp"

namespace sy::actors {

namespace {

using namespace messages;

struct gpu_state {
  std::string name;
  swap_stats stats;
  std::map<std::string, std::int64_t> resident; // model -> bytes
};

using self_ptr = gpu_actor::stateful_pointer<gpu_state>;

gpu_actor::behavior_type gpu_fn(self_ptr self, std::string name, std::int64_t budget) {
  self->state.name = std::move(name);
  self->state.stats.budget_bytes = budget;
  return {
    [=](swap_atom, swap_record& r) {
      auto& st = self->state;
      if (r.load) {
        ++st.stats.loads;
        st.stats.bytes += r.bytes;
        st.stats.seconds += std::chrono::duration<double>(r.elapsed).count();
        st.resident[r.model] = r.bytes;
      } else {
        ++st.stats.evictions;
        st.resident.erase(r.model);
      }
      st.stats.used_bytes = 0;
      for (auto& [m, b] : st.resident)
        st.stats.used_bytes += b;
    },
    [=](kv_usage_report& k) {
      self->state.stats.kv_blocks_used = k.blocks_used;
      self->state.stats.kv_blocks_free = k.blocks_free;
    },
    [=](status_atom) { return self->state.stats; },
    [=](stop_atom) { self->quit(); },
  };
}

} // namespace

gpu_actor spawn_gpu(caf::actor_system& sys, std::string name, std::int64_t budget_bytes) {
  return sys.spawn(gpu_fn, std::move(name), budget_bytes);
}

} // namespace sy::actors
