#pragma once
// The control-plane payloads of the controller's client interface (messages/interfaces.hpp): model
// load/unload, model listing with residency, health, the metrics snapshot. Plain aggregates, serializable;
// any thread.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "messages/infer.hpp"

namespace sy::messages {

/// The answer of a control command: ok, or why not.
struct ack {
  bool ok = true;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ack& x) {
  return f(x.ok, x.reason);
}

/// load/unload: `group` empty = every group that hosts the model in the placement.
struct model_command {
  std::string model;
  std::string group;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_command& x) {
  return f(x.model, x.group);
}

/// The controller's and the group's view of a replica's residency, derived from its stages' events (the
/// stages own residency). lost: the replica's group lost a node or a device and serves nothing.
enum class residency : std::uint8_t { evicted, loading, resident, unloading, lost };

inline const char* to_string(residency r) noexcept {
  switch (r) {
    case residency::evicted: return "evicted";
    case residency::loading: return "loading";
    case residency::resident: return "resident";
    case residency::unloading: return "unloading";
    case residency::lost: return "lost";
  }
  return "?";
}

/// One replica of a model: the group hosting it and whether its weights are on the group's devices.
struct replica_info {
  std::string group;
  residency state = residency::evicted;
  std::int64_t bytes_per_device = 0; // largest shard of the model on one device of the group
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_info& x) {
  return f(x.group, x.state, x.bytes_per_device);
}

struct model_info {
  std::string name;
  std::vector<replica_info> replicas;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_info& x) {
  return f(x.name, x.replicas);
}

struct health_report {
  bool ready = false;    // now: every expected node present, every group wired and healthy
  bool draining = false; // drain requested: new requests are rejected
  std::int32_t nodes = 0;
  std::int32_t nodes_expected = 0;
  std::int32_t groups = 0;
  std::int32_t devices = 0;
  std::int64_t in_flight = 0;
  std::vector<std::string> problems; // everything that went wrong since start, e.g. "node n1 lost (...)"
  std::vector<std::string> missing;  // what is down now: "node n1 (...)", "group g1 (...)"; empty: whole
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_report& x) {
  return f(x.ready, x.draining, x.nodes, x.nodes_expected, x.groups, x.devices, x.in_flight, x.problems,
           x.missing);
}

/// A cumulative latency histogram (Prometheus style): counts[i] = observations <= bounds[i] (seconds),
/// counts.back() = all (+Inf).
struct latency_histogram {
  std::vector<double> bounds; // seconds, ascending
  std::vector<std::uint64_t> counts; // bounds.size() + 1
  double sum = 0;             // seconds
  std::uint64_t count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, latency_histogram& x) {
  return f(x.bounds, x.counts, x.sum, x.count);
}

/// Terminal answers of one model, by status.
struct request_counts {
  std::uint64_t ok = 0;
  std::uint64_t rejected = 0;
  std::uint64_t deadline_exceeded = 0;
  std::uint64_t failed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_counts& x) {
  return f(x.ok, x.rejected, x.deadline_exceeded, x.failed);
}

/// Swaps of one device since start.
struct swap_stats {
  std::uint64_t loads = 0;
  std::uint64_t evictions = 0;
  std::int64_t bytes = 0; // host -> device
  double seconds = 0;     // sum of load durations
  std::int64_t used_bytes = 0;   // resident shards now
  std::int64_t budget_bytes = 0; // weight budget of the device
  std::int64_t kv_blocks_used = 0; // KV blocks handed out from the device's pool (shared by its models)
  std::int64_t kv_blocks_free = 0; // free blocks in the pool's slabs
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, swap_stats& x) {
  return f(x.loads, x.evictions, x.bytes, x.seconds, x.used_bytes, x.budget_bytes, x.kv_blocks_used,
           x.kv_blocks_free);
}

struct metrics_snapshot {
  std::map<std::string, request_counts> requests;     // by model
  std::map<std::string, latency_histogram> latency;   // by model, arrival -> answer, ok requests
  std::map<std::string, std::int64_t> queue_depth;    // by "group/model": queued, not yet batched
  std::map<std::string, swap_stats> swaps;            // by device name "node/ordinal"
  std::map<std::string, std::vector<std::string>> resident; // by group: resident models
  std::map<std::string, std::uint64_t> rejected_by_reason;
  std::int64_t in_flight = 0;
  std::map<std::string, std::uint64_t> policy_faults; // by "kind/policy/fault" (threw | invalid): plug-in
                                                      // decisions replaced by the built-in default
  std::uint64_t replacements = 0; // groups built after a loss for the replicas it took (issue 9 §3)
  std::uint64_t models_moved = 0; // model replicas placed on those groups
  // generation (issue 10)
  std::map<std::string, std::int64_t> gen_running;  // by "group/model": sequences admitted (holding KV)
  std::map<std::string, std::int64_t> gen_waiting;  // by "group/model": sequences not admitted yet
  std::map<std::string, std::int64_t> preemptions;  // by "group/model": KV dropped and recomputed
  std::map<std::string, std::int64_t> gen_tokens;   // by "group/model": new tokens sampled
  std::map<std::string, std::int64_t> kv_blocks_used; // by "group/stage": KV blocks handed out on the stage's devices
  std::map<std::string, std::int64_t> kv_blocks_free; // by "group/stage": free blocks in their held slabs
  std::map<std::string, std::int64_t> kv_swaps;          // by "group/model": preemptions that swapped the KV out
  std::map<std::string, std::int64_t> kv_swap_fallbacks; // by "group/model": swaps that failed, recomputed instead
  // re-placement while serving (issue 11 §2)
  std::map<std::string, std::uint64_t> replans;   // by "policy/outcome" (applied, kept, failed, busy, ...)
  std::uint64_t migrations = 0;                   // migrations completed
  std::uint64_t migration_models_moved = 0;       // replicas built by migrations
  std::uint64_t migration_bytes_loaded = 0;       // their shard bytes, over every device
  latency_histogram migration_seconds{};          // accepted -> new placement resident and old groups gone
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metrics_snapshot& x) {
  return f(x.requests, x.latency, x.queue_depth, x.swaps, x.resident, x.rejected_by_reason, x.in_flight,
           x.policy_faults, x.replacements, x.models_moved, x.gen_running, x.gen_waiting, x.preemptions,
           x.gen_tokens, x.kv_blocks_used, x.kv_blocks_free, x.kv_swaps, x.kv_swap_fallbacks, x.replans,
           x.migrations, x.migration_models_moved, x.migration_bytes_loaded, x.migration_seconds);
}

} // namespace sy::messages
