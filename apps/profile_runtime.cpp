#include "apps/profile_runtime.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "apps/replay/driver.hpp"
#include "apps/serve.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct probe_model {
  std::string name;
  int prompt = 1, new_tokens = 2;
  const config::group_config* group = nullptr;
  double pred_ttft = 0, pred_tpot = 0; // one sequence alone, from the profile's step costs
  double fixed = 0;                    // of pred_ttft: the step's fixed part (sum of gen_step_s)
  double live_ttft = 0, live_tpot = 0; // medians of the probe generations
};

/// Sends `requests` requests of one model (model index 0 of a one-model trace), one at a time `gap` seconds apart
/// over one msgpack connection, and waits for every answer (30 s each).
auto probe_run(std::uint16_t port, const std::string& model, int requests, double gap, int prompt,
               int new_tokens) {
  sim::trace tr;
  tr.models = {model};
  for (int r = 0; r < requests; ++r) {
    sim::trace_request q;
    q.arrival_s = r * gap;
    q.model = 0;
    q.input_tokens = prompt;
    q.output_tokens = new_tokens;
    tr.requests.push_back(q);
  }
  driver::driver_options d;
  d.port = port;
  d.connections = 1;
  d.answer_timeout = std::chrono::milliseconds(30000);
  return driver::run_open_loop(tr, d);
}

} // namespace

