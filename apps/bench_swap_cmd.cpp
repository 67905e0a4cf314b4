// switchyard bench swap: two models that cannot both be resident on a group of cpu devices, requests
// alternating between them (one outstanding), so that every request swaps its model in. For pipeline degree
// 1, 2 and 4, twice: loads pipelined (Computron: each stage hands the load entry on as its copy starts) and
// the baseline with loads not pipelined (runtime.load_pipelining: false: stage k+1 starts its copy once stage
// k's finished). Per run: mean response time, mean load wait reported by the server, and the device seconds
// spent copying per request (sum over devices, from the metrics snapshot). Pipelined, a request's response
// time approaches one stage's load time; sequential, it is at least the sum over stages (r/l >= 1).
#include <algorithm>
#include <cstdio>
#include <thread>

#include <caf/actor_system.hpp>
#include <fmt/format.h>

#include "actors/ingress_protocol.hpp"
#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/replay/driver.hpp"
#include "apps/replay/load.hpp"
#include "apps/serve.hpp"
#include "config/cluster_config.hpp"
#include "gpu/model_spec.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

/// Two decoders of `layers` x `hidden`, a group of `pipeline` cpu devices whose budget holds one model's
/// largest stage shard 1.5 times (so never both models). pipelined false: runtime.load_pipelining: false.
std::string swap_config(int pipeline, int layers, int hidden, bool pipelined) {
  gpu::model_spec m;
  m.kind = gpu::arch::decoder;
  m.layers = layers;
  m.hidden = hidden;
  m.heads = std::max(1, hidden / 64);
  m.ffn = 4 * hidden;
  m.vocab = 1024;
  m.max_seq = 64;
  std::int64_t stage0 = (m.embedding_params() + m.layer_params() * ((layers + pipeline - 1) / pipeline) +
                         m.head_params()) * 4;
  std::int64_t budget = stage0 * 3 / 2 + (8 << 20);
  std::string devices = "[0";
  for (int i = 1; i < pipeline; ++i)
    devices += fmt::format(", {}", i);
  devices += "]";
  auto model = [&](const char* name, int seed) {
    return fmt::format("  - {{name: {}, arch: decoder, layers: {}, hidden: {}, heads: {}, ffn: {}, vocab: {}, "
                       "max_seq: {}, weights: {{seed: {}}}}}\n",
                       name, layers, hidden, m.heads, m.ffn, m.vocab, m.max_seq, seed);
  };
  return fmt::format("nodes:\n  - name: bench\n    address: 127.0.0.1:0\n    devices: {{kind: cpu, count: {}, "
                     "memory: {}}}\nmodels:\n{}{}placement:\n  groups:\n    - {{name: g0, devices: {}, tensor: 1, "
                     "pipeline: {}, models: [swap-a, swap-b]}}\npolicies:\n  admission: none\n  batching: none\n"
                     "ingress: {{bind: 127.0.0.1, msgpack_port: 0, http_port: 0}}\n"
                     "metrics: {{bind: 127.0.0.1, port: 0}}\ncontroller: {{address: 127.0.0.1:0}}\n"
                     "runtime: {{load_pipelining: {}}}\n",
                     pipeline, budget, model("swap-a", 1), model("swap-b", 2), devices, pipeline,
                     pipelined ? "true" : "false");
}

