#pragma once
// Factories of the runtime's actors (DESIGN.md §1). Actors know each other only through the typed
// interfaces of messages/; this header is what the wiring code (controller, node, start_cluster, tests)
// includes. Spawning is thread-safe (caf::actor_system::spawn).
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/stage_backend.hpp"
#include "messages/interfaces.hpp"
#include "policies/profile.hpp"
#include "policies/runtime_registry.hpp"

namespace sy::config {
struct cluster_config;
}

namespace sy::actors {

/// A request actor for one accepted request (controller-internal; see messages/pipeline.hpp).
struct request_init {
  std::string model;
  messages::time_point arrival{};
  messages::time_point dispatch{};
  messages::time_point deadline{};
  std::string group_name;
  messages::model_group_actor group;
  messages::controller_full_actor controller; // may be invalid (tests)
  /// true: the actor arms its own deadline timer (one clock event per request). false: its controller
  /// sends it timeout_atom once the deadline passed (one periodic timer for all requests).
  bool own_timer = true;
  /// A generation (always its own timer): `deadline` bounds the first token; after it, a gap of more than
  /// this between tokens fails the request (a lost group), never a slow but live one.
  messages::duration stall_timeout = std::chrono::seconds(30);
};
messages::request_actor spawn_request(caf::actor_system& sys, request_init init);

/// A stage actor over `backend`. gpus: the gpu actors of its devices (may be empty).
messages::stage_actor spawn_stage(caf::actor_system& sys, std::int32_t index,
                                  std::shared_ptr<stage_backend> backend,
                                  std::vector<messages::gpu_actor> gpus);

/// A gpu actor (accounting of one device).
messages::gpu_actor spawn_gpu(caf::actor_system& sys, std::string name, std::int64_t budget_bytes);

struct model_group_init {
  std::string name;
  std::int32_t stages = 1;
  std::int64_t budget_bytes = 0;             // per device, for weights
  std::map<std::string, std::int64_t> models; // hosted model -> its largest shard bytes per device
  policies::batching_fn batching;
  policies::eviction_fn eviction;
  std::int32_t max_in_flight = 0;            // batches in the pipeline at once; 0: stages + 1
  std::vector<std::string> preload;           // loaded at attach while they fit, in this order
  bool load_pipelining = true;                // false: a load's stages copy one after another (baseline)
  /// Generation (issue 10): the hosted decoders that generate, with their eos token (-1: none); the
  /// iteration limits per model; the KV block size of the group's accounting view.
  std::map<std::string, std::int32_t> generators;
  std::int32_t gen_max_seqs = 16;
  std::int32_t gen_token_budget = 256;
  std::int32_t kv_block_tokens = 16;
  bool gen_swap = false; // out of KV blocks: swap the preempted sequence's KV to the host (else recompute)
  messages::controller_full_actor controller; // may be invalid (tests)
};
messages::model_group_actor spawn_model_group(caf::actor_system& sys, model_group_init init);

/// The controller of `cfg` (expects every node of the config to register). Errors: bad policy names.
/// `profile`: the profile the placement was planned with, for placement.replan when the config names no
/// placement.profile file (else the file is read).
result<messages::controller_full_actor> spawn_controller(caf::actor_system& sys,
                                                         std::shared_ptr<const config::cluster_config> cfg,
                                                         std::shared_ptr<const policies::profile_db> profile = nullptr);

/// A node actor for cfg.nodes[node]: opens its devices, spawns gpu actors. The caller registers the returned
/// registration with the controller (register_atom; a joining node waits for the answer).
result<messages::node_registration> spawn_node(caf::actor_system& sys,
                                               std::shared_ptr<const config::cluster_config> cfg, int node);

} // namespace sy::actors
