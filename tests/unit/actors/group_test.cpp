#include <catch2/catch.hpp>

#include <set>

#include "actor_fixture.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;
using sy::test::manual_backend;

namespace {

struct group_rig : test::fixture {
  std::vector<std::shared_ptr<manual_backend>> backends;
  model_group_actor group;

  group_rig(int stages, std::int64_t budget, std::map<std::string, std::int64_t> models,
            const std::string& batching = "none", std::vector<std::string> preload = {}) {
    actors::model_group_init init;
    init.name = "g0";
    init.stages = stages;
    init.budget_bytes = budget;
    init.models = models;
    init.batching = *policies::make_batching(batching, {{"max_batch", 4}});
    init.eviction = *policies::make_eviction("lru");
    init.preload = std::move(preload);
    group = actors::spawn_model_group(sys, std::move(init));
    std::vector<stage_actor> st;
    for (int s = 0; s < stages; ++s) {
      backends.push_back(std::make_shared<manual_backend>(s, 100));
      st.push_back(actors::spawn_stage(sys, s, backends.back(), {}));
    }
    self->send(group, attach_atom_v, st);
    run();
  }
  ~group_rig() {
    caf::anon_send(group, stop_atom_v);
    // the stages quit once their device work completed (or after their stop's grace period)
    pump_all();
    sched.trigger_timeouts();
    run();
  }

  /// Completes device work in FIFO order until nothing is left to do.
  void pump_all() {
    for (;;) {
      run();
      bool any = false;
      for (auto& b : backends)
        while (b->complete())
          any = true;
      if (!any)
        break;
    }
  }

  request_actor submit(std::uint64_t id, const std::string& model, std::int32_t token,
                       std::chrono::milliseconds deadline) {
    actors::request_init init;
    init.model = model;
    init.arrival = now();
    init.dispatch = now();
    init.deadline = now() + deadline;
    init.group_name = "g0";
    init.group = group;
    auto r = actors::spawn_request(sys, std::move(init));
    self->send(r, infer_atom_v, infer_request{request_id{id}, model, {token}, std::nullopt});
    return r;
  }

  template <class T>
  std::vector<T> collect() {
    std::vector<T> out;
    bool more = true;
    while (more)
      self->receive([&](T& x) { out.push_back(std::move(x)); }, caf::after(0s) >> [&] { more = false; });
    return out;
  }
};

} // namespace

TEST_CASE("a request whose deadline passes gets deadline_exceeded exactly once, even if its batch finishes") {
  group_rig g{1, 1000, {{"m", 100}}};
  g.submit(1, "m", 5, 50ms);
  g.run();
  REQUIRE(g.backends[0]->pending("load") == 1); // not resident: the request triggered a load
  g.sched.advance_time(60ms);
  g.run();
  auto first = g.collect<infer_response>();
  REQUIRE(first.size() == 1);
  CHECK(first[0].status == request_status::deadline_exceeded);
  CHECK(first[0].id == request_id{1});
  g.pump_all(); // the load and the (already sent) batch complete afterwards
  CHECK(g.collect<infer_response>().empty());
  // the group is not stuck: the next request is served
  g.submit(2, "m", 6, 50ms);
  g.pump_all();
  auto second = g.collect<infer_response>();
  REQUIRE(second.size() == 1);
  CHECK(second[0].status == request_status::ok);
  CHECK(second[0].output.to_f32() == std::vector<float>{61.0f});
  CHECK(second[0].timings.group == "g0");
}

TEST_CASE("a request for a model that is not resident loads it and its batch waits behind the load") {
  group_rig g{2, 1000, {{"m", 100}}};
  g.submit(1, "m", 4, 1000ms);
  g.run();
  CHECK(g.backends[0]->pending("load") == 1);
  CHECK(g.backends[1]->pending("load") == 1);
  // the batch went right behind the load entry, onto stage 0's device, where it waits for the copy
  CHECK(g.backends[0]->pending("forward") == 1);
  CHECK_FALSE(g.backends[0]->complete("forward"));
  g.sched.advance_time(5ms);
  g.pump_all();
  auto r = g.collect<infer_response>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == request_status::ok);
  CHECK(r[0].output.to_f32() == std::vector<float>{412.0f});
  CHECK(r[0].timings.load_wait.count() == std::chrono::nanoseconds{5ms}.count());
}

TEST_CASE("two concurrent loads of one model load it once and both complete") {
  group_rig g{2, 1000, {{"m", 100}}};
  g.self->send(g.group, load_atom_v, std::string{"m"});
  g.self->send(g.group, load_atom_v, std::string{"m"});
  g.run();
  CHECK(g.backends[0]->pending("load") == 1);
  CHECK(g.collect<ack>().empty()); // not before the copies completed
  g.pump_all();
  auto acks = g.collect<ack>();
  REQUIRE(acks.size() == 2);
  CHECK(acks[0].ok);
  CHECK(acks[1].ok);
  CHECK(g.backends[0]->completed["load"] == 1);
  CHECK(g.backends[1]->completed["load"] == 1);
}

