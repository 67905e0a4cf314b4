// switchyard node --join HOST:PORT: runs one node of a multi-node config (its devices' gpu actors and, on the
// controller's request, its stage actors) in this process, registered with the controller that
// `switchyard up -c <the same config>` published. Runs until the controller stops the cluster (exit 0) or
// SIGINT/SIGTERM (leaves: stops its actors, exit 0; the controller answers the requests in flight on this
// node's groups `failed`). When the controller goes away (a cut link, a controller that died) or declares this
// node lost (missed heartbeats: a hang, a slow link), the node joins again with fresh actors, retrying for
// --timeout seconds (prints `rejoined ...`); exit 1 if it cannot.
//
// Exit codes: 0 stopped or left; 1 runtime failure (devices, lost controller not back, refused by the controller);
// 2 bad arguments or config; 3 the controller could not be reached within --timeout.
#include <atomic>
#include <csignal>
#include <cstdio>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/cluster.hpp"
#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/serve.hpp"
#include "config/cluster_config.hpp"
#include "messages/logging.hpp"
#include "messages/atoms.hpp"
#include "messages/control.hpp"
#include "messages/type_ids.hpp"

namespace sy::apps {

namespace {

struct address {
  std::string host;
  std::uint16_t port = 0;
};

result<address> parse_join(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error("node", "--join: expected HOST:PORT with a port 1..65535, found '" + text + "' (" + why + ")");
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return bad("no ':'");
  address a;
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') // [::1]:7410
    a.host = a.host.substr(1, a.host.size() - 2);
  if (a.host.empty())
    return bad("empty host");
  auto digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos)
    return bad("the port is not a number");
  long port = std::stol(digits);
  if (port < 1 || port > 65535)
    return bad("port out of range");
  a.port = static_cast<std::uint16_t>(port);
  return a;
}

std::string node_names(const config::cluster_config& cfg) {
  std::string out;
  for (const auto& n : cfg.nodes)
    out += (out.empty() ? "" : ", ") + n.name;
  return out;
}

/// The config node this process runs: --node, or the only one `up` does not run by default (the second of two).
result<std::string> pick_node(const config::cluster_config& cfg, const std::string& wanted) {
  if (!wanted.empty()) {
    if (!cfg.find_node(wanted))
      return make_error("node", "--node: no node '" + wanted + "' in " + cfg.source + " (nodes: " + node_names(cfg)
                                  + ")");
    return wanted;
  }
  if (cfg.nodes.size() == 1)
    return make_error("node", cfg.source + " has a single node, which `switchyard up` runs itself; give a "
                                           "multi-node config with -c (e.g. configs/two-node.yaml)");
  if (cfg.nodes.size() == 2)
    return cfg.nodes[1].name;
  return make_error("node", "--node is required: " + cfg.source + " has " + std::to_string(cfg.nodes.size())
                              + " nodes (" + node_names(cfg) + ")");
}

std::atomic<int> stop_signal{0}; // lock-free: async-signal-safe
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int sig) {
  stop_signal.store(sig);
}

std::string reason_text(caf::actor_system& sys, const caf::error& e) {
  return e ? sys.render(e) : std::string{"normal exit"};
}

} // namespace

