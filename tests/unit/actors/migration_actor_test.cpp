// Live migration through the real controller, groups and stages (issue 11 §2) on the test coordinator
// (migration_rig.hpp): requests keep coming while the placement changes, and every one of them gets exactly
// one answer; beside node loss (issue 9 §3): nodes lost and rejoining during a migration.
#include <catch2/catch.hpp>

#include "migration_rig.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;
using sy::test::groups_of;
using sy::test::migration_rig;
using sy::test::two_node_rig;

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


TEST_CASE("a node lost during a migration that builds there ends it failed naming the node and the old groups serve on") {
  two_node_rig c;
  for (int i = 0; i < 3; ++i) {
    c.send("tiny-gpt");
    c.send("tiny-bert");
  }
  c.run();
  // x on n1:0 holds both models; g0 leaves once x serves tiny-gpt, y then takes its device for tiny-bert
  auto a = c.post(R"({"groups": [{"name": "x", "devices": ["n1:0"], "models": ["tiny-gpt", "tiny-bert"]},
                                  {"name": "y", "devices": ["n0:0"], "models": ["tiny-bert"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  c.pump(2); // x loads (not ready yet)
  REQUIRE_FALSE(c.placement().migration_json.empty());
  c.kill("n1");
  auto st = c.placement();
  CHECK(st.migration_json.empty()); // ended at once
  CHECK(st.generation == 0);
  INFO(st.last_json);
  CHECK(st.last_json.find("\"state\":\"failed\"") != std::string::npos);
  CHECK(st.last_json.find("node n1 lost") != std::string::npos);
  CHECK(st.last_json.find("which builds group x on n1:0") != std::string::npos);
  // the old groups serve on: requests sent now are served by g0 and g1
  for (int i = 0; i < 4; ++i) {
    c.send("tiny-gpt");
    c.send("tiny-bert");
  }
  c.pump_all();
  c.collect();
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::failed] == 0); // x served nothing yet: nothing was in flight there
  CHECK(c.by_status[request_status::ok] == static_cast<int>(c.sent.size()));
  auto l = c.list();
  CHECK(groups_of(l, "tiny-gpt") == std::set<std::string>{"g0"});
  CHECK(groups_of(l, "tiny-bert") == std::set<std::string>{"g1"});
  // and the next migration is accepted (on the devices present)
  auto again = c.post(R"({"groups": [{"devices": ["n0:0"], "models": ["tiny-gpt"]},
                                      {"devices": ["n0:2"], "models": ["tiny-bert"]}]})");
  CHECK(again.outcome == placement_outcome::accepted);
  c.pump_all();
}

TEST_CASE("a node lost during a migration that only leaves groups there lets the migration complete") {
  two_node_rig c;
  // first move tiny-bert onto n1 (g1 leaves), then move it back while n1 is lost
  REQUIRE(c.post(R"({"groups": [{"name": "a", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                 {"name": "b", "devices": ["n1:0"], "models": ["tiny-bert"]}]})")
            .outcome == placement_outcome::accepted);
  c.pump_all();
  REQUIRE(c.placement().generation == 1);
  auto a = c.post(R"({"groups": [{"name": "a", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                  {"name": "c", "devices": ["n0:2"], "models": ["tiny-bert"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  c.kill("n1"); // b, which leaves, is lost with it; c is built on n0
  c.pump_all();
  auto st = c.placement();
  INFO(st.last_json);
  CHECK(st.generation == 2);
  CHECK(st.last_json.find("\"state\":\"done\"") != std::string::npos);
  c.send("tiny-bert");
  c.send("tiny-gpt");
  c.pump_all();
  c.collect();
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::ok] == 2);
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"c"});
}

