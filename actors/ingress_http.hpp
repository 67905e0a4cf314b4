#pragma once
// The HTTP/JSON ingress and the Prometheus endpoint (cpp-httplib, which runs its own listener thread and
// worker pool). Each handler bridges to the actor system with a caf::scoped_actor request on the httplib
// worker thread; no actor ever blocks on HTTP.
//
// Routes:
//   POST /v2/models/{name}/infer                 {"tokens":[...], "slo_ms": n} -> the answer as JSON
//   GET  /v2/models                              every model with its replicas and residency
//   GET  /v2/health/ready                        200 when the cluster is ready and not draining, else 503
//   POST /v2/repository/models/{name}/load       load the model (answers once resident)
//   POST /v2/repository/models/{name}/unload     evict the model
//   GET|POST /v2/policies[/{kind}]               run-time policies: query, swap (actors/ingress_policies.hpp)
//   GET  /metrics                                Prometheus text (controller snapshot + ingress metrics)
//
// Ownership: an http_ingress owns its httplib server and listener thread; stop() (also run by the
// destructor) stops accepting and returns once every handler in flight has answered. start/stop from one
// controlling thread (main).
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <caf/fwd.hpp>

#include "actors/ingress.hpp"
#include "messages/result.hpp"

namespace httplib {
class Server;
}

namespace sy::actors {

class http_ingress {
public:
  /// metrics_only: serve just GET /metrics (the separate metrics port).
  http_ingress(caf::actor_system& sys, std::shared_ptr<ingress_context> ctx, bool metrics_only = false);
  ~http_ingress();
  http_ingress(const http_ingress&) = delete;
  http_ingress& operator=(const http_ingress&) = delete;

  /// Binds bind:port (0: any free port) and starts serving; returns the bound port.
  result<std::uint16_t> start(const std::string& bind, std::uint16_t port);
  /// Stops accepting and waits for the handlers in flight.
  void stop();

private:
  void install_routes(bool metrics_only);
  caf::actor_system& sys_;
  std::shared_ptr<ingress_context> ctx_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

/// The JSON body of an infer answer (what POST .../infer returns). f32 outputs are a JSON number array.
std::string response_json(const wire_response& r, const std::string& model);

/// Parses an infer body: {"tokens":[int...], "slo_ms": number?}. Errors name the key and what was found.
result<wire_request> parse_infer_json(const std::string& body, const std::string& model,
                                      const ingress_limits& limits);

/// The HTTP status code for a wire answer.
int http_status_of(const wire_response& r);

} // namespace sy::actors
