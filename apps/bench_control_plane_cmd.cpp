// switchyard bench control-plane: the cost of the control path. A model whose stages cost (almost) nothing
// (1 layer, hidden 8, vocab 128, 1 token) is served in-process through ingress -> controller -> group ->
// stages -> answer. Closed loop (default): each connection keeps `window` requests outstanding; the sustained
// rate, and round trips that include the queueing behind the window. Open loop (--rate R): requests leave at
// R/s whatever the answers do; the round trip is the latency the path adds at that offered load. Both print
// the process's CPU time per request (client included), which other load on a shared machine disturbs much
// less than rates and latencies.
#include <cstdio>
#include <cstdlib>
#include <sys/resource.h>
#include <thread>

#include <fmt/format.h>

#include <memory>

#include <CLI/CLI.hpp>

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
  // the stages' GEMMs are tiny: one OpenBLAS thread (more would spin between calls, ~10% CPU each)
  ::setenv("OPENBLAS_NUM_THREADS", "1", 0);
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
  lo.rate = o.rate;
  rusage before{};
  ::getrusage(RUSAGE_SELF, &before);
  auto r = o.rate > 0 ? driver::run_open_loop(lo) : driver::run_closed_loop(lo);
  rusage after{};
  ::getrusage(RUSAGE_SELF, &after);
  auto cpu_s = [](const rusage& u) {
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  double cpu = cpu_s(after) - cpu_s(before);
  long switches = (after.ru_nvcsw + after.ru_nivcsw) - (before.ru_nvcsw + before.ru_nivcsw);
  bool clean = (*service)->drain_and_stop(std::chrono::seconds(30));
  if (!r) {
    log->error("{}", r.err().to_string());
    return 1;
  }
  std::string statuses;
  for (const auto& [k, v] : r->by_status)
    statuses += fmt::format(" {}={}", k, v);
  auto batching = o.max_batch > 1 ? fmt::format("greedy<= {}", o.max_batch) : std::string{"none"};
  auto loop = o.rate > 0 ? fmt::format("open loop at {:.0f} req/s over {} connections", o.rate, o.connections)
                         : fmt::format("closed loop, {} connections x {} outstanding", o.connections, o.window);
  std::printf("bench control-plane%s: pipeline %d, batching %s, %s, %.1f s\n",
              o.ingress_only ? " (ingress only: echo controller)" : "", o.pipeline, batching.c_str(), loop.c_str(),
              r->seconds);
  std::printf("  throughput  %.0f req/s answered (answers:%s)\n", r->rate(), statuses.c_str());
  if (o.rate > 0)
    std::printf("  offered     %.0f req/s sent, worst send lag behind schedule %.3f ms\n", r->sent_rate,
                r->max_send_lag_s * 1e3);
  std::printf("  round trip  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  (ok answers; %s)\n",
              r->quantile(0.5) * 1e3, r->quantile(0.9) * 1e3, r->quantile(0.99) * 1e3, r->quantile(0.999) * 1e3,
              o.rate > 0 ? "open loop: the latency the path adds at this offered load"
                         : fmt::format("closed loop: includes queueing behind the {} outstanding requests",
                                       o.connections * o.window).c_str());
  if (r && r->answered > 0) {
    // the whole run (warm-up and tail included) over every request sent: CPU the process (client included)
    // spent per request, a number the other load on a shared machine disturbs much less than the rate
    auto total = static_cast<double>(r->answered) * (r->seconds + std::chrono::duration<double>(lo.warmup).count()) / r->seconds;
    std::printf("  cpu         %.1f us per request (process, client included), %.1f context switches per request\n",
                cpu / total * 1e6, static_cast<double>(switches) / total);
  }
  std::printf("  hardware    %u hardware threads shared by client, ingress, controller and stage actors\n",
              std::thread::hardware_concurrency());
  return clean ? 0 : 1;
}

void add_bench_control_plane_command(CLI::App& bench, int& rc) {
  auto o = std::make_shared<bench_control_plane_options>();
  auto* bench_cp = bench.add_subcommand("control-plane", "req/s and latency through ingress -> controller -> "
                                                          "group -> stages with stages that cost nothing");
  bench_cp->add_option("--pipeline", o->pipeline, "stages (1, 2, 4)")->capture_default_str();
  bench_cp->add_option("--max-batch", o->max_batch, "greedy batching up to this size (1: none)")
    ->capture_default_str();
  bench_cp->add_option("--connections", o->connections, "client connections")->capture_default_str();
  bench_cp->add_option("--window", o->window, "outstanding requests per connection")->capture_default_str();
  bench_cp->add_option("--duration", o->duration_s, "seconds measured")->capture_default_str();
  bench_cp->add_flag("--ingress-only", o->ingress_only, "answer from an echo controller (the ingress alone)");
  bench_cp->add_option("--rate", o->rate, "open loop at this many requests/s instead of a closed loop")
    ->check(CLI::NonNegativeNumber);
  bench_cp->callback([o, &rc] { rc = run_bench_control_plane(*o); });
}

} // namespace sy::apps
