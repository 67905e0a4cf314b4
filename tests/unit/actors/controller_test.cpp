// The controller on the test coordinator: a node stand-in answers spawn_stage with stages over manual
// backends, so that admission, dispatch, readiness and drain run deterministically on the virtual clock.
#include <catch2/catch.hpp>

#include "actor_fixture.hpp"
#include "config/cluster_config.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;
using sy::test::manual_backend;

namespace {

const char* yaml = R"(
nodes:
  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 2, memory: 64MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 100}
placement:
  groups:
    - {name: g, devices: [0, 1], pipeline: 2, models: [tiny-gpt]}
policies: {admission: slo, batching: none}
)";

struct controller_rig : test::fixture {
  test::manual_backends backends = std::make_shared<std::vector<std::shared_ptr<manual_backend>>>();
  controller_full_actor ctrl;
  node_actor node;

  controller_rig() {
    auto c = config::parse_config(yaml, "test.yaml");
    REQUIRE(c);
    auto spawned = actors::spawn_controller(sys, std::make_shared<const config::cluster_config>(*c));
    REQUIRE(spawned);
    ctrl = *spawned;
    node = test::spawn_manual_node(sys, backends);
    self->send(ctrl, register_atom_v, node_registration{"n0", node, {}});
    run();
    REQUIRE(backends->size() == 2);
  }

  ~controller_rig() {
    // the controller and its groups reference each other: stop them explicitly
    caf::anon_send(ctrl, stop_atom_v);
    pump_all();
  }

  /// Completes every pending op, advancing the clock by `step` before each completion.
  void pump_all(std::chrono::milliseconds step = 0ms) {
    for (;;) {
      run();
      bool any = false;
      for (auto& b : *backends)
        while (!b->ops.empty()) {
          sched.advance_time(step);
          b->complete();
          any = true;
          run();
        }
      if (!any)
        break;
    }
  }

  health_report health() {
    auto h = self->request(ctrl, caf::infinite, health_atom_v);
    run();
    health_report out;
    h.receive([&](health_report& x) { out = x; }, [&](caf::error&) { FAIL("no health"); });
    return out;
  }

  std::vector<infer_response> responses() {
    std::vector<infer_response> out;
    bool more = true;
    while (more)
      self->receive([&](infer_response& r) { out.push_back(std::move(r)); }, caf::after(0s) >> [&] { more = false; });
    return out;
  }
};

} // namespace

TEST_CASE("the controller is ready once its groups preloaded, and rejects requests before that") {
  controller_rig c;
  CHECK_FALSE(c.health().ready);
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{1}, "tiny-gpt", {1}, std::nullopt});
  c.run();
  auto early = c.responses();
  REQUIRE(early.size() == 1);
  CHECK(early[0].status == request_status::rejected);
  CHECK(early[0].reason == "not ready");
  c.pump_all(); // preload: one load per stage
  CHECK(c.health().ready);
}

TEST_CASE("admission rejects at once a request whose SLO is below the measured pipeline latency") {
  controller_rig c;
  c.pump_all();
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{1}, "tiny-gpt", {1}, std::nullopt});
  c.pump_all(30ms); // each stage takes 30 ms of virtual time
  auto first = c.responses();
  REQUIRE(first.size() == 1);
  CHECK(first[0].status == request_status::ok);
  CHECK(first[0].timings.finish - first[0].timings.start >= 30ms);
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{2}, "tiny-gpt", {1}, std::chrono::microseconds{20000}});
  c.run();
  auto second = c.responses();
  REQUIRE(second.size() == 1);
  CHECK(second[0].status == request_status::rejected);
  CHECK(second[0].reason == "cannot meet SLO");
  for (auto& b : *c.backends)
    CHECK(b->ops.empty()); // nothing was sent to the devices
  // a request with enough time is still accepted
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{3}, "tiny-gpt", {1}, std::chrono::microseconds{500000}});
  c.pump_all(30ms);
  auto third = c.responses();
  REQUIRE(third.size() == 1);
  CHECK(third[0].status == request_status::ok);
}

