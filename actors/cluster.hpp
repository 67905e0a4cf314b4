#pragma once
// The entry points that apps (`switchyard up`, ingress, replay, benchmarks) call to run a cluster inside an
// actor system. Call them from a non-actor thread (main); they block until the cluster is ready or stopped.
// The actor system must have been configured with sy::messages::add_message_types(cfg) (and, for nodes in
// other processes, the middleman).
//
// Ownership: the cluster's actors live in the actor system; cluster_handle keeps them referenced. Stop with
// stop_cluster() before the actor system is destroyed.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/controller.hpp"
#include "messages/result.hpp"
#include "policies/placement/placement.hpp"
#include "policies/profile.hpp"

namespace sy::config {
struct cluster_config;
}

namespace sy::actors {

struct start_options {
  /// Names of the config's nodes that run in this process; empty: every node (single-process cluster).
  std::vector<std::string> local_nodes;
  /// start_cluster fails if the cluster is not ready (nodes registered, groups wired, initial loads done)
  /// within this time.
  std::chrono::milliseconds ready_timeout{30000};
  /// Load each group's models at start, in placement order, while they fit its devices' budgets.
  bool preload = true;
  /// Publish the controller at cfg.controller (host, port; port 0: any free port) so that nodes in other
  /// processes can join (join_cluster). Needs the middleman loaded in the actor system.
  bool publish = false;
  /// Polled while waiting for ready (every 20 ms): true stops the cluster and fails start_cluster with
  /// "start-up cancelled" (`up` asks whether SIGINT/SIGTERM is pending, so a signal during start-up is
  /// not held until the cluster is ready or the timeout passes).
  std::function<bool()> cancelled{};
  /// The profile the placement was planned with; the re-planner (placement.replan) uses it when the config
  /// names no placement.profile file.
  std::shared_ptr<const policies::profile_db> profile{};
};

struct cluster_handle {
  messages::controller_actor controller; // the client interface; valid until stop_cluster
  caf::actor keep_alive;                 // internal: keeps the node actors referenced
  std::uint16_t port = 0;                // where the controller is published (start_options::publish)
};

/// Prepares an actor system config for a switchyard process of this deployment: registers the message types,
/// loads the middleman when `networked`, sets the same heartbeat interval and connection timeout (from
/// cfg.runtime) on every node, and a protocol identifier so that incompatible builds refuse to connect.
void prepare_actor_system_config(caf::actor_system_config& sys_cfg, const config::cluster_config& cfg,
                                 bool networked);

/// Spawns the controller and the local node actors for `cfg`, waits until the controller reports ready.
/// Errors (category "cluster"): a node that fails to start its devices, a model whose shards do not fit
/// a group's budget, ready_timeout passed.
result<cluster_handle> start_cluster(caf::actor_system& sys, const config::cluster_config& cfg,
                                     const start_options& opts = {});

struct joined_node {
  caf::actor node;                          // the local node actor (keeps the node's gpus and stages alive)
  caf::actor controller; // the remote controller's proxy (monitor it: a lost connection is a down message)
};

/// Runs config node `node` in this process (`switchyard node --join`): connects to the controller published
/// at host:port (retrying while the connection is refused, until `timeout`), opens the node's devices and
/// registers. The controller stops the node (stop_cluster) or refuses it (exit with a reason: a node of that
/// name is already registered, the cluster was already wired). Needs the middleman loaded in the actor system.
/// Errors (category "cluster"): node not in cfg, controller unreachable within `timeout` (with CAF's last
/// error), a peer that is not a compatible switchyard controller, the node's devices cannot be opened.
result<joined_node> join_cluster(caf::actor_system& sys, const config::cluster_config& cfg, const std::string& node,
                                 const std::string& host, std::uint16_t port,
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds{30000});

/// The placement the runtime builds for `cfg` (explicit groups or a plan file; a policy placement is
/// planned before this, apps/live_plan.hpp, and arrives as explicit groups), in the
/// planner's and simulator's terms: model_names = cfg's models in config order, models as indices into them,
/// devices as global indices (node order, then device order). `replay --simulate` feeds it to the simulator.
/// Errors: those of start_cluster's placement step (category "cluster").
result<policies::placement> runtime_placement(const config::cluster_config& cfg);

/// The per-device weight budget the runtime gives a group on devices of `memory_bytes` (the rest is for
/// activations and workspace).
std::int64_t weight_budget(std::int64_t memory_bytes);

/// Drains (every accepted request answered), stops all actors of the cluster and waits for them.
[[nodiscard]] status stop_cluster(caf::actor_system& sys, cluster_handle& h,
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds{30000});

} // namespace sy::actors