int run_node(const node_options& o) {
  auto log = logger("node");
  // A handler (not sigwait): threads started before main (OpenBLAS) do not block the signals, and a signal the
  // kernel hands to one of them must not take the default action. The main loop polls the flag.
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);

  auto addr = parse_join(o.join);
  if (!addr) {
    log->error("{}", addr.err().message);
    return 2;
  }
  if (o.timeout_s <= 0) {
    log->error("--timeout: expected seconds > 0, found {}", o.timeout_s);
    return 2;
  }
  auto loaded = config::load_config_or_default(o.config_path);
  if (!loaded) {
    log->error("{}", loaded.err().message);
    return 2;
  }
  const config::cluster_config* cfg = &*loaded;
  auto name = pick_node(*cfg, o.node);
  if (!name) {
    log->error("{}", name.err().message);
    return 2;
  }

  caf::actor_system_config sys_cfg;
  actors::prepare_actor_system_config(sys_cfg, *cfg, true);
  tune_scheduler(sys_cfg);
  sys_cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{sys_cfg};
  auto timeout = std::chrono::milliseconds(static_cast<long long>(o.timeout_s * 1000));
  log->info("node {} of {}: joining the controller at {}:{}", *name, cfg->source, addr->host, addr->port);
  auto joined = actors::join_cluster(sys, *cfg, *name, addr->host, addr->port, timeout);
  if (!joined) {
    log->error("{}", joined.err().message);
    bool unreachable = joined.err().message.rfind("cannot reach", 0) == 0;
    return unreachable ? 3 : 1;
  }
  log->info("node {} registered with the controller at {}:{}", *name, addr->host, addr->port);
  std::printf("joined node=%s controller=%s:%u\n", name->c_str(), addr->host.c_str(), addr->port);
  std::fflush(stdout);

  caf::scoped_actor self{sys};
  auto stopped = [&](const caf::error& e) { return !e || e == caf::exit_reason::user_shutdown; };
  bool node_alive = true;
  int rc = -1;
  // Lost the controller (its connection closed: a cut link, a controller that died) or declared lost by it
  // (missed heartbeats: the controller kills the node actor, exit reason `unreachable`): this process joins
  // again, with a fresh node actor, for --timeout seconds; the controller restores the node's groups.
  auto rejoin = [&](const std::string& why) {
    log->warn("{}; joining the controller at {}:{} again (for up to {} ms)", why, addr->host, addr->port,
              timeout.count());
    if (node_alive)
      self->request(joined->node, std::chrono::seconds(10), messages::stop_atom_v)
        .receive([](const messages::ack&) {}, [](caf::error&) {});
    auto again = actors::join_cluster(sys, *cfg, *name, addr->host, addr->port, timeout);
    if (!again) {
      log->error("{}: {}", why, again.err().message);
      node_alive = false;
      rc = 1;
      return;
    }
    joined = std::move(again);
    node_alive = true;
    self->monitor(joined->node);
    self->monitor(joined->controller);
    log->info("node {} registered again with the controller at {}:{}", *name, addr->host, addr->port);
    std::printf("rejoined node=%s controller=%s:%u\n", name->c_str(), addr->host.c_str(), addr->port);
    std::fflush(stdout);
  };
  self->monitor(joined->node);
  self->monitor(joined->controller);
  while (rc < 0) {
    if (int sig = stop_signal.load(); sig != 0) {
      log->info("{}: leaving the cluster (the controller answers this node's requests in flight `failed`)",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
      rc = 0;
      break;
    }
    std::string lost; // non-empty: join again
    self->receive(
      [&](caf::down_msg& dm) {
        if (dm.source == joined->node.address()) {
          node_alive = false;
          if (stopped(dm.reason)) {
            log->info("node {} stopped by the controller", *name);
            rc = 0;
          } else if (dm.reason == caf::exit_reason::unreachable) {
            lost = "the controller declared node " + *name + " lost (no heartbeat answer in time)";
          } else {
            log->error("node {} refused or stopped by the controller: {}", *name, reason_text(sys, dm.reason));
            rc = 1;
          }
        } else if (dm.source == joined->controller.address()) {
          if (stopped(dm.reason)) {
            log->info("node {} stopped by the controller", *name);
            rc = 0;
          } else {
            lost = "lost the controller at " + addr->host + ":" + std::to_string(addr->port) + ": "
                   + reason_text(sys, dm.reason);
          }
        }
      },
      caf::after(std::chrono::milliseconds(50)) >> [] {});
    if (!lost.empty() && stop_signal.load() == 0)
      rejoin(lost);
  }
  if (node_alive) // stop its stages and gpus too (they are referenced remotely, which keeps them alive)
    self->request(joined->node, std::chrono::seconds(10), messages::stop_atom_v)
      .receive([](const messages::ack&) {},
               [&](caf::error& e) {
                 if (e != caf::sec::request_receiver_down) // it stopped meanwhile
                   log->warn("stopping the node: {}", sys.render(e));
               });
  if (node_alive) {
    // Make the leave visible before the connection closes: wait for the node's end here, then until the
    // controller's health no longer counts this node (its down message, normal exit, was handled), at
    // most 5 s. One round trip is not enough: the local down message can overtake the one to the controller.
    self->receive([&](caf::down_msg& dm) { (void)dm; }, caf::after(std::chrono::seconds(5)) >> [] {});
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    const std::string gone = "node " + *name + " ";
    for (bool seen = false; !seen && std::chrono::steady_clock::now() < until;) {
      bool failed = false;
      self->request(joined->controller, std::chrono::seconds(5), messages::health_atom_v)
        .receive(
          [&](messages::health_report& h) {
            for (auto& m : h.missing)
              seen = seen || m.rfind(gone, 0) == 0;
          },
          [&](caf::error&) { failed = true; });
      if (failed)
        break;
      if (!seen)
        self->receive([](caf::unit_t) {}, caf::after(std::chrono::milliseconds(10)) >> [] {});
    }
  }
  log->info("node {} left", *name);
  return rc;
}

void add_node_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<node_options>();
  auto* node = app.add_subcommand("node", "run one node of a multi-node config, joined to `up`'s controller");
  node->add_option("--join", o->join, "HOST:PORT of the controller (the config's controller.address)")
    ->required();
  node->add_option("-c,--config", o->config_path, "the deployment YAML `up` runs");
  node->add_option("--node", o->node, "the config node run here (default: the second of two)");
  node->add_option("--timeout", o->timeout_s, "seconds to keep retrying the controller")->capture_default_str();
  node->callback([o, &rc] { rc = run_node(*o); });
}

} // namespace sy::apps
