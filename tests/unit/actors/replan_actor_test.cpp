// The re-placement policy (placement.replan, issue 11 §2) beside node loss (issue 9 §3), through the real
// controller on the test coordinator (migration_rig.hpp; the planner runs in place under the test scheduler,
// controller_replan.cpp): never planned onto a lost node or a failed device, deferred while the node-loss
// path moves, and a rejoined node's devices planned on again.
#include <catch2/catch.hpp>

#include "migration_rig.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;
using sy::test::groups_of;
using sy::test::migration_rig;
using sy::test::two_nodes;

namespace {

/// The re-planner's profile: one model per device (40 MB of weights against a weight budget of 0.85 x 64 MiB),
/// 20 s per request, so that at the rates the tests send each further replica raises the predicted attainment.
std::shared_ptr<const policies::profile_db> replan_profile() {
  policies::profile_db db;
  db.set_device("cpu");
  for (const char* m : {"tiny-gpt", "tiny-bert"}) {
    policies::profile_entry e;
    e.model = m;
    e.config = {1, 1};
    e.stage_latency = {{20.0}};
    e.weight_bytes = {40e6};
    e.act_bytes = {{0}};
    e.load_seconds = {1.0};
    db.put(e);
  }
  return std::make_shared<const policies::profile_db>(db);
}

/// The two nodes with a re-placement policy: windowed, re-plans every 300 s on the last 600 s of arrivals
/// (the tests move the virtual clock to make it ask), applies any better candidate, planned by sr-greedy.
struct replan_rig : migration_rig {
  explicit replan_rig(const std::string& g0, const std::string& g1)
    : migration_rig(with_replan(parse(two_nodes(g0, g1, 60000))), {"n0", "n1"}, replan_profile()) {}

  static config::cluster_config with_replan(config::cluster_config c) {
    c.placement.policy.name = "sr-greedy";
    c.placement.replan.name = "windowed";
    c.placement.replan.params = {{"window_s", 600.0}, {"interval_s", 300.0}, {"margin", 0.0}};
    return c;
  }

  /// The virtual clock moves by `dt`: the policy's timer asks it; when it re-plans, the planner (in place
  /// under the test scheduler, controller_replan.cpp) answers and the controller takes its answer.
  void check_after(caf::timespan dt) {
    run();
    sched.advance_time(dt);
    run();
  }

  /// The load the re-plans see: tiny-gpt twice as busy as tiny-bert, both beyond what one replica serves.
  void send_load() {
    for (int i = 0; i < 30; ++i)
      send("tiny-gpt");
    for (int i = 0; i < 15; ++i)
      send("tiny-bert");
    pump_all();
  }

  std::uint64_t replans(const std::string& outcome) {
    auto m = metrics();
    auto it = m.replans.find("windowed/" + outcome);
    return it == m.replans.end() ? 0 : it->second;
  }
};

} // namespace

TEST_CASE("a policy re-plan beside a lost node is deferred while the replacement loads, then plans on the devices "
          "present only, and on the node's device again once it rejoined") {
  replan_rig c{"n0:0", "n1:0"}; // g0: tiny-gpt on n0:0, g1: tiny-bert on n1:0
  c.send_load();
  c.kill("n1"); // g1 is lost; a replacement group loads tiny-bert on n0
  c.check_after(std::chrono::seconds(301));
  auto st = c.placement();
  INFO(st.replan_json);
  CHECK_THAT(st.replan_json, Catch::Contains("\"state\":\"idle\"") && Catch::Contains("\"outcome\":\"deferred\"") &&
                               Catch::Contains("re-placed after node n1 lost") &&
                               Catch::Contains("is still loading its replicas"));
  CHECK(st.migration_json.empty());
  c.check_after(std::chrono::seconds(1)); // asked again while it loads: counted once
  CHECK(c.replans("deferred") == 1);
  c.pump_all(); // the replacement serves: the next check re-plans, without n1:0
  c.check_after(std::chrono::seconds(1));
  st = c.placement();
  INFO(st.replan_json);
  CHECK_THAT(st.replan_json, Catch::Contains("\"outcome\":\"applied\"") &&
                               Catch::Contains("\"planned_without\":\"n1:0, but node n1 is lost"));
  REQUIRE_FALSE(st.migration_json.empty());
  CHECK_THAT(st.migration_json, Catch::Contains("\"dropped\":[\"g1\"]") && !Catch::Contains("n1:0"));
  CHECK(c.serve_through_migration() < 400);
  st = c.placement();
  INFO(st.last_json);
  CHECK(st.generation == 1);
  CHECK_THAT(st.last_json, Catch::Contains("\"state\":\"done\""));
  CHECK_THAT(st.groups_json, !Catch::Contains("n1:0"));
  CHECK(groups_of(c.list(), "tiny-gpt").size() == 2); // the busy model got a second replica
  // n1 rejoins: g1 stays gone (dropped), and the next re-plan may plan on n1:0 again
  c.join("n1");
  c.pump_all();
  CHECK_THAT(c.placement().groups_json, !Catch::Contains("n1:0"));
  c.send_load(); // the load goes on (the first burst leaves the window)
  c.send_load();
  c.check_after(std::chrono::seconds(301));
  st = c.placement();
  INFO(st.replan_json);
  CHECK_THAT(st.replan_json, Catch::Contains("\"outcome\":\"applied\"") && !Catch::Contains("planned_without"));
  CHECK(c.serve_through_migration() < 400);
  st = c.placement();
  INFO(st.groups_json);
  CHECK(st.generation == 2);
  CHECK_THAT(st.groups_json, Catch::Contains("n1:0"));
  CHECK(c.replans("applied") == 2);
  CHECK(c.replans("failed") == 0);
  CHECK(c.replans("deferred") == 1);
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::failed] == 0); // nothing was in flight on g1 when n1 was lost
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
}

