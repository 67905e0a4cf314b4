#pragma once
// The rig of the migration tests (migration_actor_test.cpp, replan_actor_test.cpp): the real controller,
// groups and stages on CAF's test coordinator; node stand-ins answer spawn_stage with stages over manual
// backends (their device work completes when the test says so); requests and their answers are counted.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actor_fixture.hpp"
#include "config/cluster_config.hpp"
#include "policies/profile.hpp"

namespace sy::test {

using namespace sy::messages;
using namespace std::chrono_literals;

/// One node n0 with three devices: group g0 serves tiny-gpt on n0:0, g1 tiny-bert on n0:1, n0:2 is free.
inline const char* one_node_yaml = R"(
nodes:
  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 3, memory: 64MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 5000}
  - {preset: tiny-bert, weights: {seed: 2}, slo_ms: 5000}
placement:
  groups:
    - {name: g0, devices: [0], models: [tiny-gpt]}
    - {name: g1, devices: [1], models: [tiny-bert]}
policies: {admission: none, batching: none}
)";

struct migration_rig : test::fixture {
  test::manual_backends backends = std::make_shared<std::vector<std::shared_ptr<manual_backend>>>();
  controller_full_actor ctrl;
  node_actor node;                          // the first node
  std::map<std::string, node_actor> nodes;  // every node, by name
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::string> sent; // id -> model
  std::map<std::uint64_t, int> answers;      // id -> how many answers
  std::map<request_status, int> by_status;
  std::vector<std::string> reject_reasons;

  explicit migration_rig(const std::string& config_yaml = one_node_yaml,
                         std::vector<std::string> node_names = {"n0"})
    : migration_rig(parse(config_yaml), std::move(node_names)) {}

  /// `c` served by a controller (with `profile` for its re-placement policy, if any) and the nodes named.
  migration_rig(const config::cluster_config& c, std::vector<std::string> node_names,
                std::shared_ptr<const policies::profile_db> profile = nullptr) {
    auto spawned = actors::spawn_controller(sys, std::make_shared<const config::cluster_config>(c), std::move(profile));
    REQUIRE(spawned);
    ctrl = *spawned;
    for (const auto& name : node_names)
      join(name);
    node = nodes.at(node_names.front());
    pump_all();
  }

  static config::cluster_config parse(const std::string& config_yaml) {
    auto c = config::parse_config(config_yaml, "test.yaml");
    REQUIRE(c);
    return *c;
  }

  /// Node `name` joins (again: a fresh node actor, as a restarted `switchyard node`).
  void join(const std::string& name) {
    nodes[name] = test::spawn_manual_node(sys, backends);
    self->send(ctrl, register_atom_v, node_registration{name, nodes[name], {}});
    run();
  }

  /// Node `name` dies (its actor is killed: the controller's down handler sees a lost node).
  void kill(const std::string& name) {
    caf::anon_send_exit(nodes.at(name), caf::exit_reason::kill);
    run();
  }

  ~migration_rig() {
    caf::anon_send(ctrl, stop_atom_v);
    pump_all();
  }

  /// Completes at most `n` pending device ops (oldest first, round the backends), with time passing.
  void pump(int n) {
    for (int done = 0; done < n;) {
      run();
      bool any = false;
      for (std::size_t i = 0; i < backends->size() && done < n; ++i) {
        auto b = (*backends)[i];
        if (b->complete()) {
          any = true;
          ++done;
          run();
        }
      }
      sched.advance_time(5ms);
      run();
      if (!any)
        break;
    }
  }

  void pump_all() {
    for (int i = 0; i < 1000; ++i) {
      std::size_t pending = 0;
      for (auto& b : *backends)
        pending += b->ops.size();
      pump(1000);
      std::size_t after = 0;
      for (auto& b : *backends)
        after += b->ops.size();
      if (pending == 0 && after == 0)
        break;
    }
    sched.advance_time(1s);
    run();
  }