status measure_runtime_overhead(const config::cluster_config& cfg, policies::profile_db& db,
                                const runtime_probe_options& o) {
  auto log = logger("profile");
  if (o.requests < 5 || o.prompt < 1 || o.new_tokens < 2)
    return make_error("profile", "runtime probe: expected >= 5 requests, a prompt >= 1 and >= 2 new tokens, found " +
                                   std::to_string(o.requests) + ", " + std::to_string(o.prompt) + ", " +
                                   std::to_string(o.new_tokens));
  if (cfg.placement.mode != config::placement_mode::explicit_groups) {
    log->info("runtime probe: {} places by {} (not explicit groups): no model's (tensor, pipeline) is known, "
              "no runtime overheads measured", cfg.source, config::to_string(cfg.placement.mode));
    return {};
  }
  std::vector<probe_model> models;   // decoders: generation overheads
  std::vector<probe_model> one_pass; // every placed model: the one-pass request overhead
  for (std::size_t i = 0; i < cfg.models.size(); ++i) {
    const auto& mc = cfg.models[i];
    probe_model p;
    p.name = mc.name;
    for (const auto& g : cfg.placement.groups)
      if (!p.group && std::find(g.models.begin(), g.models.end(), static_cast<int>(i)) != g.models.end())
        p.group = &g;
    if (!p.group)
      continue; // not placed: nothing serves it
    const auto* e = db.find(mc.name, {p.group->op, p.group->pp});
    if (o.one_pass_tokens > 0 && e && !e->stage_latency.empty()) {
      probe_model q = p;
      q.prompt = std::max(1, std::min(o.one_pass_tokens, mc.spec.max_seq));
      const double penalty = 1 + 0.009 * p.group->pp; // as the simulator's table (policies/profile_table.hpp)
      for (double x : e->stage_latency.front())
        q.pred_ttft += x * penalty;
      one_pass.push_back(q);
    }
    if (mc.spec.kind != gpu::arch::decoder)
      continue;
    if (!e || !e->has_generation())
      return make_error("profile", "runtime probe: model '" + mc.name + "' has no profile entry with generation "
                                   "costs for its group '" + p.group->name + "' (op " + std::to_string(p.group->op) +
                                   ", pp " + std::to_string(p.group->pp) + "): measure that config too (--configs)");
    p.prompt = std::max(1, std::min(o.prompt, mc.spec.max_seq / 2));
    p.new_tokens = std::max(2, std::min(o.new_tokens, mc.spec.max_seq - p.prompt));
    for (std::size_t k = 0; k < e->gen_step_s.size(); ++k) {
      p.pred_ttft += e->step_seconds(k, p.prompt, 0, 0, policies::profile_entry::prefill_pairs(p.prompt, 0));
      p.pred_tpot += e->step_seconds(k, 0, 1, p.prompt + p.new_tokens / 2.0);
      p.fixed += e->gen_step_s[k];
    }
    models.push_back(p);
  }
  if (models.empty() && one_pass.empty()) {
    log->info("runtime probe: no placed model with a profile entry in {}: no runtime overheads measured", cfg.source);
    return {};
  }
  serve_overrides ov;
  ov.any_ports = true;
  auto service = start_local_service(cfg, ov);
  if (!service)
    return make_error("profile", "runtime probe: the deployment did not start: " + service.err().to_string());
  status result{};
  // One-pass requests, one at a time (each sent when the previous one should be done: 3x its predicted
  // latency + 20 ms, at least 0.1 s): request_s = median live latency - the simulator's stage latencies.
  double one_pass_request = std::numeric_limits<double>::infinity();
  for (const auto& p : one_pass) {
    const double gap = std::max(0.1, 3 * p.pred_ttft + 0.02);
    auto run = probe_run((*service)->ports().msgpack, p.name, o.requests, gap, p.prompt, 0);
    if (!run) {
      result = run.err();
      break;
    }
    std::vector<double> lat;
    for (std::size_t i = 2; i < run->records.size(); ++i) // the first two warm up
      if (run->records[i].status == "ok")
        lat.push_back(run->records[i].finish - run->records[i].arrival);
    if (lat.size() < 3) {
      result = make_error("profile", "runtime probe: model '" + p.name + "': only " + std::to_string(lat.size()) +
                                       " of " + std::to_string(o.requests - 2) + " one-pass requests came back ok");
      break;
    }
    const double live = median(lat);
    const double request = std::max(0.0, live - p.pred_ttft);
    log->info("runtime probe {} (group {}, one pass, {} tokens, {} runs): latency live {:.3f} ms vs stages {:.3f} ms "
              "-> {:.3g} s", p.name, p.group->name, p.prompt, lat.size(), live * 1e3, p.pred_ttft * 1e3, request);
    one_pass_request = std::min(one_pass_request, request);
  }
  // The request path (client, ingress, request actor, controller, group, stage messages, the answer back) is
  // the same for every model; what a larger model adds beyond it is its own compute running slower or faster
  // than when the engine profile measured it (the host's load moves between the two), so every model gets the
  // smallest difference: the path measured where compute noise is least.
  if (result && one_pass_request < std::numeric_limits<double>::infinity()) {
    // A measured 0 is stored as 1 us: absent (0) means "not measured" to the simulator, which then adds its
    // default fixed overhead (AlpaServe's 0.011 s) instead.
    one_pass_request = std::max(one_pass_request, 1e-6);
    log->info("runtime probe: one-pass request_s {:.3g} (the smallest over {} models)", one_pass_request, one_pass.size());
    std::vector<policies::profile_entry> updated;
    for (const auto& [key, e] : db.entries())
      for (const auto& p : one_pass)
        if (e.model == p.name) {
          auto x = e;
          x.request_s = one_pass_request;
          updated.push_back(std::move(x));
        }
    for (auto& x : updated)
      db.put(std::move(x));
  }
  // Generation: per decoder gen_hop_s and gen_request_s from its own runs, then every decoder gets those of
  // the decoder whose steps compute least (the smallest predicted time of a probe generation): the hops and
  // the request path are the runtime's, the same for every model, and what a larger model adds to the
  // difference is its compute drifting with the host's load (small-gpt's TPOT 7.2 ms live vs 4.0 ms of steps
  // once gave it gen_hop_s 1.05 ms where tiny-gpt measured 0.047 ms; the step trace showed ~0.2 ms per hop for
  // both; with 1.05 ms the simulator slipped ~5 tiny-gpt steps into every small-gpt step's hops, where live
  // they alternate).
  std::optional<runtime_path> least;
  for (auto& p : models) {
    if (!result)
      break;
    // One generation at a time: each sent when the previous one should be done (3x its predicted time,
    // at least 0.1 s), so that nothing queues and the difference to the prediction is the runtime's own.
    const double gap = std::max(0.1, 3 * (p.pred_ttft + (p.new_tokens - 1) * p.pred_tpot) + 0.02);
    auto run = probe_run((*service)->ports().msgpack, p.name, o.requests, gap, p.prompt, p.new_tokens);
    if (!run) {
      result = run.err();
      break;
    }
    std::vector<double> ttft, tpot;
    for (std::size_t i = 2; i < run->records.size(); ++i) { // the first two warm up
      const auto& r = run->records[i];
      if (r.status != "ok" || r.first_token < 0 || r.new_tokens < 2)
        continue;
      ttft.push_back(r.first_token - r.arrival);
      tpot.push_back((r.finish - r.first_token) / (r.new_tokens - 1));
    }
    if (ttft.size() < 3) {
      result = make_error("profile", "runtime probe: model '" + p.name + "': only " + std::to_string(ttft.size()) +
                                       " of " + std::to_string(o.requests - 2) + " generations came back ok");
      break;
    }
    const double hops = p.group->pp + 1;
    const double live_ttft = median(ttft), live_tpot = median(tpot);
    p.live_ttft = live_ttft;
    p.live_tpot = live_tpot;
    const double hop = std::max(0.0, live_tpot - p.pred_tpot) / hops;
    const double request = std::max(0.0, live_ttft - p.pred_ttft - hops * hop);
    log->info("runtime probe {} (group {}, pp {}, prompt {}, {} new tokens, {} runs): TTFT live {:.3f} ms vs steps "
              "{:.3f} ms, TPOT live {:.3f} ms vs steps {:.3f} ms -> gen_hop_s {:.3g}, gen_request_s {:.3g}",
              p.name, p.group->name, p.group->pp, p.prompt, p.new_tokens, ttft.size(), live_ttft * 1e3,
              p.pred_ttft * 1e3, live_tpot * 1e3, p.pred_tpot * 1e3, hop, request);
    const runtime_path est{p.pred_ttft + (p.new_tokens - 1) * p.pred_tpot, hop, request};
    least = pick_runtime_path(least, est);
  }
  if (result && least) {
    log->info("runtime probe: gen_hop_s {:.3g}, gen_request_s {:.3g} for every decoder (those of the one whose "
              "steps compute least)", least->hop, least->request);
    std::vector<policies::profile_entry> updated;
    for (const auto& p : models) {
      const double hops = (p.group->pp + 1) * least->hop;
      const auto sc = runtime_scales(p.live_ttft, p.live_tpot, p.pred_ttft, p.pred_tpot, p.fixed, hops, least->request);
      log->info("runtime probe {}: its steps ran {:.2f}x (decode) and {:.2f}x (prefill) the profile's costs in the "
                "runtime (not applied: a few probe generations, see README \"Fidelity on cpu devices\")", p.name,
                sc.decode, sc.prefill);
      for (const auto& [key, e] : db.entries())
        if (e.model == p.name) {
          auto x = e;
          x.gen_hop_s = least->hop;
          x.gen_request_s = least->request;
          updated.push_back(std::move(x));
        }
    }
    for (auto& x : updated)
      db.put(std::move(x));
  }
  if (!(*service)->drain_and_stop(std::chrono::milliseconds(10000)))
    log->warn("runtime probe: the deployment still had work in flight when it stopped");
  return result;
}

} // namespace sy::apps
