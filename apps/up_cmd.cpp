// switchyard up: serves a deployment until SIGINT/SIGTERM, then stops accepting, answers everything in
// flight and exits 0.
#include <csignal>
#include <cstdio>
#include <pthread.h>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/live_plan.hpp"
#include "apps/serve.hpp"
#include "config/cluster_config.hpp"
#include "config/weight_files.hpp"
#include "messages/logging.hpp"
#include "policies/policy_registry.hpp"

namespace sy::apps {

int run_up(const up_options& o) {
  auto log = logger("up");
  // Block the stop signals in every thread (the actor system's threads inherit the mask; threads that
  // libraries start before main, such as OpenBLAS's, inherit the mask set in apps/main.cpp's preinit
  // entry), then wait for them synchronously on this one: no work inside a signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto loaded = config::load_config_or_default(o.config_path);
  if (!loaded) {
    log->error("{}", loaded.err().message);
    return 2;
  }
  const config::cluster_config* cfg = &*loaded;
  if (o.config_path.empty())
    log->info("no config given: serving the embedded default (configs/local.yaml)");
  // The config's policy plug-ins and policies, checked before anything starts (exit 2 like a config error).
  if (auto reg = policies::load_policy_registry(*cfg); !reg) {
    log->error("{}", reg.err().message);
    return 2;
  }
  // Weight files that are missing or corrupt: known in milliseconds, so refused now (exit 2), not after
  // the ready timeout.
  if (auto st = config::check_weight_files(*cfg); !st) {
    log->error("{}", st.err().message);
    return 2;
  }
  // The placement: a policy is planned now, in this process (profile measured or cached, workload read), so
  // that its errors are config errors (exit 2) before anything starts.
  auto planned = plan_for_serving(*cfg);
  if (!planned) {
    log->error("{}", planned.err().message);
    return 2;
  }
  cfg = &planned->cfg;
  serve_overrides ov;
  ov.placement_json = planned->json;
  ov.profile = planned->profile;
  ov.any_ports = o.any_ports;
  ov.max_in_flight = o.max_in_flight;
  if (cfg->nodes.size() > 1) {
    // The other nodes join from their own processes (actors::join_cluster at the controller's address).
    std::string local = o.node.empty() ? cfg->nodes.front().name : o.node;
    if (!cfg->find_node(local)) {
      log->error("--node: no node '{}' in {}", local, cfg->source);
      return 2;
    }
    ov.local_nodes = {local};
    ov.publish = true;
    ov.ready_timeout = std::chrono::milliseconds(static_cast<long long>(o.join_timeout_s * 1000));
    std::string others;
    for (const auto& n : cfg->nodes)
      if (n.name != local)
        others += (others.empty() ? "" : ", ") + n.name;
    log->info("node {} runs here; waiting up to {} s for node(s) {} to join: `switchyard node --join {} -c {} "
              "--node NAME`", local, o.join_timeout_s, others, cfg->controller.address(), cfg->source);
  } else if (!o.node.empty() && o.node != cfg->nodes.front().name) {
    log->error("--node: no node '{}' in {}", o.node, cfg->source);
    return 2;
  }
  // A stop signal during start-up (weights loading, nodes joining) stays pending while every thread blocks
  // it: the start-up loop asks for it and gives up at once, instead of when ready or at the timeout.
  ov.cancelled = [] {
    sigset_t pending;
    sigemptyset(&pending);
    return sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1);
  };
  auto service = start_local_service(*cfg, ov);
  if (!service && service.err().category == "cancelled") {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log->info("{} during start-up: {}; nothing was served, stopped", sig == SIGINT ? "SIGINT" : "SIGTERM",
              service.err().message);
    return 0;
  }
  if (!service) {
    log->error("{}", service.err().to_string());
    return 1;
  }
  auto ports = (*service)->ports();
  log->info("backend: {}", (*service)->backend());
  if (ports.controller != 0)
    log->info("controller published on {}:{} for the other nodes to join", cfg->controller.host, ports.controller);
  log->info("msgpack ingress on {}:{}", cfg->ingress.bind, ports.msgpack);
  log->info("HTTP ingress on http://{}:{}/v2/", cfg->ingress.bind, ports.http);
  log->info("metrics on http://{}:{}/metrics", cfg->metrics.bind, ports.metrics);
  // One machine-readable line for scripts and tests.
  std::printf("ready msgpack=%u http=%u metrics=%u\n", ports.msgpack, ports.http, ports.metrics);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log->info("{}: draining (no new connections; answering everything in flight)",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
  bool clean = (*service)->drain_and_stop(std::chrono::seconds(60));
  service->reset();
  log->info(clean ? "stopped: every accepted request answered"
                  : "stopped with requests still in flight after the 60 s drain timeout");
  return clean ? 0 : 1;
}

void add_up_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<up_options>();
  auto* up = app.add_subcommand("up", "serve a deployment: controller, local node, msgpack + HTTP ingress");
  up->add_option("-c,--config", o->config_path, "deployment YAML (default: the embedded default)");
  up->add_flag("--any-ports", o->any_ports, "bind every listener to a free port (logged)");
  up->add_option("--max-in-flight", o->max_in_flight, "override ingress.max_in_flight");
  up->add_option("--node", o->node, "multi-node configs: the node run in this process (default: the first)");
  up->add_option("--join-timeout", o->join_timeout_s, "multi-node configs: seconds for the other nodes to join")
    ->capture_default_str();
  up->callback([o, &rc] { rc = run_up(*o); });
}

} // namespace sy::apps
