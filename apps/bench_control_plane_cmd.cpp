// switchyard bench control-plane: the cost of the control path. A model whose stages cost (almost) nothing
// (1 layer, hidden 8, vocab 128, 1 token) is served in-process; a closed-loop client keeps `window` requests
// outstanding on each connection through ingress -> controller -> group -> stages -> answer and reports the
// sustained rate and the round-trip latency (which, with free stages, is the added latency of the path).
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "apps/commands.hpp"
#include "apps/replay/load.hpp"
#include "apps/serve.hpp"
#include "config/cluster_config.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

std::string control_plane_config(int pipeline, int max_batch) {
  std::string devices = pipeline == 1 ? "[0]" : pipeline == 2 ? "[0, 1]" : "[0, 1, 2, 3]";
  return fmt::format(R"(nodes:
  - name: bench
    address: 127.0.0.1:0
    devices: {{kind: cpu, count: {}, memory: 64MiB}}
models:
  - {{name: null-model, arch: decoder, layers: {}, hidden: 8, heads: 1, ffn: 8, vocab: 128, max_seq: 8,
     weights: {{seed: 1}}}}
placement:
  groups:
    - {{name: g0, devices: {}, tensor: 1, pipeline: {}, models: [null-model]}}
policies:
  admission: none
  batching: {}
ingress: {{bind: 127.0.0.1, msgpack_port: 0, http_port: 0, max_in_flight: 1000000}}
metrics: {{bind: 127.0.0.1, port: 0}}
controller: {{address: 127.0.0.1:0}}
)",
                     std::max(pipeline, 1), std::max(pipeline, 1), devices, pipeline,
                     max_batch > 1 ? fmt::format("{{name: greedy, max_batch: {}}}", max_batch) : "none");
}

int run_bench_control_plane(const bench_control_plane_options& o) {
  auto log = logger("bench");
  if (o.pipeline != 1 && o.pipeline != 2 && o.pipeline != 4) {
    log->error("--pipeline: expected 1, 2 or 4, found {}", o.pipeline);
    return 2;
  }
  auto text = control_plane_config(o.pipeline, o.max_batch);
  auto cfg = config::parse_config(text, "<bench control-plane>");
  if (!cfg) {
    log->error("{}", cfg.err().message);
    return 1;
  }
  serve_overrides ov;
  ov.any_ports = true;
  ov.echo_controller = o.ingress_only;
  auto service = start_local_service(*cfg, ov);
  if (!service) {
    log->error("{}", service.err().to_string());
    return 1;
  }
  driver::load_options lo;
  lo.port = (*service)->ports().msgpack;
  lo.models = {"null-model"};
  lo.tokens = 1;
  lo.connections = o.connections;
  lo.window = o.window;
  lo.duration = std::chrono::milliseconds(static_cast<long>(o.duration_s * 1e3));
  auto r = driver::run_closed_loop(lo);
  bool clean = (*service)->drain_and_stop(std::chrono::seconds(30));
  if (!r) {
    log->error("{}", r.err().to_string());
    return 1;
  }
  std::string statuses;
  for (const auto& [k, v] : r->by_status)
    statuses += fmt::format(" {}={}", k, v);
  std::printf("bench control-plane%s: pipeline %d, batching %s, %d connections x %d outstanding, %.1f s\n",
              o.ingress_only ? " (ingress only: echo controller)" : "", o.pipeline, o.max_batch > 1 ? fmt::format("greedy<= {}", o.max_batch).c_str() : "none",
              o.connections, o.window, r->seconds);
  std::printf("  throughput  %.0f req/s (answers:%s)\n", r->rate(), statuses.c_str());
  std::printf("  round trip  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  (ok answers, closed loop: includes queueing "
              "behind the %d outstanding requests)\n",
              r->quantile(0.5) * 1e3, r->quantile(0.9) * 1e3, r->quantile(0.99) * 1e3, o.connections * o.window);
  std::printf("  hardware    %u hardware threads shared by client, ingress, controller and stage actors\n",
              std::thread::hardware_concurrency());
  return clean ? 0 : 1;
}

} // namespace sy::apps
