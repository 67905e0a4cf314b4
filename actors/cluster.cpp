// start_cluster / stop_cluster: the blocking entry points for apps (see actors/cluster.hpp).
#include "actors/cluster.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/spawn.hpp"
#include "config/cluster_config.hpp"
#include "messages/logging.hpp"

namespace sy::actors {

using namespace messages;

namespace {

/// Keeps the node handles referenced for the cluster's lifetime.
caf::behavior keeper(caf::event_based_actor*, std::vector<node_actor>) {
  return {[](stop_atom) {}};
}

result<health_report> ask_health(caf::scoped_actor& self, const controller_actor& c) {
  result<health_report> out = make_error("cluster", "no answer");
  self->request(c, std::chrono::seconds(5), health_atom_v)
    .receive([&](health_report& h) { out = std::move(h); },
             [&](caf::error& e) { out = make_error("cluster", self->system().render(e)); });
  return out;
}

} // namespace

result<cluster_handle> start_cluster(caf::actor_system& sys, const config::cluster_config& cfg,
                                     const start_options& opts) {
  auto shared = std::make_shared<const config::cluster_config>(cfg);
  auto ctrl = spawn_controller(sys, shared);
  if (!ctrl)
    return ctrl.err();
  std::vector<node_actor> nodes;
  for (std::size_t i = 0; i < cfg.nodes.size(); ++i) {
    const auto& name = cfg.nodes[i].name;
    if (!opts.local_nodes.empty()
        && std::find(opts.local_nodes.begin(), opts.local_nodes.end(), name) == opts.local_nodes.end())
      continue;
    auto n = spawn_node(sys, shared, static_cast<int>(i), *ctrl);
    if (!n) {
      caf::anon_send_exit(*ctrl, caf::exit_reason::user_shutdown);
      return n.err();
    }
    nodes.push_back(*n);
  }
  cluster_handle h{controller_actor{*ctrl}, sys.spawn(keeper, nodes)};
  caf::scoped_actor self{sys};
  auto until = std::chrono::steady_clock::now() + opts.ready_timeout;
  health_report last;
  for (;;) {
    auto hr = ask_health(self, h.controller);
    if (hr && hr->ready)
      return h;
    if (hr)
      last = *hr;
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
