// gpu actor: one per device. Accounts the device's weight memory (resident shards by model), the in-flight
// uses of each model's shard, and swap statistics; stages report to it. The shards themselves live in the
// stage's executor (engine), which frees a shard only after its last use; this actor is the device's
// observable state for metrics and health.
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
  std::map<std::string, std::int64_t> uses;     // model -> stages on this device with batches of it in flight
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
    [=](acquire_atom, std::string& model) { ++self->state.uses[model]; },
    [=](release_atom, std::string& model) {
      if (--self->state.uses[model] <= 0)
        self->state.uses.erase(model);
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