TEST_CASE("beside a lost node a plan on its devices is refused 409 with the reason and one on the devices present "
          "migrates from the replacement and drops the lost group for good") {
  two_node_rig c{"n0:0", "n1:0"};
  c.kill("n1"); // g1 is lost; a replacement group loads tiny-bert on a spare device of n0
  auto loading = c.post(R"({"groups": [{"devices": ["n0:0"], "models": ["tiny-gpt"]},
                                        {"devices": ["n0:2"], "models": ["tiny-bert"]}]})");
  CHECK(loading.outcome == placement_outcome::conflict);
  CHECK_THAT(loading.reason, Catch::Contains("re-placed after node n1 lost") &&
                               Catch::Contains("is still loading its replicas: try again once it serves"));
  CHECK(http_status(loading.outcome) == 409);
  c.pump_all();
  auto replaced = groups_of(c.list(), "tiny-bert");
  CHECK(replaced.count("g1") == 1); // shown as lost
  replaced.erase("g1");
  REQUIRE(replaced.size() == 1);
  const auto r = *replaced.begin();
  CHECK(r != "g1");
  auto on_lost = c.post(R"({"groups": [{"name": "z", "devices": ["n1:0"], "models": ["tiny-gpt", "tiny-bert"]}]})");
  CHECK(on_lost.outcome == placement_outcome::conflict);
  CHECK_THAT(on_lost.reason, Catch::StartsWith("group z needs device n1:0, but node n1 is lost") &&
                               Catch::Contains("plan on the devices of the nodes present, or wait until it rejoins"));
  for (int i = 0; i < 3; ++i) {
    c.send("tiny-gpt");
    c.send("tiny-bert");
  }
  c.run();
  // g0 stays; tiny-bert moves from the replacement to n0:2 beside a second tiny-gpt replica
  auto a = c.post(R"({"groups": [{"name": "g0", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                  {"name": "w", "devices": ["n0:2"], "models": ["tiny-bert", "tiny-gpt"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  auto running = c.placement().migration_json;
  CHECK(running.find("\"dropped\":[\"g1\"]") != std::string::npos);
  CHECK(c.serve_through_migration() < 400);
  auto st = c.placement();
  INFO(st.last_json);
  CHECK(st.generation == 1);
  CHECK(st.last_json.find("\"state\":\"done\"") != std::string::npos);
  auto served = groups_of(c.list(), "tiny-bert");
  CHECK(served.count("w") == 1);
  CHECK(served.count(r) == 0); // the replacement left
  CHECK(served.count("g1") == 0);
  // n1 rejoins: g1 was dropped by the migration and stays gone (nothing is built on n1)
  const auto stages = c.backends->size();
  c.join("n1");
  c.pump_all();
  CHECK(c.backends->size() == stages);
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"w"});
  CHECK(groups_of(c.list(), "tiny-gpt") == std::set<std::string>{"g0", "w"});
  c.send("tiny-bert");
  c.pump_all();
  // and its device is free for the next placement
  REQUIRE(c.post(R"({"groups": [{"name": "g0", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                 {"name": "w", "devices": ["n0:2"], "models": ["tiny-bert", "tiny-gpt"]},
                                 {"name": "v", "devices": ["n1:0"], "models": ["tiny-bert"]}]})")
            .outcome == placement_outcome::accepted);
  CHECK(c.serve_through_migration() < 400);
  CHECK(c.placement().generation == 2);
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"v", "w"});
  c.collect();
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::failed] == 0);
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
  for (auto& reason : c.reject_reasons)
    UNSCOPED_INFO("rejected: " << reason);
  CHECK(c.by_status[request_status::ok] + c.by_status[request_status::rejected] == static_cast<int>(c.sent.size()));
}

