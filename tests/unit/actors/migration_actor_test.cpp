// Live migration through the real controller, groups and stages (issue 11 §2) on the test coordinator: a
// node stand-in answers spawn_stage with stages over manual backends; requests keep coming while the
// placement changes, and every one of them gets exactly one answer.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "actor_fixture.hpp"
#include "config/cluster_config.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;
using sy::test::manual_backend;

namespace {

const char* yaml = R"(
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
  node_actor node;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, std::string> sent; // id -> model
  std::map<std::uint64_t, int> answers;      // id -> how many answers
  std::map<request_status, int> by_status;
  std::vector<std::string> reject_reasons;

  migration_rig() {
    auto c = config::parse_config(yaml, "test.yaml");
    REQUIRE(c);
    auto spawned = actors::spawn_controller(sys, std::make_shared<const config::cluster_config>(*c));
    REQUIRE(spawned);
    ctrl = *spawned;
    node = test::spawn_manual_node(sys, backends);
    self->send(ctrl, register_atom_v, node_registration{"n0", node, {}});
    run();
    pump_all();
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

  std::vector<model_info> list() {
    auto h = self->request(ctrl, caf::infinite, list_atom_v);
    run();
    std::vector<model_info> out;
    h.receive([&](std::vector<model_info>& l) { out = l; }, [&](caf::error&) { FAIL("no list"); });
    return out;
  }
};

std::set<std::string> groups_of(const std::vector<model_info>& l, const std::string& model) {
  std::set<std::string> out;
  for (auto& m : l)
    if (m.name == model)
      for (auto& r : m.replicas)
        out.insert(r.group);
  return out;
}

} // namespace

TEST_CASE("a live migration under load moves the models and answers every accepted request exactly once") {
  migration_rig c;
  for (int i = 0; i < 4; ++i) { // in flight on the old groups when the migration starts
    c.send("tiny-gpt");
    c.send("tiny-bert");
  }
  c.run();
  // x on the free device 2 holds both; y takes g0's device 0 for tiny-bert: g0 leaves once x serves tiny-gpt
  auto a = c.post(R"({"groups": [{"name": "x", "devices": ["n0:2"], "models": ["tiny-gpt", "tiny-bert"]},
                                  {"name": "y", "devices": ["n0:0"], "models": ["tiny-bert"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  CHECK(a.id == "m1");
  auto busy = c.post(R"({"groups": [{"devices": ["n0:0"], "models": ["tiny-gpt", "tiny-bert"]}]})");
  CHECK(busy.outcome == placement_outcome::busy);
  CHECK(busy.id == "m1");
  CHECK_FALSE(c.placement().migration_json.empty());
  int rounds = 0;
  for (; rounds < 400 && !c.placement().migration_json.empty(); ++rounds) {
    c.send(rounds % 3 == 0 ? "tiny-bert" : "tiny-gpt");
    c.pump(2);
  }
  CHECK(rounds < 400);
  c.pump_all();
  c.collect();
  INFO("ok " << c.by_status[request_status::ok] << " rejected " << c.by_status[request_status::rejected]
             << " deadline " << c.by_status[request_status::deadline_exceeded] << " rounds " << rounds);
  for (auto& b : *c.backends)
    for (auto& o : b->ops)
      UNSCOPED_INFO("left: " << o.kind << " " << o.model);
  for (auto& r : c.reject_reasons)
    UNSCOPED_INFO("rejected: " << r);
  // exactly one answer per request, none failed (nothing was lost), the only refusals say why
  CHECK(c.answers.size() == c.sent.size());
  for (auto& [id, n] : c.answers)
    CHECK(n == 1);
  CHECK(c.by_status[request_status::failed] == 0);
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
  for (auto& r : c.reject_reasons)
    CHECK(r.find("re-placement") != std::string::npos);
  CHECK(c.by_status[request_status::ok] > 0);
  // the new placement serves: tiny-gpt on x only, tiny-bert on x and y; g0 and g1 are gone
  auto l = c.list();
  CHECK(groups_of(l, "tiny-gpt") == std::set<std::string>{"x"});
  CHECK(groups_of(l, "tiny-bert") == std::set<std::string>{"x", "y"});
  auto st = c.placement();
  CHECK(st.generation == 1);
  CHECK(st.last_json.find("\"state\":\"done\"") != std::string::npos);
  auto m = c.metrics();
  CHECK(m.migrations == 1);
  CHECK(m.migration_models_moved == 3);
  CHECK(m.migration_bytes_loaded > 0);
  CHECK(m.migration_seconds.count == 1);
  // and new requests are served by the new groups
  auto before_ok = c.by_status[request_status::ok];
  c.send("tiny-gpt");
  c.send("tiny-bert");
  c.pump_all();
  c.collect();
  CHECK(c.by_status[request_status::ok] == before_ok + 2);
}

TEST_CASE("a swap of models between two devices is forced: refused meanwhile with the reason, never lost") {
  migration_rig c;
  for (int i = 0; i < 3; ++i)
    c.send("tiny-gpt");
  c.run();
  auto a = c.post(R"({"groups": [{"devices": ["n0:0"], "models": ["tiny-bert"]},
                                  {"devices": ["n0:1"], "models": ["tiny-gpt"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  int rounds = 0;
  for (; rounds < 400 && !c.placement().migration_json.empty(); ++rounds) {
    c.send(rounds % 2 ? "tiny-bert" : "tiny-gpt");
    c.pump(1);
  }
  CHECK(rounds < 400);
  c.pump_all();
  c.collect();
  CHECK(c.answers.size() == c.sent.size());
  for (auto& [id, n] : c.answers)
    CHECK(n == 1);
  CHECK(c.by_status[request_status::failed] == 0);
  CHECK(c.by_status[request_status::rejected] > 0); // the devices forced it
  for (auto& r : c.reject_reasons)
    CHECK_THAT(r, Catch::Contains("re-placement m1"));
  CHECK(c.placement().last_json.find("\"refused_meanwhile\":[\"tiny-gpt\"") != std::string::npos);
}

TEST_CASE("a bad plan is refused with the reason and nothing changes; the same placement is a no-op") {
  migration_rig c;
  auto bad = c.post(R"({"groups": [{"devices": ["n0:0"], "models": ["nope"]}]})");
  CHECK(bad.outcome == placement_outcome::invalid);
  CHECK(bad.reason.find("unknown model 'nope'") != std::string::npos);
  auto same = c.post(R"({"groups": [{"devices": ["n0:0"], "models": ["tiny-gpt"]},
                                     {"devices": ["n0:1"], "models": ["tiny-bert"]}]})");
  CHECK(same.outcome == placement_outcome::unchanged);
  CHECK(c.placement().generation == 0);
  CHECK(c.placement().migration_json.empty());
  auto l = c.list();
  CHECK(groups_of(l, "tiny-gpt") == std::set<std::string>{"g0"});
}