namespace {

struct swap_numbers {
  double mean_resp = 0, p50_resp = 0, mean_wait = 0, mean_loads = 0; // seconds
};

/// Alternating requests (one outstanding) on a fresh service; the first two load into empty devices and are
/// not counted.
result<swap_numbers> run_swap(const bench_swap_options& o, int p, bool pipelined) {
  auto cfg = config::parse_config(swap_config(p, o.layers, o.hidden, pipelined), "<bench swap>");
  if (!cfg)
    return cfg.err();
  serve_overrides ov;
  ov.any_ports = true;
  auto service = start_local_service(*cfg, ov);
  if (!service)
    return service.err();
  // A closed loop of one: each request waits for the previous one.
  sim::trace t;
  t.models = {"swap-a", "swap-b"};
  driver::driver_options d;
  d.port = (*service)->ports().msgpack;
  d.connections = 1;
  std::vector<double> resp, wait, loads;
  auto swap_seconds = [&] {
    double total = 0;
    if (auto snap = (*service)->snapshot())
      for (const auto& [dev, st] : snap->swaps)
        total += st.seconds;
    return total;
  };
  for (int i = 0; i < o.requests; ++i) {
    t.requests = {sim::trace_request{0, i % 2, 8, 0}};
    double before = swap_seconds();
    auto r = driver::run_open_loop(t, d);
    double loaded = swap_seconds() - before;
    if (!r || r->records[0].status != "ok")
      return make_error("bench", fmt::format("request {}: {}", i, r ? r->records[0].reason : r.err().to_string()));
    if (i >= 2) {
      resp.push_back(r->records[0].finish - r->records[0].arrival);
      wait.push_back(r->records[0].load_wait);
      loads.push_back(loaded);
    }
  }
  (*service)->drain_and_stop(std::chrono::seconds(30));
  auto mean = [](const std::vector<double>& v) {
    double m = 0;
    for (double x : v)
      m += x;
    return v.empty() ? 0.0 : m / static_cast<double>(v.size());
  };
  swap_numbers n{mean(resp), 0, mean(wait), mean(loads)};
  std::sort(resp.begin(), resp.end());
  n.p50_resp = resp.empty() ? 0 : resp[resp.size() / 2];
  return n;
}

} // namespace

int run_bench_swap(const bench_swap_options& o) {
  auto log = logger("bench");
  std::printf("bench swap: 2 decoders (%d layers, hidden %d) alternating, one outstanding, %d requests per "
              "run; every request swaps its model in\n", o.layers, o.hidden, o.requests);
  std::printf("  pipelined: each stage hands the load entry on as its copy starts (Computron); sequential "
              "(runtime.load_pipelining: false): stage k+1 copies after stage k finished\n");
  std::printf("  two runs per mode (ABBA order), averaged; resp: mean response ms (p50: mean of the runs' p50); wait: mean load wait at stage 0 ms; loads: device seconds spent "
              "copying per request, sum over stages, ms\n");
  std::printf("%8s | %22s %8s %8s %6s | %22s %8s %8s %6s | %9s\n", "pipeline", "pipelined resp (p50)", "wait",
              "loads", "r/l", "sequential resp (p50)", "wait", "loads", "r/l", "seq/pipe");
  for (int p : {1, 2, 4}) {
    // ABBA order (pipelined, sequential, sequential, pipelined): a later service in the same process runs
    // on a different heap and machine state; each mode gets one early and one late run, averaged.
    swap_numbers n[2];
    for (int k : {0, 1, 1, 0}) {
      auto r = run_swap(o, p, k == 0);
      if (!r) {
        log->error("pipeline {} ({}): {}", p, k == 0 ? "pipelined" : "sequential", r.err().to_string());
        return 1;
      }
      n[k].mean_resp += r->mean_resp / 2;
      n[k].p50_resp += r->p50_resp / 2;
      n[k].mean_wait += r->mean_wait / 2;
      n[k].mean_loads += r->mean_loads / 2;
    }
    auto cell = [](const swap_numbers& x) {
      return fmt::format("{:9.2f} ({:9.2f}) {:8.2f} {:8.2f} {:6.2f}", x.mean_resp * 1e3, x.p50_resp * 1e3,
                         x.mean_wait * 1e3, x.mean_loads * 1e3, x.mean_loads > 0 ? x.mean_resp / x.mean_loads : 0.0);
    };
    std::printf("%8d | %s | %s | %9.2f\n", p, cell(n[0]).c_str(), cell(n[1]).c_str(),
                n[0].mean_resp > 0 ? n[1].mean_resp / n[0].mean_resp : 0.0);
  }
  return 0;
}

void add_bench_swap_command(CLI::App& bench, int& rc) {
  auto o = std::make_shared<bench_swap_options>();
  auto* bench_sw = bench.add_subcommand("swap", "alternating requests to two models that cannot both be "
                                                 "resident, pipeline degree 1, 2, 4");
  bench_sw->add_option("--layers", o->layers, "layers per model")->capture_default_str();
  bench_sw->add_option("--hidden", o->hidden, "hidden size")->capture_default_str();
  bench_sw->add_option("--requests", o->requests, "requests per run (2 pipelined + 2 sequential runs per degree)")->capture_default_str();
  bench_sw->callback([o, &rc] { rc = run_bench_swap(*o); });
}

} // namespace sy::apps