TEST_CASE("a node lost during a migration that keeps a group there lets it complete while the lost replica is re-placed") {
  two_node_rig c{"n1:0", "n0:0"};
  for (int i = 0; i < 3; ++i)
    c.send("tiny-bert");
  c.run();
  // g0 is kept; z is built on the free n0:1, y waits for n0:0, which g1 frees once z serves tiny-bert
  auto a = c.post(R"({"groups": [{"name": "g0", "devices": ["n1:0"], "models": ["tiny-gpt"]},
                                  {"name": "y", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                  {"name": "z", "devices": ["n0:1"], "models": ["tiny-bert"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  c.kill("n1"); // the kept g0 is lost: the node-loss path re-places tiny-gpt, on n0:2 (n0:0 is y's)
  CHECK(c.serve_through_migration() < 400);
  auto st = c.placement();
  INFO(st.last_json);
  CHECK(st.generation == 1);
  CHECK(st.last_json.find("\"state\":\"done\"") != std::string::npos);
  auto gpt = groups_of(c.list(), "tiny-gpt");
  CHECK(gpt.count("y") == 1);
  CHECK(gpt.count("g0") == 1); // shown as lost until n1 rejoins
  CHECK(gpt.size() == 3);      // and its replacement
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"z"});
  c.send("tiny-gpt");
  c.send("tiny-bert");
  c.pump_all();
  c.collect();
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::failed] == 0); // nothing was in flight on g0
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
  CHECK(c.by_status[request_status::ok] > 0);
}

TEST_CASE("a plan on a device that failed is refused 409 with the device's fault and one without it drops its group") {
  migration_rig c; // g0 on n0:0, g1 on n0:1, n0:2 free
  // g1's device fails on a forward: g1 goes down, a replacement loads tiny-bert on the spare n0:2
  (*c.backends)[1]->sticky = make_error("device", "cpu:1: illegal address");
  c.send("tiny-bert");
  c.run();
  REQUIRE((*c.backends)[1]->complete("forward", "illegal address"));
  c.run();
  c.pump_all();
  c.collect();
  CHECK(c.by_status[request_status::failed] == 1); // the request on the failing device
  auto on_failed = c.post(R"({"groups": [{"devices": ["n0:0"], "models": ["tiny-gpt"]},
                                          {"devices": ["n0:1"], "models": ["tiny-bert"]}]})");
  CHECK(on_failed.outcome == placement_outcome::conflict);
  CHECK_THAT(on_failed.reason, Catch::Contains("needs device n0:1, which failed (") &&
                                 Catch::Contains("illegal address") && Catch::EndsWith("plan without it, or wait until its node rejoins"));
  auto without = c.post(R"({"groups": [{"devices": ["n0:0"], "models": ["tiny-gpt", "tiny-bert"]},
                                        {"devices": ["n0:2"], "models": ["tiny-bert"]}]})");
  REQUIRE(without.outcome == placement_outcome::accepted);
  CHECK(c.placement().migration_json.find("\"dropped\":[\"g1\"]") != std::string::npos);
  CHECK(c.serve_through_migration() < 400);
  CHECK(c.placement().generation == 1);
  CHECK(groups_of(c.list(), "tiny-bert").count("g1") == 0);
  c.send("tiny-bert");
  c.pump_all();
  c.collect();
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::failed] == 1);
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
}

