#pragma once
// The runtime-internal typed actor interfaces (DESIGN.md §1). One comment line per signature. Actors depend
// on these, never on each other's headers. Client code uses messages/controller.hpp instead.
#include <map>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/control.hpp"
#include "messages/controller.hpp"
#include "messages/pipeline.hpp"

namespace sy::messages {

/// A stage's device work completed (posted by the backend's callback to its own stage; local only).
struct stage_completion {
  std::uint64_t token = 0;
  std::string error_category; // empty: ok
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_completion& x) {
  return f(x.token, x.error_category, x.reason);
}

/// What a stage accepts from its predecessor (the group for stage 0, stage s-1 otherwise).
using stage_input_actor = caf::typed_actor<
  caf::reacts_to<batch_entry>,    // run this stage's layers, hand on / answer
  caf::reacts_to<load_entry>,     // forward, then copy this stage's shard
  caf::reacts_to<evict_entry>,    // forward, then free this stage's shard after its last use
  caf::reacts_to<step_entry>,     // a generation step: run, hand on / sample and report (issue 10)
  caf::reacts_to<release_entry>>; // free these sequences' KV on this stage (from the group)

/// KV block use on a stage's devices (their pools, shared by every model there), when it changed.
struct kv_usage_report {
  std::int32_t stage = 0;
  std::int64_t blocks_used = 0;
  std::int64_t blocks_free = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_usage_report& x) {
  return f(x.stage, x.blocks_used, x.blocks_free);
}

/// What a stage reports to its group.
using group_events_actor = caf::typed_actor<
  caf::reacts_to<stage_event>,      // an entry's completion / failure
  caf::reacts_to<step_result>,      // a generation step's sampled tokens (last stage) or failure
  caf::reacts_to<kv_usage_report>>; // KV blocks on the stage's devices changed

/// stage: one per (group, stage index); owns its devices' executor.
using stage_actor = stage_input_actor::extend<
  caf::reacts_to<attach_atom, stage_input_actor, group_events_actor>, // next stage (invalid: last), group
  caf::reacts_to<completion_atom, stage_completion>,                  // engine callback
  caf::reacts_to<tick_atom>,                                          // own timer: a stop's grace period
  caf::replies_to<kv_swap_entry>::with<kv_swap_result>,               // preemption by swap (from the group)
  caf::replies_to<stop_atom>::with<ack>>; // refuse new entries, let enqueued device work finish, quit

/// Swap accounting of one device, reported by stages to the device's gpu actor.
struct swap_record {
  std::string model;
  bool load = true;       // false: eviction
  std::int64_t bytes = 0; // shard bytes on this device
  duration elapsed{0};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, swap_record& x) {
  return f(x.model, x.load, x.bytes, x.elapsed);
}

/// gpu: one per device, a metrics view derived from its stages' loads and evictions: budget, resident
/// shards (bytes), swap statistics. Owns nothing (the stage owns residency, the engine the memory).
using gpu_actor = caf::typed_actor<
  caf::reacts_to<swap_atom, swap_record>,            // a load / eviction of a shard completed
  caf::reacts_to<kv_usage_report>,                   // the device's KV pool changed (from its stage)
  caf::replies_to<status_atom>::with<swap_stats>,    // statistics and memory use
  caf::reacts_to<stop_atom>>;

/// What a node spawns for one stage of a group.
struct stage_spec {
  std::string group;
  std::int32_t stage = 0;
  std::int32_t stages = 1;
  std::vector<std::int32_t> devices; // positions in the node's device list, one per tensor rank
  std::vector<std::int32_t> models;  // positions in cluster_config::models
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_spec& x) {
  return f(x.group, x.stage, x.stages, x.devices, x.models);
}

/// node: one per process/machine: its devices (backend), gpu actors and stages.
using node_actor = caf::typed_actor<
  caf::replies_to<spawn_stage_atom, stage_spec>::with<stage_actor>, // build shards (off the actor threads), spawn the stage
  caf::reacts_to<spawn_stage_atom, std::uint64_t, stage_actor, std::string>, // own builder: done (stage or error)
  caf::replies_to<heartbeat_atom>::with<ack>,                       // the controller's liveness probe
  caf::replies_to<stop_atom>::with<ack>>;                           // stop stages and gpu actors

struct node_registration {
  std::string node; // config name
  node_actor handle;
  std::vector<gpu_actor> gpus; // one per device, config order
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_registration& x) {
  return f(x.node, x.handle, x.gpus);
}

/// A model_group's state as the controller's admission and dispatch see it (pushed after changes).
/// What admission needs of one model's generations in a group (actors/internal/ttft_predictor.hpp): the
/// measured step cost (seconds = step_base_s + prefill_token_s x prompt tokens in the step; 0, 0: nothing
/// measured yet) and the queue a new sequence would join.
struct gen_load {
  double step_base_s = 0;
  double prefill_token_s = 0;
  std::int64_t steps = 0;             // steps measured
  std::int64_t prefill_ahead = 0;     // prompt tokens not yet in the KV of running and waiting sequences
  std::vector<std::int32_t> running_left{}; // new tokens still to come per running sequence, ascending
  double waiting_new_tokens = 0;      // mean new tokens still to come per waiting sequence
  std::int64_t enqueued = 0;          // generations of the model this group actor received so far
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gen_load& x) {
  return f(x.step_base_s, x.prefill_token_s, x.steps, x.prefill_ahead,
           x.running_left, x.waiting_new_tokens, x.enqueued);
}

struct group_report {
  std::string group;
  std::map<std::string, residency> models;
  std::map<std::string, std::int64_t> queued;
  std::map<std::string, double> latency_s; // measured pipeline latency per model (EWMA, batch of 1)
  std::map<std::string, double> load_s;    // measured load time per model (EWMA)
  std::int64_t in_pipeline = 0;            // batches in flight
  std::string unhealthy;                   // non-empty: a device of the group failed (why); it refuses work
  // generation (issue 10), per model: running (admitted) and waiting sequences, preemptions, tokens;
  // per stage: KV blocks used and free on its devices
  std::map<std::string, std::int64_t> gen_running, gen_waiting, preemptions, gen_tokens;
  std::vector<std::int64_t> kv_used, kv_free;
  std::map<std::string, std::int64_t> kv_swaps, kv_swap_fallbacks; // of the preemptions: by swap; swaps that fell back
  std::map<std::string, gen_load> gen_loads{}; // per generating model: step costs and queue (TTFT admission)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_report& x) {
  return f(x.group, x.models, x.queued, x.latency_s, x.load_s, x.in_pipeline, x.unhealthy, x.gen_running,
           x.gen_waiting, x.preemptions, x.gen_tokens, x.kv_used, x.kv_free, x.kv_swaps, x.kv_swap_fallbacks,
           x.gen_loads);
}

/// model_group: one per group of devices with one (tp, pp).
using model_group_actor = group_events_actor::extend<
  caf::reacts_to<attach_atom, std::vector<stage_actor>>,    // the stages, index order; starts the group
  caf::reacts_to<enqueue_atom, queued_request>,             // queue a request (answers via its requester)
  caf::reacts_to<enqueue_atom, queued_generation>,          // queue a generation (streams + answers via its requester)
  caf::reacts_to<cancel_atom, request_id>,                  // drop it if still queued
  caf::replies_to<load_atom, std::string>::with<ack>,       // make the model resident (once)
  caf::replies_to<unload_atom, std::string>::with<ack>,     // evict after its in-flight work
  caf::reacts_to<tick_atom>,                                // own batching timer
  caf::replies_to<stop_atom>::with<ack>,                    // fail queued requests, stop stages, quit
  caf::reacts_to<policy_atom, policy_update>>;              // use this batching / eviction policy from now on

/// A request actor's final report to the controller.
struct request_record {
  request_id id;
  std::string model;
  request_status status = request_status::failed;
  std::string reason;
  duration latency{0}; // arrival -> answer
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_record& x) {
  return f(x.id, x.model, x.status, x.reason, x.latency);
}

/// What a policy actor pushes its new policies to (the controller, which passes batching and eviction on to
/// its groups): answers once the new policy is in use.
using policy_sink_actor = caf::typed_actor<caf::replies_to<policy_atom, policy_update>::with<ack>>;

/// policy actor: one per runtime policy kind (policies/policy_actor.hpp), owns the kind's current policy.
using policy_actor = caf::typed_actor<
  caf::replies_to<policy_atom, std::string>::with<policy_info>,  // the current policy (argument: the kind)
  caf::replies_to<policy_atom, policy_spec>::with<policy_info>>; // build it, push it to the sink, answer

/// The controller with its internal interface (nodes, groups, requests report to it).
using controller_full_actor = controller_actor::extend<
  caf::replies_to<register_atom, node_registration>::with<ack>, // a node joins (or rejoins); refused: why
  caf::reacts_to<heartbeat_atom>,                   // own timer: probe the nodes, detect lost ones
  caf::reacts_to<done_atom, request_record>,        // a request actor answered
  caf::reacts_to<report_atom, group_report>,        // a group's state changed
  caf::reacts_to<ready_atom, std::string, ack>,     // a group finished wiring (+ preloads)
  caf::reacts_to<tick_atom>,                        // own timer: request deadlines
  caf::reacts_to<placement_atom, tick_atom>,        // own timer: ask the re-placement policy (issue 11 §2)
  caf::reacts_to<placement_atom, replan_report>,    // the planner's candidate (a detached actor's answer)
  caf::replies_to<policy_atom, policy_update>::with<ack>>; // a policy actor's new policy (policy_sink_actor)

/// Registers the internal payloads and handles (messages/type_ids.cpp calls it).
void add_internal_message_types(caf::actor_system_config& cfg);

} // namespace sy::messages
