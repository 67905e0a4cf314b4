// switchyard bench swap: two models that cannot both be resident on a group of cpu devices, requests
// alternating between them (one outstanding), so that every request swaps its model in. For pipeline degree
// 1, 2 and 4: mean response time, mean load wait reported by the server, and the swap seconds the devices
// spent (sum over devices, from the metrics snapshot). With loads pipelined (Computron), a request's
// response time is close to one stage's load time, not the sum over stages. The sequential baseline (loads
// not pipelined: stage after stage) costs at least the sum of the stages' load times, reported per request
// as `sum stage loads` (the growth of the devices' swap seconds): resp/sum < 1 is the overlap won.
#include <algorithm>
#include <cstdio>
#include <thread>

#include <caf/actor_system.hpp>
#include <fmt/format.h>

#include "actors/ingress_protocol.hpp"
#include "apps/commands.hpp"
#include "apps/replay/driver.hpp"
#include "apps/replay/load.hpp"
#include "apps/serve.hpp"
#include "config/cluster_config.hpp"
#include "gpu/model_spec.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

/// Two decoders of `layers` x `hidden`, a group of `pipeline` cpu devices whose budget holds one model's
/// largest stage shard 1.5 times (so never both models).
std::string swap_config(int pipeline, int layers, int hidden) {
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
                     "metrics: {{bind: 127.0.0.1, port: 0}}\ncontroller: {{address: 127.0.0.1:0}}\n",
                     pipeline, budget, model("swap-a", 1), model("swap-b", 2), devices, pipeline);
}

int run_bench_swap(const bench_swap_options& o) {
  auto log = logger("bench");
  std::printf("bench swap: 2 decoders (%d layers, hidden %d) alternating, one outstanding, %d requests per "
              "degree\n", o.layers, o.hidden, o.requests);
  std::printf("%8s %13s %13s %17s %21s %9s\n", "pipeline", "mean resp ms", "p50 resp ms", "mean load wait ms",
              "sum stage loads ms", "resp/sum");
  for (int p : {1, 2, 4}) {
    auto cfg = config::parse_config(swap_config(p, o.layers, o.hidden), "<bench swap>");
    if (!cfg) {
      log->error("{}", cfg.err().message);
      return 1;
    }
    serve_overrides ov;
    ov.any_ports = true;
    auto service = start_local_service(*cfg, ov);
    if (!service) {
      log->error("pipeline {}: {}", p, service.err().to_string());
      return 1;
    }
    // Alternate: sim trace with arrivals 0 so that the driver sends them back to back is open loop; use a
    // closed loop of one instead (each request waits for the previous one).
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
      if (!r || r->records[0].status != "ok") {
        log->error("pipeline {}: request {}: {}", p, i, r ? r->records[0].reason : r.err().to_string());
        return 1;
      }
      if (i >= 2) { // the first two load into empty devices
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
    double mr = mean(resp), mw = mean(wait), ml = mean(loads);
    std::sort(resp.begin(), resp.end());
    std::printf("%8d %13.2f %13.2f %17.2f %21.2f %9.2f\n", p, mr * 1e3,
                resp.empty() ? 0 : resp[resp.size() / 2] * 1e3, mw * 1e3, ml * 1e3, ml > 0 ? mr / ml : 0.0);
  }
  return 0;
}

} // namespace sy::apps