TEST_CASE("a node that rejoins while a migration keeps its group there gets the group restored, the replacement "
          "retires, the migration completes and every request is answered once") {
  two_node_rig c{"n1:0", "n0:0"}; // g0: tiny-gpt on n1:0, g1: tiny-bert on n0:0
  for (int i = 0; i < 3; ++i)
    c.send("tiny-bert");
  c.run();
  // g0 is kept; z is built on the free n0:1, y waits for n0:0, which g1 frees once z serves tiny-bert
  auto a = c.post(R"({"groups": [{"name": "g0", "devices": ["n1:0"], "models": ["tiny-gpt"]},
                                  {"name": "y", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                  {"name": "z", "devices": ["n0:1"], "models": ["tiny-bert"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  c.kill("n1"); // the kept g0 is lost: the node-loss path re-places tiny-gpt on n0:2
  c.pump(2);
  c.join("n1"); // back while the migration still runs: g0 is restored on n1:0
  REQUIRE_FALSE(c.placement().migration_json.empty());
  CHECK(c.serve_through_migration() < 400);
  auto st = c.placement();
  INFO(st.last_json << "\n" << st.groups_json);
  CHECK(st.generation == 1);
  CHECK_THAT(st.last_json, Catch::Contains("\"state\":\"done\""));
  // the placement is the plan: g0 (restored), y and z serve; the replacement for g0 retired
  CHECK(groups_of(c.list(), "tiny-gpt") == std::set<std::string>{"g0", "y"});
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"z"});
  for (const auto& g : {"g0", "y", "z"})
    CHECK_THAT(st.groups_json, Catch::Contains("{\"name\":\"" + std::string{g} + "\""));
  CHECK_THAT(st.groups_json, !Catch::Contains("\"down\"") && !Catch::Contains("\"replacement\"") &&
                               !Catch::Contains("\"loading\"") && !Catch::Contains("g1"));
  CHECK(c.metrics().replacements == 1);
  // new requests are served by the groups GET shows
  c.collect();
  const auto ok_before = c.by_status[request_status::ok];
  c.send("tiny-gpt");
  c.send("tiny-gpt");
  c.send("tiny-bert");
  c.pump_all();
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::ok] == ok_before + 3);
  CHECK(c.by_status[request_status::failed] == 0); // nothing was in flight on g0 when n1 was lost
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
}

TEST_CASE("a node that rejoins while a migration leaves its group there does not get that group back") {
  two_node_rig c{"n0:0", "n1:0"}; // g0: tiny-gpt on n0:0, g1: tiny-bert on n1:0
  for (int i = 0; i < 3; ++i) {
    c.send("tiny-gpt");
    c.send("tiny-bert");
  }
  c.pump_all();
  // g0 is kept, tiny-bert moves from g1 (n1:0) to c (n0:2)
  auto a = c.post(R"({"groups": [{"name": "g0", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                  {"name": "c", "devices": ["n0:2"], "models": ["tiny-bert"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  c.kill("n1"); // g1, which leaves, is lost with it
  c.join("n1"); // and its node is back before c serves
  REQUIRE_FALSE(c.placement().migration_json.empty());
  CHECK(c.serve_through_migration() < 400);
  auto st = c.placement();
  INFO(st.last_json << "\n" << st.groups_json);
  CHECK(st.generation == 1);
  CHECK_THAT(st.last_json, Catch::Contains("\"state\":\"done\""));
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"c"});
  CHECK(groups_of(c.list(), "tiny-gpt") == std::set<std::string>{"g0"});
  CHECK_THAT(st.groups_json, !Catch::Contains("g1") && !Catch::Contains("n1:0"));
  // n1:0 is free: a plan may use it
  REQUIRE(c.post(R"({"groups": [{"name": "g0", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                 {"name": "c", "devices": ["n0:2"], "models": ["tiny-bert"]},
                                 {"name": "d", "devices": ["n1:0"], "models": ["tiny-bert"]}]})")
            .outcome == placement_outcome::accepted);
  CHECK(c.serve_through_migration() < 400);
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"c", "d"});
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
  CHECK(c.by_status[request_status::failed] == 0); // nothing was in flight on g1 when n1 was lost
}

