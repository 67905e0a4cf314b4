#include "apps/serve.hpp"

#include <cstdlib>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include "actors/cluster.hpp"
#include "actors/echo_controller.hpp"
#include "actors/ingress.hpp"
#include "actors/ingress_http.hpp"
#include "apps/live_plan.hpp"
#include "sim/deployment_plan.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

void tune_scheduler(caf::actor_system_config& cfg) {
  // CAF's scheduler: as many workers as hardware threads (CAF's default, max(4, hw), oversubscribes small
  // machines) sharing one queue (work stealing polls with 50 us sleeps, costly on 2 cores beside the ingress,
  // device and client threads; bench control-plane measured 164 vs 207 us CPU per request). The
  // environment overrides both: SY_CAF_THREADS=n, SY_CAF_POLICY=sharing|stealing.
  auto threads = static_cast<std::size_t>(std::max(1u, std::thread::hardware_concurrency()));
  if (const char* t = std::getenv("SY_CAF_THREADS"); t && std::atoi(t) > 0)
    threads = static_cast<std::size_t>(std::atoi(t));
  cfg.set("scheduler.max-threads", threads);
  std::string policy = std::getenv("SY_CAF_POLICY") ? std::getenv("SY_CAF_POLICY") : "sharing";
  if (policy != "sharing" && policy != "stealing") {
    logger("up")->warn("SY_CAF_POLICY: expected sharing or stealing, found '{}'; using sharing", policy);
    policy = "sharing";
  }
  cfg.set("scheduler.policy", policy == "sharing" ? caf::atom("sharing") : caf::atom("stealing"));
}

