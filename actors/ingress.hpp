#pragma once
// The msgpack ingress (DESIGN.md §1): a CAF broker that accepts TCP clients, splits their byte streams into
// length-prefixed msgpack frames (actors/ingress_protocol.hpp), forwards each request to the controller and
// writes back its one terminal answer. It owns the client connections and the in-flight bound; it never
// schedules.
//
// Threads: the broker runs on the middleman's I/O thread and never blocks. start_msgpack_ingress() and
// drain_ingress() block their caller (use them from main or a test, never from an actor).
//
// Lifecycle:  listening --drain--> draining (acceptor closed, new frames answered `rejected: draining`,
//             in-flight requests still answered) --in flight == 0--> drained (drain answers) --exit--> gone
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/ingress_protocol.hpp"
#include "actors/listen_socket.hpp"
#include "actors/metrics.hpp"
#include "messages/controller.hpp"
#include "messages/result.hpp"

namespace sy::actors {

/// Bounds the requests accepted but not yet answered, across the msgpack and HTTP ingress. Thread-safe.
class inflight_gate {
public:
  explicit inflight_gate(std::int64_t max) : max_(max) {}
  bool try_acquire() {
    if (n_.fetch_add(1, std::memory_order_relaxed) >= max_) {
      n_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void release() { n_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t current() const { return n_.load(std::memory_order_relaxed); }
  std::int64_t max() const { return max_; }

private:
  std::atomic<std::int64_t> n_{0};
  std::int64_t max_;
};

/// What the ingress knows of a configured model, to refuse bad requests before they are scheduled.
struct model_limits {
  std::int64_t vocab = 0;   // token ids must be < vocab
  std::int64_t max_seq = 0; // at most this many tokens
};

/// What the ingress endpoints share: the controller, limits, the gate and the metrics.
struct ingress_context {
  messages::controller_actor controller;
  ingress_limits limits;
  std::chrono::milliseconds request_timeout{30000}; // how long the ingress waits for the controller
  std::shared_ptr<inflight_gate> gate;
  std::shared_ptr<metrics_registry> metrics;
  std::atomic<std::uint64_t> next_id{1}; // ids the controller sees (clients' ids may collide)
  std::map<std::string, model_limits> models; // the config's models; empty: names not checked (tests)
  std::string control_token; // non-empty: control routes require `Authorization: Bearer <token>`
  std::string placement_json; // GET /v2/placement: the placement served (apps/live_plan.hpp); empty: 404
};

/// A request refused by the ingress itself: the code and the reason.
struct refusal {
  messages::error_code code;
  std::string reason;
};

/// Checks a request against the config's models before it reaches the controller: unknown model, a
/// token outside the model's vocabulary, more tokens than its max_seq. nullopt: acceptable.
std::optional<refusal> check_request(const ingress_context& ctx, const std::string& model,
                                     const std::vector<std::int32_t>& tokens);

/// The model label of metrics: the name when the config has it, else "unknown" (client input never
/// becomes a label: memory stays bounded).
std::string model_label(const ingress_context& ctx, const std::string& model);

/// Declares the ingress metric families (requests, latency, rejections, connections) in `m`.
void describe_ingress_metrics(metrics_registry& m);

/// Records one answered request in the metrics (protocol "msgpack" or "http"); `model` must be a label
/// (model_label). Labels come from w.code, never from the reason's text.
void record_answer(metrics_registry& m, const std::string& protocol, const std::string& model,
                   const wire_response& w, double latency_s);

/// The wire answer for a controller response; `ingress_s` is the time the ingress held the request.
wire_response to_wire(const messages::infer_response& r, double ingress_s);

/// Spawns the broker and binds it to bind:port (0: any free port). Returns the broker and the bound port.
result<std::pair<caf::actor, std::uint16_t>> start_msgpack_ingress(caf::actor_system& sys,
                                                                   std::shared_ptr<ingress_context> ctx,
                                                                   const std::string& bind,
                                                                   std::uint16_t port);
/// Spawns the broker on a socket bound and listening already (`up` binds every port before weights load).
/// Returns the broker and the socket's port.
result<std::pair<caf::actor, std::uint16_t>> start_msgpack_ingress(caf::actor_system& sys,
                                                                   std::shared_ptr<ingress_context> ctx,
                                                                   listen_socket socket);

/// Stops accepting and answers everything in flight; blocks up to `timeout`; returns false if requests were
/// still in flight then. The broker stays up (answering late frames `rejected: draining`) until the caller
/// sends it an exit message (caf::anon_send_exit) once the rest of the service has stopped.
bool drain_ingress(caf::actor_system& sys, const caf::actor& ingress, std::chrono::milliseconds timeout);

} // namespace sy::actors