TEST_CASE("a node that rejoins while a migration that dropped its lost group runs gets nothing built and its device "
          "is free afterwards") {
  two_node_rig c{"n0:0", "n1:0"}; // g0: tiny-gpt on n0:0, g1: tiny-bert on n1:0
  c.kill("n1");                   // g1 is lost; a replacement serves tiny-bert on n0
  c.pump_all();
  for (int i = 0; i < 3; ++i) {
    c.send("tiny-gpt");
    c.send("tiny-bert");
  }
  c.run();
  auto a = c.post(R"({"groups": [{"name": "g0", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                  {"name": "w", "devices": ["n0:2"], "models": ["tiny-bert", "tiny-gpt"]}]})");
  REQUIRE(a.outcome == placement_outcome::accepted);
  CHECK_THAT(c.placement().migration_json, Catch::Contains("\"dropped\":[\"g1\"]"));
  const auto stages = c.backends->size();
  c.join("n1"); // back while the migration runs
  REQUIRE_FALSE(c.placement().migration_json.empty());
  CHECK(c.serve_through_migration() < 400);
  auto st = c.placement();
  INFO(st.last_json << "\n" << st.groups_json);
  CHECK(st.generation == 1);
  CHECK_THAT(st.last_json, Catch::Contains("\"state\":\"done\""));
  CHECK(c.backends->size() == stages); // nothing was built after the join (w started at the POST, on n0:2)
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"w"});
  CHECK(groups_of(c.list(), "tiny-gpt") == std::set<std::string>{"g0", "w"});
  CHECK_THAT(st.groups_json, !Catch::Contains("n1:0") && !Catch::Contains("\"replacement\""));
  REQUIRE(c.post(R"({"groups": [{"name": "g0", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                 {"name": "w", "devices": ["n0:2"], "models": ["tiny-bert", "tiny-gpt"]},
                                 {"name": "v", "devices": ["n1:0"], "models": ["tiny-bert"]}]})")
            .outcome == placement_outcome::accepted);
  CHECK(c.serve_through_migration() < 400);
  CHECK(c.placement().generation == 2);
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"v", "w"});
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::failed] == 0);
  CHECK(c.by_status[request_status::deadline_exceeded] == 0);
}

TEST_CASE("a failed migration hands a group it left on a lost node back: its model is re-placed and it is restored "
          "on rejoin") {
  two_node_rig c{"n0:0", "n1:0"}; // g0: tiny-gpt on n0:0, g1: tiny-bert on n1:0
  // g0 is kept, tiny-bert moves from g1 (n1:0) to c (n0:2)
  REQUIRE(c.post(R"({"groups": [{"name": "g0", "devices": ["n0:0"], "models": ["tiny-gpt"]},
                                 {"name": "c", "devices": ["n0:2"], "models": ["tiny-bert"]}]})")
            .outcome == placement_outcome::accepted);
  REQUIRE(c.backends->size() == 3); // g0, g1, and c loading
  c.kill("n1");                     // g1, which leaves, is lost: the migration goes on
  REQUIRE_FALSE(c.placement().migration_json.empty());
  (*c.backends)[2]->sticky = make_error("device", "cpu:2: illegal address"); // and c's device fails
  REQUIRE((*c.backends)[2]->complete("load", "illegal address"));
  c.pump_all();
  auto st = c.placement();
  INFO(st.last_json << "\n" << st.groups_json);
  CHECK(st.migration_json.empty());
  CHECK_THAT(st.last_json, Catch::Contains("\"state\":\"failed\"") && Catch::Contains("group c could not be built"));
  // tiny-bert lost its last replica with g1: the node-loss path re-places it on n0
  auto bert = groups_of(c.list(), "tiny-bert");
  CHECK(bert.count("g1") == 1); // shown as lost
  bert.erase("g1");
  REQUIRE(bert.size() == 1);
  const auto r = *bert.begin();
  CHECK(r != "c");
  CHECK_THAT(st.groups_json, Catch::Contains("\"state\":\"replacement\""));
  c.send("tiny-bert");
  c.pump_all();
  c.collect();
  CHECK(c.by_status[request_status::ok] == 1);
  // n1 rejoins: g1 is restored and the replacement retires
  c.join("n1");
  c.pump_all();
  CHECK(groups_of(c.list(), "tiny-bert") == std::set<std::string>{"g1"});
  CHECK(groups_of(c.list(), "tiny-gpt") == std::set<std::string>{"g0"});
  c.send("tiny-bert");
  c.send("tiny-gpt");
  c.pump_all();
  c.check_each_answered_once();
  CHECK(c.by_status[request_status::ok] == 3);
}