namespace {

class service_impl final : public local_service {
public:
  explicit service_impl(const config::cluster_config& cfg) {
    actors::prepare_actor_system_config(cfg_, cfg, true); // the ingress broker needs the middleman
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    tune_scheduler(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
  }

  ~service_impl() override { drain_and_stop(std::chrono::seconds(30)); }

  status start(const config::cluster_config& cfg, const serve_overrides& o) {
    auto port_of = [&](std::uint16_t p) { return o.any_ports ? std::uint16_t{0} : p; };
    ctx_ = std::make_shared<actors::ingress_context>();
    ctx_->limits.max_in_flight = static_cast<std::size_t>(o.max_in_flight > 0 ? o.max_in_flight
                                                                             : cfg.ingress.max_in_flight);
    int max_seq = 0;
    for (const auto& m : cfg.models) {
      max_seq = std::max(max_seq, m.spec.max_seq);
      ctx_->models[m.name] = actors::model_limits{m.spec.vocab, m.spec.max_seq};
    }
    ctx_->limits.max_tokens = static_cast<std::size_t>(cfg.ingress.max_input_tokens > 0 ? cfg.ingress.max_input_tokens
                                                                                         : std::max(1, max_seq));
    ctx_->limits.max_frame_bytes = std::max<std::size_t>(1 << 16, ctx_->limits.max_tokens * 8 + 4096);
    ctx_->limits.max_connections = static_cast<std::size_t>(cfg.ingress.max_connections);
    ctx_->limits.idle_timeout = cfg.ingress.idle_timeout;
    ctx_->limits.read_timeout = cfg.ingress.read_timeout;
    ctx_->limits.http_workers = static_cast<std::size_t>(cfg.ingress.http_workers);
    ctx_->control_token = cfg.ingress.control_token;
    ctx_->placement_json = o.placement_json.empty() ? sim::placement_json(cfg, cfg.placement, nullptr) : o.placement_json;
    if (const char* t = std::getenv("SWITCHYARD_CONTROL_TOKEN"); t && *t)
      ctx_->control_token = t;
    // The controller answers every request by its deadline; this bound only catches a lost controller.
    ctx_->request_timeout = cfg.runtime.request_timeout * 2 + std::chrono::seconds(5);
    ctx_->gate = std::make_shared<actors::inflight_gate>(static_cast<std::int64_t>(ctx_->limits.max_in_flight));
    ctx_->metrics = std::make_shared<actors::metrics_registry>();
    actors::describe_ingress_metrics(*ctx_->metrics);

    // Every port is bound before any weights load or node joins, so that a port in use is reported at once.
    // Clients that connect early wait in the kernel's backlog until serving.
    auto msgpack_socket = actors::bind_listen_socket(cfg.ingress.bind, port_of(cfg.ingress.msgpack_port),
                                                     "ingress.msgpack_port");
    if (!msgpack_socket)
      return msgpack_socket.err();
    http_ = std::make_unique<actors::http_ingress>(*sys_, ctx_);
    auto hp = http_->bind(cfg.ingress.bind, port_of(cfg.ingress.http_port));
    if (!hp)
      return hp.err();
    ports_.http = *hp;
    if (!o.any_ports && cfg.metrics.port == cfg.ingress.http_port && cfg.metrics.bind == cfg.ingress.bind) {
      ports_.metrics = ports_.http;
    } else {
      metrics_http_ = std::make_unique<actors::http_ingress>(*sys_, ctx_, true);
      auto mport = metrics_http_->bind(cfg.metrics.bind, port_of(cfg.metrics.port));
      if (!mport)
        return mport.err();
      ports_.metrics = *mport;
    }

    if (o.echo_controller) {
      std::vector<std::string> names;
      for (const auto& m : cfg.models)
        names.push_back(m.name);
      controller_ = actors::spawn_echo_controller(*sys_, names);
      echo_ = true;
    } else {
      actors::start_options so;
      so.local_nodes = o.local_nodes;
      so.publish = o.publish;
      so.ready_timeout = o.ready_timeout;
      so.cancelled = o.cancelled;
      so.profile = o.profile;
      auto cluster = actors::start_cluster(*sys_, cfg, so);
      if (!cluster)
        return cluster.err();
      cluster_ = *cluster;
      controller_ = cluster_.controller;
      ports_.controller = cluster_.port;
    }
    ctx_->controller = controller_;

    auto mp = actors::start_msgpack_ingress(*sys_, ctx_, std::move(*msgpack_socket));
    if (!mp)
      return mp.err();
    ingress_ = mp->first;
    ports_.msgpack = mp->second;
    http_->serve();
    if (metrics_http_)
      metrics_http_->serve();
    int cpu = 0, cuda = 0, simulated = 0;
    for (const auto& n : cfg.nodes)
      for (const auto& d : n.devices)
        ++(d.kind == config::device_kind::cpu ? cpu : d.kind == config::device_kind::cuda ? cuda : simulated);
    backend_ = fmt::format("{}{} node(s), {} cpu + {} cuda device(s){}, {} model(s)",
                           o.echo_controller ? "echo controller (no models run), " : "", cfg.nodes.size(), cpu,
                           cuda, simulated ? fmt::format(" + {} sim device(s)", simulated) : std::string{},
                           cfg.models.size());
    return {};
  }

  serve_ports ports() const override { return ports_; }
  std::string backend() const override { return backend_; }

  result<messages::metrics_snapshot> snapshot() override {
    result<messages::metrics_snapshot> out = make_error("cluster", "no controller");
    caf::scoped_actor self{*sys_};
    self->request(controller_, std::chrono::seconds(5), messages::metrics_atom_v)
      .receive([&](messages::metrics_snapshot& s) { out = std::move(s); },
               [&](caf::error& e) { out = make_error("cluster", sys_->render(e)); });
    return out;
  }

  bool drain_and_stop(std::chrono::milliseconds timeout) override {
    if (stopped_)
      return clean_;
    stopped_ = true;
    clean_ = true;
    // 1. Stop accepting on every endpoint; answer everything the ingress holds (HTTP: the requests already
    //    sent are answered before its workers stop).
    std::thread http_stop([this] {
      if (http_)
        http_drained_ = http_->stop();
    });
    if (ingress_)
      clean_ = actors::drain_ingress(*sys_, ingress_, timeout) && clean_;
    http_stop.join();
    logger("up")->info("drain: {} HTTP request(s) answered while stopping; msgpack ingress {}", http_drained_,
                       clean_ ? "drained" : "still held requests at the timeout");
    // 2. The cluster: drain (anything still queued inside), then stop nodes, groups, stages, gpus.
    if (echo_) {
      caf::anon_send_exit(controller_, caf::exit_reason::user_shutdown);
    } else if (controller_) {
      if (auto st = actors::stop_cluster(*sys_, cluster_, timeout); !st) {
        logger("up")->warn("stopping the cluster: {}", st.err().to_string());
        clean_ = false;
      }
    }
    if (metrics_http_)
      metrics_http_->stop();
    if (ingress_) {
      // Wait for the broker to end: an exit still queued when the actor system stops leaves the broker (and
      // the connections it holds) alive and unreleased at exit (LeakSanitizer reported it).
      caf::scoped_actor self{*sys_};
      self->monitor(ingress_);
      caf::anon_send_exit(ingress_, caf::exit_reason::user_shutdown);
      self->receive([](const caf::down_msg&) {},
                    caf::after(std::chrono::seconds(5)) >> [] {
                      logger("up")->warn("drain: the msgpack ingress did not stop within 5 s");
                    });
      ingress_ = nullptr;
    }
    return clean_;
  }

private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  actors::cluster_handle cluster_;
  messages::controller_actor controller_;
  std::shared_ptr<actors::ingress_context> ctx_;
  caf::actor ingress_;
  std::unique_ptr<actors::http_ingress> http_, metrics_http_;
  serve_ports ports_;
  std::string backend_;
  bool echo_ = false;
  std::size_t http_drained_ = 0;
  bool stopped_ = false;
  bool clean_ = true;
};

} // namespace

result<std::unique_ptr<local_service>> start_local_service(const config::cluster_config& cfg,
                                                           const serve_overrides& o) {
  if (cfg.placement.mode == config::placement_mode::policy && !o.echo_controller) {
    auto planned = plan_for_serving(cfg); // the planner before anything starts
    if (!planned)
      return planned.err();
    auto with_json = o;
    with_json.placement_json = planned->json;
    with_json.profile = planned->profile;
    return start_local_service(planned->cfg, with_json);
  }
  auto s = std::make_unique<service_impl>(cfg);
  if (auto st = s->start(cfg, o); !st)
    return st.err();
  return std::unique_ptr<local_service>(std::move(s));
}

} // namespace sy::apps