TEST_CASE("unloading a model in use completes only after its in-flight request") {
  group_rig g{1, 1000, {{"m", 100}}, "none", {"m"}};
  g.pump_all(); // preload
  g.submit(1, "m", 2, 1000ms);
  g.run();
  REQUIRE(g.backends[0]->pending("forward") == 1);
  g.self->send(g.group, unload_atom_v, std::string{"m"});
  g.run();
  CHECK(g.backends[0]->pending("evict") == 0);
  CHECK(g.collect<ack>().empty());
  REQUIRE(g.backends[0]->complete("forward"));
  g.run();
  REQUIRE(g.backends[0]->pending("evict") == 1);
  REQUIRE(g.backends[0]->complete("evict"));
  g.run();
  auto acks = g.collect<ack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].ok);
  auto r = g.collect<infer_response>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == request_status::ok);
}

TEST_CASE("every request of a burst over two swapping models is answered exactly once") {
  // budget for one model at a time: serving both means swapping
  group_rig g{2, 150, {{"a", 100}, {"b", 100}}, "greedy"};
  const int n = 40;
  for (int i = 0; i < n; ++i)
    g.submit(static_cast<std::uint64_t>(i), i % 2 ? "a" : "b", i, i % 5 == 0 ? 3ms : 1000ms);
  for (int step = 0; step < 10; ++step) {
    g.run();
    for (auto& b : g.backends)
      b->complete(); // one op per stage per millisecond
    g.sched.advance_time(1ms);
  }
  g.pump_all();
  auto rs = g.collect<infer_response>();
  REQUIRE(rs.size() == static_cast<std::size_t>(n));
  std::set<std::uint64_t> ids;
  std::map<request_status, int> by_status;
  for (auto& r : rs) {
    ids.insert(r.id.value);
    ++by_status[r.status];
    if (r.status != request_status::ok && r.status != request_status::deadline_exceeded)
      WARN(to_string(r.status) << ": " << r.reason);
    if (r.status == request_status::ok)
      CHECK(r.output.to_f32() == std::vector<float>{static_cast<float>(r.id.value) * 100 + 12});
  }
  CHECK(ids.size() == static_cast<std::size_t>(n));
  CHECK(by_status[request_status::ok] > 0);
  CHECK(by_status[request_status::deadline_exceeded] > 0);
  CHECK(by_status[request_status::ok] + by_status[request_status::deadline_exceeded] == n);
  CHECK(g.backends[0]->completed["evict"] >= 1); // the models swapped
}

TEST_CASE("an unload completes even when a new request reloads the model before the eviction finished") {
  group_rig g{1, 1000, {{"m", 100}}, "none", {"m"}};
  g.pump_all();
  g.self->send(g.group, unload_atom_v, std::string{"m"});
  g.run();
  REQUIRE(g.backends[0]->pending("evict") == 1);
  g.submit(1, "m", 3, 1000ms); // arrives while the shard is being freed
  g.run();
  g.pump_all();
  auto acks = g.collect<ack>();
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].ok);
  auto r = g.collect<infer_response>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == request_status::ok);
  CHECK(g.backends[0]->completed["load"] == 2);
}

TEST_CASE("an unload whose eviction fails on a stage answers the reason and a later request loads only where it was freed") {
  group_rig g{2, 150, {{"a", 100}, {"b", 100}}};
  g.self->send(g.group, load_atom_v, std::string{"a"});
  g.pump_all();
  REQUIRE(g.collect<ack>().size() == 1);
  g.self->send(g.group, unload_atom_v, std::string{"a"});
  g.run();
  REQUIRE(g.backends[0]->complete("evict"));
  g.run();
  REQUIRE(g.backends[1]->complete("evict", "free_after: injected device fault"));
  g.run();
  auto acks = g.collect<ack>();
  REQUIRE(acks.size() == 1);
  CHECK_FALSE(acks[0].ok);
  CHECK(acks[0].reason.find("eviction failed") != std::string::npos);
  // the view follows the stages: stage 0 freed its shard (a request loads it again there), stage 1 still
  // holds it (it acknowledges the load without a copy)
  g.submit(1, "a", 3, 1000ms);
  g.run();
  CHECK(g.backends[0]->pending("load") == 1);
  CHECK(g.backends[1]->pending("load") == 0);
  g.pump_all();
  auto r = g.collect<infer_response>();
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == request_status::ok);
}

TEST_CASE("a device that turns unhealthy fails the group's queued requests and the group refuses new ones") {
  group_rig g{1, 1000, {{"m", 100}}};
  g.submit(1, "m", 5, 1000ms);
  g.run();
  REQUIRE(g.backends[0]->pending("load") == 1);
  g.submit(2, "m", 6, 1000ms); // queued behind the first batch? no: both may be in flight; fail the load
  g.run();
  g.backends[0]->sticky = make_error("device", "cpu:0: illegal address");
  REQUIRE(g.backends[0]->complete("load", "illegal address"));
  g.pump_all();
  auto r = g.collect<infer_response>();
  REQUIRE(r.size() == 2);
  for (auto& x : r)
    CHECK(x.status == request_status::failed);
  g.submit(3, "m", 7, 1000ms);
  g.run();
  auto later = g.collect<infer_response>();
  REQUIRE(later.size() == 1);
  CHECK(later[0].status == request_status::failed);
  CHECK(later[0].reason.find("unhealthy") != std::string::npos);
  CHECK(g.backends[0]->pending("load") == 0);
}
