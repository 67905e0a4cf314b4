// start_cluster / stop_cluster: the blocking entry points for apps (see actors/cluster.hpp).
#include "actors/cluster.hpp"

#include <optional>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/io/middleman.hpp>

#include "actors/internal/group_plan.hpp"
#include "actors/spawn.hpp"
#include "config/cluster_config.hpp"
#include "messages/logging.hpp"
#include "messages/type_ids.hpp"

namespace sy::actors {

using namespace messages;

namespace {

/// Keeps the node handles referenced for the cluster's lifetime.
caf::behavior keeper(caf::event_based_actor*, std::vector<node_actor>) {
  return {[](stop_atom) {}};
}

result<std::uint16_t> publish_controller(caf::actor_system& sys, const controller_full_actor& c,
                                         const config::cluster_config& cfg) {
  if (!sys.has_middleman())
    return make_error("cluster", "publishing the controller needs the middleman (caf::io) loaded");
  const auto& host = cfg.controller.host;
  auto port = sys.middleman().publish(c, cfg.controller.port, host.empty() ? nullptr : host.c_str(), true);
  if (!port)
    return make_error("cluster", "cannot publish the controller at " + cfg.controller.address() + ": "
                                   + sys.render(port.error()));
  logger("controller")->info("controller published at {}:{}", host, *port);
  return *port;
}

result<health_report> ask_health(caf::scoped_actor& self, const controller_actor& c) {
  result<health_report> out = make_error("cluster", "no answer");
  self->request(c, std::chrono::seconds(5), health_atom_v)
    .receive([&](health_report& h) { out = std::move(h); },
             [&](caf::error& e) { out = make_error("cluster", self->system().render(e)); });
  return out;
}

} // namespace

void prepare_actor_system_config(caf::actor_system_config& sys_cfg, const config::cluster_config& cfg,
                                 bool networked) {
  messages::add_message_types(sys_cfg);
  if (!networked)
    return;
  sys_cfg.load<caf::io::middleman>();
  sys_cfg.set("middleman.heartbeat-interval", caf::timespan{cfg.runtime.heartbeat_interval});
  // The controller's heartbeats find a node that stopped answering within node_timeout
  // (actors/internal/controller_nodes.cpp) and say so ("no heartbeat answer for N ms"). The middleman's own
  // timeout is only a backstop behind them: at node_timeout it raced them and, when it won, a hung node was
  // reported as an unreachable link (the flaky `e2e multinode node_hung` under ASan).
  sys_cfg.set("middleman.connection-timeout",
              caf::timespan{2 * cfg.runtime.node_timeout + cfg.runtime.heartbeat_interval});
  sys_cfg.set("middleman.app-identifiers", std::vector<std::string>{"switchyard-0.1"});
}

result<cluster_handle> start_cluster(caf::actor_system& sys, const config::cluster_config& cfg,
                                     const start_options& opts) {
  auto shared = std::make_shared<const config::cluster_config>(cfg);
  auto ctrl = spawn_controller(sys, shared, opts.profile);
  if (!ctrl)
    return ctrl.err();
  std::vector<node_actor> nodes;
  for (std::size_t i = 0; i < cfg.nodes.size(); ++i) {
    const auto& name = cfg.nodes[i].name;
    if (!opts.local_nodes.empty()
        && std::find(opts.local_nodes.begin(), opts.local_nodes.end(), name) == opts.local_nodes.end())
      continue;
    auto n = spawn_node(sys, shared, static_cast<int>(i));
    if (!n) {
      caf::anon_send_exit(*ctrl, caf::exit_reason::user_shutdown);
      return n.err();
    }
    nodes.push_back(n->handle);
    caf::anon_send(*ctrl, register_atom_v, *n);
  }
  cluster_handle h{controller_actor{*ctrl}, sys.spawn(keeper, nodes), 0};
  if (opts.publish) {
    auto port = publish_controller(sys, *ctrl, cfg);
    if (!port) {
      auto st = stop_cluster(sys, h, std::chrono::milliseconds(5000));
      (void)st;
      return port.err();
    }
    h.port = *port;
  }
  caf::scoped_actor self{sys};
  auto until = std::chrono::steady_clock::now() + opts.ready_timeout;
  health_report last;
  for (;;) {
    auto hr = ask_health(self, h.controller);
    if (hr && hr->ready)
      return h;
    if (hr)
      last = *hr;
    if (opts.cancelled && opts.cancelled()) {
      auto st = stop_cluster(sys, h, std::chrono::milliseconds(5000));
      (void)st;
      return make_error("cancelled", "start-up cancelled before the cluster was ready (" + std::to_string(last.nodes)
                                       + "/" + std::to_string(last.nodes_expected) + " nodes)");
    }
    if (std::chrono::steady_clock::now() >= until)
      break;
    // poll: the controller has no ready notification in its client interface
    self->receive([](caf::unit_t) {}, caf::after(std::chrono::milliseconds(20)) >> [] {});
  }
  std::string why = "cluster not ready after " + std::to_string(opts.ready_timeout.count()) + " ms ("
                    + std::to_string(last.nodes) + "/" + std::to_string(last.nodes_expected) + " nodes)";
  for (auto& p : last.problems)
    why += "; " + p;
  auto st = stop_cluster(sys, h, std::chrono::milliseconds(5000));
  (void)st;
  return make_error("cluster", why);
}

namespace {

/// An answer to remote_actor that retrying cannot change: the peer speaks BASP and is not our controller.
bool permanent_join_error(const caf::error& e) {
  return e == caf::sec::incompatible_versions || e == caf::sec::incompatible_application_ids
         || e == caf::sec::unexpected_actor_messaging_interface || e == caf::sec::no_actor_published_at_port;
}

} // namespace

result<joined_node> join_cluster(caf::actor_system& sys, const config::cluster_config& cfg, const std::string& node,
                                 const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  int index = -1;
  for (std::size_t i = 0; i < cfg.nodes.size(); ++i)
    if (cfg.nodes[i].name == node)
      index = static_cast<int>(i);
  if (index < 0)
    return make_error("cluster", "node " + node + " is not in " + cfg.source);
  if (!sys.has_middleman())
    return make_error("cluster", "joining a cluster needs the middleman (caf::io) loaded");
  auto where = host + ":" + std::to_string(port);
  auto until = std::chrono::steady_clock::now() + timeout;
  caf::scoped_actor self{sys};
  for (int attempt = 1;; ++attempt) {
    auto ctrl = sys.middleman().remote_actor<controller_full_actor>(host, port);
    if (ctrl) {
      auto n = spawn_node(sys, std::make_shared<const config::cluster_config>(cfg), index);
      if (!n)
        return n.err();
      // Joined only once the controller accepted the registration (a refusal says why).
      std::optional<error> refused;
      self->request(*ctrl, std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(30)), register_atom_v, *n)
        .receive(
          [&](const ack& a) {
            if (!a.ok)
              refused = make_error("cluster", "refused by the controller at " + where + ": " + a.reason);
          },
          [&](caf::error& e) {
            refused = make_error("cluster", "registering with the controller at " + where + " failed: " + sys.render(e));
          });
      if (refused) {
        caf::anon_send_exit(n->handle, caf::exit_reason::user_shutdown);
        return *refused;
      }
      return joined_node{caf::actor_cast<caf::actor>(n->handle), caf::actor_cast<caf::actor>(*ctrl)};
    }
    // A peer that answered and is not our controller (another build, another application, another
    // interface at that port) will not get better: fail at once. Anything else is a connection that did not
    // come about (refused: the controller is not up yet; a link down; a handshake cut short) and is retried.
    // Note: CAF 0.17.6 starts a client connection's `last_seen` at the clock's epoch, so the first middleman
    // heartbeat tick (every runtime.heartbeat_interval_ms) closes it with connection_timeout when the
    // controller's handshake has not arrived by then: a controller process that is just starting or busy.
    if (permanent_join_error(ctrl.error()))
      return make_error("cluster", "the peer at " + where + " is not a compatible switchyard controller: "
                                     + sys.render(ctrl.error()));
    if (attempt == 1 || ctrl.error() != caf::sec::cannot_connect_to_node)
      logger("node")->info("controller at {} not reachable yet ({}); retrying for {} ms", where,
                           sys.render(ctrl.error()), timeout.count());
    if (std::chrono::steady_clock::now() >= until)
      return make_error("cluster", "cannot reach the controller at " + where + " within "
                                     + std::to_string(timeout.count()) + " ms (" + std::to_string(attempt)
                                     + " attempts; last: " + sys.render(ctrl.error()) + ")");
    self->receive([](caf::unit_t) {}, caf::after(std::chrono::milliseconds(200)) >> [] {}); // retry pause
  }
}

