#pragma once
// The HTTP/JSON ingress and the Prometheus endpoint (cpp-httplib, which runs its own listener thread and
// worker pool). Each handler bridges to the actor system with a caf::scoped_actor request on the httplib
// worker thread; no actor ever blocks on HTTP.
//
// Routes (KServe v2 / Triton HTTP protocol, actors/ingress_kserve.hpp, plus our own):
//   GET  /v2                                     server metadata
//   GET  /v2/health/live                         200 while the process serves HTTP
//   GET  /v2/health/ready                        200 when the cluster is ready and not draining, else 503
//   GET  /v2/models                              every model with its replicas and residency (ours)
//   GET  /v2/placement                           the placement served: source, policy, groups, the migration
//                                                in progress and the last one (ours)
//   POST /v2/placement                           apply a plan live: 202 {id}; 400 bad plan; 409 busy {id} [control]
//   GET  /v2/models/{m}[/versions/{v}]           model metadata (404: unknown model)
//   GET  /v2/models/{m}[/versions/{v}]/ready     200 when the model is placed on a group, else 400/404
//   POST /v2/models/{m}[/versions/{v}]/infer     KServe v2 inference (JSON or binary tensor data), or the
//                                                simple form {"tokens":[...], "slo_ms": n} -> our JSON answer
//   POST /v2/models/{m}[/versions/{v}]/generate   generation (issue 10; actors/ingress_http_generate.cpp):
//   POST /v2/models/{m}[/versions/{v}]/generate_stream   Triton/KServe generate extension, SSE when streamed
//   POST /v1/completions                         OpenAI completions, prompt as token ids, "stream" as SSE
//   POST /v2/repository/index                    every model with its state
//   POST /v2/repository/models/{m}/load|unload   load / evict the model (body optional)       [control]
//   GET|POST /v2/policies[/{kind}]               run-time policies (actors/ingress_policies.hpp) [control]
//   GET  /metrics                                Prometheus text (controller snapshot + ingress metrics)
// [control]: with ingress.control_token (or SWITCHYARD_CONTROL_TOKEN) set, these need
// `Authorization: Bearer <token>`; without it they answer 401.
//
// Errors: the HTTP status, the `status` field and the metric labels come from messages::error_code.
// Connections: actors/ingress_http_server.hpp (bounded workers and connections, read deadlines).
//
// Ownership: an http_ingress owns its server and threads; stop() (also run by the destructor) stops
// accepting, answers the requests already sent and returns once every handler has finished. start/stop
// from one controlling thread (main).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/ingress.hpp"
#include "actors/ingress_http_server.hpp"
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

  /// Binds bind:port (0: any free port) and starts serving; returns the bound port. Once it returns, stop()
  /// stops the server (no race with a listener that has not started yet).
  result<std::uint16_t> start(const std::string& bind, std::uint16_t port);
  /// The two halves of start: bind (clients then wait in the kernel's backlog), and serve.
  result<std::uint16_t> bind(const std::string& bind, std::uint16_t port);
  void serve();
  /// Stops accepting, answers the requests already sent and waits for the handlers in flight. Returns the
  /// number of requests answered while stopping.
  std::size_t stop();

private:
  void install_routes(bool metrics_only);
  caf::actor_system& sys_;
  std::shared_ptr<ingress_context> ctx_;
  std::unique_ptr<http_server> server_;
};

/// Runs one inference request through the ingress checks, the in-flight gate and the controller, and
/// records it in the metrics (protocol "http"). Blocks the calling (HTTP worker) thread. `output`: the
/// output kind asked for (empty: the model's).
wire_response run_http_infer(caf::actor_system& sys, ingress_context& ctx, const std::string& model,
                             std::vector<std::int32_t> tokens, double slo_ms, std::string output = {});

/// True when `authorization` (the header's value) carries the context's control token, or none is set.
bool control_allowed(const ingress_context& ctx, const std::string& authorization);

/// The JSON body of an infer answer (what POST .../infer returns). f32 outputs are a JSON number array.
std::string response_json(const wire_response& r, const std::string& model);

/// Parses an infer body: {"tokens":[int...], "slo_ms": number?}. Errors name the key and what was found.
result<wire_request> parse_infer_json(const std::string& body, const std::string& model,
                                      const ingress_limits& limits);

/// Installs the generation routes (/v2/models/{m}/generate[_stream], /v1/completions).
void install_generate_routes(httplib::Server& server, caf::actor_system& sys, std::shared_ptr<ingress_context> ctx);

/// The HTTP status code for a wire answer (from its error code).
int http_status_of(const wire_response& r);

} // namespace sy::actors