  void send(const std::string& model) {
    auto id = next_id++;
    sent[id] = model;
    self->send(ctrl, infer_atom_v, infer_request{request_id{id}, model, {static_cast<std::int32_t>(id % 50)}, std::nullopt});
  }

  void collect() {
    bool more = true;
    while (more)
      self->receive(
        [&](infer_response& r) {
          ++answers[r.id.value];
          ++by_status[r.status];
          if (r.status == request_status::rejected)
            reject_reasons.push_back(r.reason);
        },
        caf::after(0s) >> [&] { more = false; });
  }

  placement_answer post(const std::string& body) {
    auto h = self->request(ctrl, caf::infinite, placement_atom_v, body);
    run();
    placement_answer out;
    h.receive([&](placement_answer& a) { out = a; }, [&](caf::error&) { FAIL("no placement answer"); });
    return out;
  }

  placement_status placement() {
    auto h = self->request(ctrl, caf::infinite, placement_atom_v);
    run();
    placement_status out;
    h.receive([&](placement_status& s) { out = s; }, [&](caf::error&) { FAIL("no placement status"); });
    return out;
  }

  metrics_snapshot metrics() {
    auto h = self->request(ctrl, caf::infinite, metrics_atom_v);
    run();
    metrics_snapshot out;
    h.receive([&](metrics_snapshot& s) { out = s; }, [&](caf::error&) { FAIL("no metrics"); });
    return out;
  }

  /// Sends requests (tiny-gpt and tiny-bert in turn) while the migration runs, completing `ops` device ops
  /// per round, then drains; the rounds it took (400: it never finished).
  int serve_through_migration(int ops = 2) {
    int rounds = 0;
    for (; rounds < 400 && !placement().migration_json.empty(); ++rounds) {
      send(rounds % 2 ? "tiny-bert" : "tiny-gpt");
      pump(ops);
    }
    pump_all();
    return rounds;
  }

  /// Every request sent got exactly one answer.
  void check_each_answered_once() {
    collect();
    CHECK(answers.size() == sent.size());
    for (auto& [id, n] : answers)
      CHECK(n == 1);
  }

  std::vector<model_info> list() {
    auto h = self->request(ctrl, caf::infinite, list_atom_v);
    run();
    std::vector<model_info> out;
    h.receive([&](std::vector<model_info>& l) { out = l; }, [&](caf::error&) { FAIL("no list"); });
    return out;
  }
};

inline std::set<std::string> groups_of(const std::vector<model_info>& l, const std::string& model) {
  std::set<std::string> out;
  for (auto& m : l)
    if (m.name == model)
      for (auto& r : m.replicas)
        out.insert(r.group);
  return out;
}



/// Two nodes, n0 with three devices and n1 with one (issue 11 §2 beside issue 9 §3's node loss): group g0
/// serves tiny-gpt on device `g0`, g1 tiny-bert on `g1` ("node:ordinal"); both models' SLO is `slo_ms`.
inline std::string two_nodes(const std::string& g0 = "n0:0", const std::string& g1 = "n0:1", int slo_ms = 5000) {
  const auto slo = std::to_string(slo_ms);
  return R"(
nodes:
  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 3, memory: 64MiB}}
  - {name: n1, address: 127.0.0.1:1, devices: {kind: cpu, count: 1, memory: 64MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: )" + slo + R"(}
  - {preset: tiny-bert, weights: {seed: 2}, slo_ms: )" + slo + R"(}
placement:
  groups:
    - {name: g0, devices: [")" + g0 + R"("], models: [tiny-gpt]}
    - {name: g1, devices: [")" + g1 + R"("], models: [tiny-bert]}
policies: {admission: none, batching: none}
)";
}

/// The two nodes with both of them joined.
struct two_node_rig : migration_rig {
  explicit two_node_rig(const std::string& g0 = "n0:0", const std::string& g1 = "n0:1")
    : migration_rig(two_nodes(g0, g1), {"n0", "n1"}) {}
};

} // namespace sy::test