result<policies::placement> runtime_placement(const config::cluster_config& cfg) {
  auto groups = internal::plan_groups(cfg);
  if (!groups)
    return groups.err();
  policies::placement p;
  for (const auto& m : cfg.models)
    p.model_names.push_back(m.name);
  for (const auto& g : *groups) {
    policies::group_placement gp;
    gp.config = {g.op, g.pp};
    for (const auto& d : g.devices)
      gp.devices.push_back(cfg.global_index(d));
    gp.models = g.models;
    p.groups.push_back(std::move(gp));
  }
  return p;
}

std::int64_t weight_budget(std::int64_t memory_bytes) {
  return static_cast<std::int64_t>(static_cast<double>(memory_bytes) * internal::weight_budget_fraction);
}

status stop_cluster(caf::actor_system& sys, cluster_handle& h, std::chrono::milliseconds timeout) {
  if (!h.controller)
    return {};
  caf::scoped_actor self{sys};
  status out;
  self->request(h.controller, timeout, stop_atom_v)
    .receive([&](const ack& a) { out = a.ok ? status{} : status{make_error("cluster", a.reason)}; },
             [&](caf::error& e) { out = make_error("cluster", "stop: " + sys.render(e)); });
  caf::anon_send_exit(h.keep_alive, caf::exit_reason::user_shutdown);
  h.controller = nullptr;
  h.keep_alive = nullptr;
  return out;
}

} // namespace sy::actors