TEST_CASE("drain answers once every accepted request is answered, then new requests are rejected") {
  controller_rig c;
  c.pump_all();
  for (std::uint64_t i = 1; i <= 3; ++i)
    c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{i}, "tiny-gpt", {static_cast<std::int32_t>(i)}, std::nullopt});
  c.run();
  CHECK(c.health().in_flight == 3);
  auto drained = c.self->request(c.ctrl, caf::infinite, drain_atom_v);
  c.run();
  c.pump_all(1ms);
  bool got = false;
  drained.receive([&](ack& a) { got = a.ok; }, [&](caf::error&) { FAIL("drain failed"); });
  CHECK(got);
  auto rs = c.responses();
  CHECK(rs.size() == 3);
  for (auto& r : rs)
    CHECK(r.status == request_status::ok);
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{9}, "tiny-gpt", {1}, std::nullopt});
  c.run();
  auto late = c.responses();
  REQUIRE(late.size() == 1);
  CHECK(late[0].reason == "draining");
  CHECK(c.health().in_flight == 0);
}

TEST_CASE("the controller's deadline timer answers deadline_exceeded once, even when the batch finishes later") {
  controller_rig c;
  c.pump_all();
  // one request answered in time (its deadline entry must not fire later), one that runs late
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{1}, "tiny-gpt", {1}, std::nullopt});
  c.pump_all(1ms);
  REQUIRE(c.responses().size() == 1);
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{2}, "tiny-gpt", {2}, std::nullopt}); // slo 100 ms
  c.run();
  REQUIRE((*c.backends)[0]->pending("forward") == 1); // on the device, not finishing
  c.sched.advance_time(99ms);
  c.run();
  CHECK(c.responses().empty());
  c.sched.advance_time(2ms);
  c.run();
  auto late = c.responses();
  REQUIRE(late.size() == 1);
  CHECK(late[0].id == request_id{2});
  CHECK(late[0].status == request_status::deadline_exceeded);
  CHECK(c.health().in_flight == 0);
  c.pump_all(1ms); // the batch completes after all: no second answer
  CHECK(c.responses().empty());
  c.sched.advance_time(1000ms);
  c.run();
  CHECK(c.responses().empty());
}

TEST_CASE("a request refused because its model is swapped out starts the load and later requests are admitted") {
  controller_rig c;
  c.pump_all(200ms); // the preload takes 400 ms of virtual time: more than the 100 ms SLO
  REQUIRE(c.health().ready);
  auto unloaded = c.self->request(c.ctrl, caf::infinite, unload_atom_v, model_command{"tiny-gpt", ""});
  c.pump_all();
  unloaded.receive([](ack& a) { CHECK(a.ok); }, [](caf::error&) { FAIL("no unload answer"); });
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{1}, "tiny-gpt", {1}, std::nullopt});
  c.run();
  auto first = c.responses();
  REQUIRE(first.size() == 1);
  CHECK(first[0].status == request_status::rejected);
  CHECK(first[0].reason == "cannot meet SLO");
  // ... but the refusal started the load
  REQUIRE((*c.backends)[0]->pending("load") == 1);
  c.pump_all(1ms);
  for (std::uint64_t i = 2; i <= 7; ++i) {
    c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{i}, "tiny-gpt", {1}, std::nullopt});
    c.pump_all(1ms);
  }
  auto later = c.responses();
  REQUIRE(later.size() == 6);
  for (auto& r : later)
    CHECK(r.status == request_status::ok);
}

TEST_CASE("a group whose device turns unhealthy goes down: readiness names it and its replicas show as lost") {
  controller_rig c;
  c.pump_all();
  REQUIRE(c.health().ready);
  (*c.backends)[1]->sticky = make_error("device", "cpu:1: illegal address");
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{1}, "tiny-gpt", {1}, std::nullopt});
  c.run();
  REQUIRE((*c.backends)[0]->complete("forward"));
  c.run();
  REQUIRE((*c.backends)[1]->complete("forward", "illegal address"));
  c.run();
  auto r = c.responses();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == request_status::failed);
  auto h = c.health();
  CHECK_FALSE(h.ready);
  REQUIRE(h.missing.size() == 1);
  CHECK(h.missing[0].find("group g") == 0);
  CHECK(h.missing[0].find("unhealthy") != std::string::npos);
  auto list = c.self->request(c.ctrl, caf::infinite, list_atom_v);
  c.run();
  list.receive(
    [](std::vector<model_info>& models) {
      REQUIRE(models.size() == 1);
      REQUIRE(models[0].replicas.size() == 1);
      CHECK(models[0].replicas[0].state == residency::lost);
    },
    [](caf::error&) { FAIL("no model list"); });
  c.self->send(c.ctrl, infer_atom_v, infer_request{request_id{2}, "tiny-gpt", {1}, std::nullopt});
  c.run();
  auto refused = c.responses();
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].status == request_status::rejected);
  CHECK(refused[0].reason.find("unhealthy") != std::string::npos);
}
