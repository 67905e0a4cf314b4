// Run-time policy swaps through the controller and its policy actors (test coordinator, manual stages):
// a swap answers with the new policy, which the controller and its groups use from then on; a bad swap is
// refused with the reason and the old policy stays; a faulty plug-in policy never costs a request its answer.
#include <catch2/catch.hpp>

#include "actor_fixture.hpp"

#include <algorithm>
#include <set>
#include "config/cluster_config.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;
using sy::test::manual_backend;

namespace {

std::string yaml() {
  return std::string{R"(
nodes:
  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 2, memory: 64MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 1000}
placement:
  groups:
    - {name: a, devices: [0], models: [tiny-gpt]}
    - {name: b, devices: [1], models: [tiny-gpt]}
plugins: [")"} + SY_BAD_FAULTY_PLUGIN + "\", \"" + SY_EXAMPLE_PLUGIN + R"("]
policies: {admission: none, dispatch: earliest-free, batching: none}
)";
}

struct swap_rig : test::fixture {
  test::manual_backends backends = std::make_shared<std::vector<std::shared_ptr<manual_backend>>>();
  controller_full_actor ctrl;
  node_actor node;

  swap_rig() {
    auto c = config::parse_config(yaml(), "swap.yaml");
    REQUIRE(c);
    auto spawned = actors::spawn_controller(sys, std::make_shared<const config::cluster_config>(*c));
    REQUIRE(spawned);
    ctrl = *spawned;
    node = test::spawn_manual_node(sys, backends);
    self->send(ctrl, register_atom_v, node_registration{"n0", node, {}});
    pump_all();
  }

  ~swap_rig() {
    caf::anon_send(ctrl, stop_atom_v);
    pump_all();
  }

  void pump_all() {
    for (;;) {
      run();
      bool any = false;
      for (auto& b : *backends)
        while (b->complete()) {
          any = true;
          run();
        }
      if (!any)
        break;
    }
  }

  template <class... Ts>
  policy_info ask(Ts... xs) {
    auto h = self->request(ctrl, caf::infinite, policy_atom_v, xs...);
    run();
    policy_info out;
    h.receive([&](policy_info& p) { out = p; }, [&](caf::error&) { FAIL("no policy answer"); });
    return out;
  }

  std::vector<infer_response> serve(int n) {
    for (int i = 0; i < n; ++i)
      self->send(ctrl, infer_atom_v, infer_request{request_id{static_cast<std::uint64_t>(i + 1)}, "tiny-gpt", {1}, std::nullopt});
    pump_all();
    // Groups report their state to the controller at most once per millisecond: let those reports land so
    // that the next dispatch sees the groups idle again.
    sched.advance_time(2ms);
    pump_all();
    std::vector<infer_response> out;
    bool more = true;
    while (more)
      self->receive([&](infer_response& r) { out.push_back(std::move(r)); }, caf::after(0s) >> [&] { more = false; });
    return out;
  }

  metrics_snapshot metrics() {
    auto h = self->request(ctrl, caf::infinite, metrics_atom_v);
    run();
    metrics_snapshot out;
    h.receive([&](metrics_snapshot& s) { out = s; }, [&](caf::error&) { FAIL("no metrics"); });
    return out;
  }
};

} // namespace

TEST_CASE("a policy swap answers with the new policy and the controller dispatches with it from then on") {
  swap_rig r;
  auto now = r.ask(std::string{"dispatch"});
  CHECK(now.ok);
  CHECK(now.current.name == "earliest-free");
  CHECK(now.origin == "built-in");
  CHECK(std::find(now.available.begin(), now.available.end(), "least-loaded-random") != now.available.end());
  // earliest-free: one request at a time, both groups idle: ties go to the first candidate
  std::set<std::string> before;
  for (int i = 0; i < 6; ++i)
    for (auto& resp : r.serve(1))
      before.insert(resp.timings.group);
  CHECK(before == std::set<std::string>{"a"});

  auto swapped = r.ask(policy_spec{"dispatch", "least-loaded-random", {{"seed", 5}}});
  REQUIRE(swapped.ok);
  CHECK(swapped.current.name == "least-loaded-random");
  CHECK(swapped.current.params.at("seed") == 5);
  CHECK(swapped.origin == SY_EXAMPLE_PLUGIN);
  CHECK(r.ask(std::string{"dispatch"}).current.name == "least-loaded-random");
  std::set<std::string> after;
  for (int i = 0; i < 16; ++i)
    for (auto& resp : r.serve(1)) {
      CHECK(resp.status == request_status::ok);
      after.insert(resp.timings.group);
    }
  CHECK(after == std::set<std::string>{"a", "b"});
}

TEST_CASE("a refused swap says why and keeps the policy in effect") {
  swap_rig r;
  auto unknown = r.ask(policy_spec{"dispatch", "fastest", {}});
  CHECK_FALSE(unknown.ok);
  CHECK(unknown.reason == "dispatch: expected one of earliest-free, shortest-queue, always-throws, "
                          "least-loaded-random, no-such-group, refuses, found \"fastest\"");
  CHECK(unknown.current.name == "earliest-free");
  auto params = r.ask(policy_spec{"batching", "greedy", {{"max_batch", 0}}});
  CHECK_FALSE(params.ok);
  CHECK(params.reason.find("batching.max_batch: expected a number >= 1") != std::string::npos);
  CHECK(params.current.name == "none");
  auto kind = r.ask(policy_spec{"placement", "mp-search", {}});
  CHECK_FALSE(kind.ok);
  CHECK(kind.reason == "expected a policy kind (admission, dispatch, batching, eviction), found \"placement\"");
  for (auto& resp : r.serve(2))
    CHECK(resp.status == request_status::ok);
}

TEST_CASE("faulty plug-in policies swapped in at run time never cost a request its answer") {
  swap_rig r;
  REQUIRE(r.ask(policy_spec{"dispatch", "always-throws", {}}).ok);
  REQUIRE(r.ask(policy_spec{"batching", "takes-too-many", {}}).ok);
  REQUIRE(r.ask(policy_spec{"admission", "throws-int", {}}).ok);
  auto rs = r.serve(4);
  REQUIRE(rs.size() == 4);
  for (auto& resp : rs)
    CHECK(resp.status == request_status::ok);
  auto faults = r.metrics().policy_faults;
  CHECK(faults["dispatch/always-throws/threw"] == 4);
  CHECK(faults["admission/throws-int/threw"] == 4);
  CHECK(faults["batching/takes-too-many/invalid"] >= 4); // the groups use the swapped batching policy
  REQUIRE(r.ask(policy_spec{"dispatch", "no-such-group", {}}).ok);
  for (auto& resp : r.serve(2))
    CHECK(resp.status == request_status::ok);
  CHECK(r.metrics().policy_faults["dispatch/no-such-group/invalid"] == 2);
}
