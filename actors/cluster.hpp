#pragma once
// The entry points that apps (`switchyard up`, ingress, replay, benchmarks) call to run a cluster inside an
// actor system. Call them from a non-actor thread (main); they block until the cluster is ready or stopped.
// The actor system must have been configured with sy::messages::add_message_types(cfg) (and, for nodes in
// other processes, the middleman).
//
// Ownership: the cluster's actors live in the actor system; cluster_handle keeps them referenced. Stop with
// stop_cluster() before the actor system is destroyed.
#include <chrono>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/controller.hpp"
#include "messages/result.hpp"

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
};

struct cluster_handle {
  messages::controller_actor controller; // the client interface; valid until stop_cluster
  caf::actor keep_alive;                 // internal: keeps the node actors referenced
};

/// Spawns the controller and the local node actors for `cfg`, waits until the controller reports ready.
/// Errors (category "cluster"): a node that fails to start its devices, a model whose shards do not fit
/// a group's budget, ready_timeout passed.
result<cluster_handle> start_cluster(caf::actor_system& sys, const config::cluster_config& cfg,
                                     const start_options& opts = {});

/// Drains (every accepted request answered), stops all actors of the cluster and waits for them.
[[nodiscard]] status stop_cluster(caf::actor_system& sys, cluster_handle& h,
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds{30000});

} // namespace sy::actors