TEST_CASE("a policy re-plan beside a failed device plans without it") {
  replan_rig c{"n0:0", "n0:1"}; // g0: tiny-gpt on n0:0, g1: tiny-bert on n0:1; n0:2 and n1:0 free
  c.send_load();
  // g1's device fails on a forward: g1 goes down, a replacement loads tiny-bert on a free device
  (*c.backends)[1]->sticky = make_error("device", "cpu:1: illegal address");
  c.send("tiny-bert");
  c.run();
  REQUIRE((*c.backends)[1]->complete("forward", "illegal address"));
  c.pump_all();
  c.check_after(std::chrono::seconds(301));
  auto st = c.placement();
  INFO(st.replan_json);
  CHECK_THAT(st.replan_json, Catch::Contains("\"outcome\":\"applied\"") &&
                               Catch::Contains("\"planned_without\":\"n0:1, which failed (") &&
                               Catch::Contains("illegal address"));
  CHECK_THAT(st.migration_json, Catch::Contains("\"dropped\":[\"g1\"]"));
  CHECK(c.serve_through_migration() < 400);
  st = c.placement();
  INFO(st.last_json << "\n" << st.groups_json);
  CHECK(st.generation == 1);
  CHECK_THAT(st.last_json, Catch::Contains("\"state\":\"done\""));
  CHECK_THAT(st.groups_json, !Catch::Contains("n0:1"));
  CHECK(c.replans("failed") == 0);
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::failed] == 1); // the request on the failing device
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
}

TEST_CASE("a policy re-plan whose node is lost while it plans is deferred with the reason and nothing changes") {
  replan_rig c{"n0:0", "n1:0"}; // g0: tiny-gpt on n0:0, g1: tiny-bert on n1:0
  c.send_load();
  // the policy's timer fires and n1 dies at once: its loss reaches the controller after the re-plan started
  // (on all four devices) and before its candidate is taken
  c.sched.advance_time(std::chrono::seconds(301));
  caf::anon_send_exit(c.nodes.at("n1"), caf::exit_reason::kill);
  REQUIRE(c.sched.prioritize(c.nodes.at("n1")));
  c.sched.run_once(); // n1 goes; the controller's mailbox now holds the timer, then the loss
  c.run();
  auto st = c.placement();
  INFO(st.replan_json);
  CHECK_THAT(st.replan_json, Catch::Contains("\"outcome\":\"deferred\"") &&
                               Catch::Contains("the cluster changed while planning: ") &&
                               !Catch::Contains("planned_without"));
  CHECK(st.migration_json.empty());
  CHECK(st.generation == 0);
  CHECK(c.replans("failed") == 0);
  CHECK(c.replans("deferred") == 1);
  // once the replacement serves, the next re-plan plans without n1 and is applied
  c.pump_all();
  c.send_load();
  c.check_after(std::chrono::seconds(301));
  st = c.placement();
  INFO(st.replan_json);
  CHECK_THAT(st.replan_json, Catch::Contains("\"outcome\":\"applied\"") &&
                               Catch::Contains("\"planned_without\":\"n1:0, but node n1 is lost"));
  CHECK(c.serve_through_migration() < 400);
  CHECK(c.placement().generation == 1);
  CHECK_THAT(c.placement().groups_json, !Catch::Contains("n1:0"));
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::failed] == 0);
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
}
