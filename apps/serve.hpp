#pragma once
// local_service: one process serving a cluster config: the actor system, the cluster (controller + local
// node, from the runtime's start_cluster), the msgpack ingress, the HTTP ingress and the metrics endpoint.
// Used by `switchyard up` (until a signal) and by `switchyard replay -c` and the benchmarks (in-process).
//
// Ownership: the caller owns the local_service; start/drain/stop from one thread (main), never an actor.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "config/cluster_config.hpp"
#include "messages/control.hpp"
#include "messages/result.hpp"
#include "policies/profile.hpp"

namespace sy::apps {

/// CAF's scheduler for our processes (up, node): as many workers as hardware threads with the `sharing`
/// policy; SY_CAF_THREADS=n and SY_CAF_POLICY=sharing|stealing override it.
void tune_scheduler(caf::actor_system_config& cfg);

struct serve_ports {
  std::uint16_t controller = 0; // 0: not published
  std::uint16_t msgpack = 0;
  std::uint16_t http = 0;
  std::uint16_t metrics = 0;
};

class local_service {
public:
  virtual ~local_service() = default;
  virtual serve_ports ports() const = 0;
  virtual std::string backend() const = 0; // e.g. "cpu (4 devices)"
  /// The controller's metrics snapshot (blocks the caller up to 5 s).
  virtual result<messages::metrics_snapshot> snapshot() = 0;
  /// Stops accepting, answers everything in flight (ingress, then controller), stops the cluster.
  /// Returns false when something was still in flight after `timeout`.
  virtual bool drain_and_stop(std::chrono::milliseconds timeout) = 0;
};

struct serve_overrides {
  bool any_ports = false; // bind every listener to port 0 (tests, replay -c, benchmarks)
  int max_in_flight = 0;  // > 0: overrides ingress.max_in_flight
  bool echo_controller = false; // serve with actors/echo_controller (no models run): the ingress alone
  std::vector<std::string> local_nodes; // config nodes run in this process; empty: all of them
  bool publish = false;  // publish the controller at cfg.controller for `switchyard node --join`
  std::chrono::milliseconds ready_timeout{30000}; // every node registered, groups wired, preloads done
  std::function<bool()> cancelled{}; // polled while waiting for the cluster to be ready (actors::start_options)
  /// GET /v2/placement's body when the caller planned already (apps/live_plan.hpp); empty: made here.
  std::string placement_json{};
  /// The profile the placement was planned with (served_placement::profile), for the controller's re-planner.
  std::shared_ptr<const policies::profile_db> profile{};
};

/// Starts everything `cfg` describes in this process; blocks until the cluster is ready and listening. A
/// policy placement is planned first (apps/live_plan.hpp: plan_for_serving); callers that want its errors
/// before anything else starts plan themselves and pass the planned config.
result<std::unique_ptr<local_service>> start_local_service(const config::cluster_config& cfg,
                                                           const serve_overrides& o = {});

} // namespace sy::apps
