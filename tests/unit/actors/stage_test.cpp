#include <catch2/catch.hpp>

#include <cstring>

#include "actor_fixture.hpp"

using namespace sy;
using namespace sy::messages;
using sy::test::manual_backend;

namespace {

struct pipeline3 : test::fixture {
  std::vector<std::shared_ptr<manual_backend>> backends;
  std::vector<stage_actor> stages;
  std::shared_ptr<test::inbox> group_box = std::make_shared<test::inbox>();
  std::shared_ptr<test::inbox> req_box = std::make_shared<test::inbox>();
  request_actor requester;

  gpu_actor gpu;

  explicit pipeline3(int n = 3, bool with_gpu = false) {
    std::vector<gpu_actor> gpus;
    if (with_gpu) {
      gpu = actors::spawn_gpu(sys, "n0/0", 1000);
      gpus.push_back(gpu);
    }
    auto group = test::spawn_group_probe(sys, group_box);
    requester = test::spawn_request_probe(sys, req_box);
    for (int s = 0; s < n; ++s) {
      backends.push_back(std::make_shared<manual_backend>(s, 100));
      stages.push_back(actors::spawn_stage(sys, s, backends.back(), gpus));
    }
    for (int s = 0; s < n; ++s)
      self->send(stages[s], attach_atom_v, s + 1 < n ? stage_input_actor{stages[s + 1]} : stage_input_actor{},
                 group);
    run();
  }
  ~pipeline3() {
    for (auto& s : stages)
      caf::anon_send(s, stop_atom_v);
    run();
    // stages whose device work the test left pending quit after their stop's grace period
    sched.trigger_timeouts();
    run();
  }
};

float value(const tensor& t) {
  auto v = t.to_f32();
  return v.empty() ? -1 : v[0];
}

} // namespace

TEST_CASE("a load entry and a batch behind it flow through a 3-stage pipeline and answer every request") {
  pipeline3 p;
  p.self->send(p.stages[0], load_entry{1, "m"});
  p.self->send(p.stages[0], test::make_batch(7, "m", {7, 8}, {p.requester, p.requester}));
  p.run();
  // every stage copies its shard; the batch is on stage 0's device already, behind the load
  for (auto& b : p.backends)
    CHECK(b->pending("load") == 1);
  REQUIRE(p.backends[0]->pending("forward") == 1);
  CHECK_FALSE(p.backends[0]->complete("forward")); // the device runs it only after the copy
  REQUIRE(p.backends[0]->complete("load"));
  REQUIRE(p.backends[0]->complete("forward"));
  p.run();
  // stage 1 has not finished its load: the activations went to its device, behind its copy
  REQUIRE(p.backends[1]->pending("forward") == 1);
  CHECK_FALSE(p.backends[1]->complete("forward"));
  REQUIRE(p.backends[1]->complete("load"));
  REQUIRE(p.backends[2]->complete("load"));
  p.run();
  REQUIRE(p.backends[1]->complete("forward"));
  p.run();
  REQUIRE(p.backends[2]->complete("forward"));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 2);
  CHECK(p.req_box->outcomes[0].status == request_status::ok);
  CHECK(value(p.req_box->outcomes[0].output) == 7123.0f);
  CHECK(value(p.req_box->outcomes[1].output) == 8123.0f);
  CHECK(p.req_box->outcomes[0].batch_size == 2);
  CHECK(p.group_box->count(stage_event_kind::load_done) == 3);
  CHECK(p.group_box->count(stage_event_kind::batch_done) == 1);
}

TEST_CASE("a batch of a model that was never loaded fails with a reason instead of hanging") {
  pipeline3 p{2};
  p.self->send(p.stages[0], test::make_batch(1, "ghost", {1}, {p.requester}));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 1);
  CHECK(p.req_box->outcomes[0].status == request_status::failed);
  CHECK(p.req_box->outcomes[0].reason.find("not resident") != std::string::npos);
  CHECK(p.group_box->count(stage_event_kind::batch_failed) == 1);
}

TEST_CASE("an eviction waits for the model's in-flight batch and the gpu actor sees load and eviction") {
  pipeline3 p{1, true};
  p.self->send(p.stages[0], load_entry{1, "m"});
  p.run();
  REQUIRE(p.backends[0]->complete("load"));
  p.run();
  p.self->send(p.stages[0], test::make_batch(2, "m", {3}, {p.requester}));
  p.self->send(p.stages[0], evict_entry{3, "m"});
  p.run();
  CHECK(p.backends[0]->pending("forward") == 1);
  CHECK(p.backends[0]->pending("evict") == 0); // still in use
  REQUIRE(p.backends[0]->complete("forward"));
  p.run();
  CHECK(p.backends[0]->pending("evict") == 1);
  REQUIRE(p.req_box->outcomes.size() == 1);
  CHECK(p.req_box->outcomes[0].status == request_status::ok);
  REQUIRE(p.backends[0]->complete("evict"));
  p.run();
  CHECK(p.group_box->count(stage_event_kind::evict_done) == 1);
  // a load after the eviction starts only once the eviction has completed
  p.self->send(p.stages[0], evict_entry{4, "m"}); // already absent: acknowledged at once
  p.run();
  CHECK(p.group_box->count(stage_event_kind::evict_done) == 2);
  auto h = p.self->request(p.gpu, caf::infinite, status_atom_v);
  p.run();
  swap_stats stats;
  h.receive([&](swap_stats& s) { stats = s; }, [&](caf::error&) { FAIL("no gpu status"); });
  CHECK(stats.loads == 1);
  CHECK(stats.evictions == 1);
  CHECK(stats.bytes == 100);
  CHECK(stats.used_bytes == 0);
  CHECK(stats.budget_bytes == 1000);
}

TEST_CASE("a load waits for an eviction in progress on the same stage") {
  pipeline3 p{1};
  p.self->send(p.stages[0], load_entry{1, "a"});
  p.run();
  REQUIRE(p.backends[0]->complete("load"));
  p.run();
  p.self->send(p.stages[0], evict_entry{2, "a"});
  p.self->send(p.stages[0], load_entry{3, "b"});
  p.run();
  CHECK(p.backends[0]->pending("evict") == 1);
  CHECK(p.backends[0]->pending("load") == 0);
  REQUIRE(p.backends[0]->complete("evict"));
  p.run();
  CHECK(p.backends[0]->pending("load") == 1);
  CHECK(p.backends[0]->ops.front().model == "b");
}

TEST_CASE("a failed forward fails every request of the batch exactly once") {
  pipeline3 p{2};
  p.self->send(p.stages[0], load_entry{1, "m"});
  p.run();
  REQUIRE(p.backends[0]->complete("load"));
  REQUIRE(p.backends[1]->complete("load"));
  p.run();
  p.self->send(p.stages[0], test::make_batch(2, "m", {1, 2, 3}, {p.requester, p.requester, p.requester}));
  p.run();
  REQUIRE(p.backends[0]->complete("forward"));
  p.run();
  REQUIRE(p.backends[1]->complete("forward", "device lost"));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 3);
  for (auto& o : p.req_box->outcomes) {
    CHECK(o.status == request_status::failed);
    CHECK(o.reason == "device lost");
  }
  CHECK(p.group_box->count(stage_event_kind::batch_failed) == 1);
}

TEST_CASE("a load waits for an earlier eviction that still waits for the victim's in-flight batch") {
  pipeline3 p{1};
  p.self->send(p.stages[0], load_entry{1, "a"});
  p.run();
  REQUIRE(p.backends[0]->complete("load"));
  p.run();
  p.self->send(p.stages[0], test::make_batch(2, "a", {5}, {p.requester}));
  p.self->send(p.stages[0], evict_entry{3, "a"});
  p.self->send(p.stages[0], load_entry{4, "b"});
  p.run();
  CHECK(p.backends[0]->pending("load") == 0); // a's memory is not free yet
  REQUIRE(p.backends[0]->complete("forward"));
  p.run();
  REQUIRE(p.backends[0]->complete("evict"));
  p.run();
  REQUIRE(p.backends[0]->pending("load") == 1);
  CHECK(p.backends[0]->ops.front().model == "b");
  CHECK(p.req_box->outcomes.size() == 1);
}

TEST_CASE("a batch behind a load is on the device before the copy finishes and answers once the load is handled") {
  pipeline3 p{1};
  p.self->send(p.stages[0], load_entry{1, "m"});
  p.self->send(p.stages[0], test::make_batch(2, "m", {4}, {p.requester}));
  p.run();
  // submitted at once, ordered after the copy by the device
  REQUIRE(p.backends[0]->pending("load") == 1);
  REQUIRE(p.backends[0]->pending("forward") == 1);
  CHECK(p.backends[0]->ops.front().kind == "load");
  // the copy finishes on the device but its completion is late: the forward's completion comes first
  auto load = p.backends[0]->take("load");
  REQUIRE(p.backends[0]->complete("forward"));
  p.run();
  CHECK(p.req_box->outcomes.empty()); // held until the load's completion is handled
  CHECK(p.group_box->count(stage_event_kind::batch_done) == 0);
  load.done({});
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 1);
  CHECK(p.req_box->outcomes[0].status == request_status::ok);
  CHECK(value(p.req_box->outcomes[0].output) == 41.0f);
  REQUIRE(p.group_box->events.size() == 2);
  CHECK(p.group_box->events[0].kind == stage_event_kind::load_done); // the load is reported before the batch
  CHECK(p.group_box->events[1].kind == stage_event_kind::batch_done);
}

TEST_CASE("a batch queued behind a load that fails fails with the load's reason") {
  pipeline3 p{1};
  p.self->send(p.stages[0], load_entry{1, "m"});
  p.self->send(p.stages[0], test::make_batch(2, "m", {4}, {p.requester}));
  p.run();
  REQUIRE(p.backends[0]->pending("forward") == 1);
  REQUIRE(p.backends[0]->complete("load", "copy engine fault"));
  p.run();
  REQUIRE(p.backends[0]->complete("forward"));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 1);
  CHECK(p.req_box->outcomes[0].status == request_status::failed);
  CHECK(p.req_box->outcomes[0].reason == "load of m failed: copy engine fault");
  CHECK(p.group_box->count(stage_event_kind::load_failed) == 1);
}

TEST_CASE("a load that is not pipelined reaches the next stage only once this stage's copy finished") {
  pipeline3 p{2};
  p.self->send(p.stages[0], load_entry{1, "m", false});
  p.self->send(p.stages[0], test::make_batch(2, "m", {5}, {p.requester}));
  p.run();
  CHECK(p.backends[0]->pending("load") == 1);
  CHECK(p.backends[1]->pending("load") == 0); // sequential: stage 1 waits for stage 0's copy
  REQUIRE(p.backends[0]->complete("load"));
  p.run();
  CHECK(p.backends[1]->pending("load") == 1);
  REQUIRE(p.backends[0]->complete("forward"));
  p.run();
  REQUIRE(p.backends[1]->pending("forward") == 1); // behind stage 1's copy on its device
  CHECK_FALSE(p.backends[1]->complete("forward"));
  REQUIRE(p.backends[1]->complete("load"));
  REQUIRE(p.backends[1]->complete("forward"));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 1);
  CHECK(value(p.req_box->outcomes[0].output) == 512.0f);
  CHECK(p.group_box->count(stage_event_kind::load_done) == 2);
}

TEST_CASE("a stopped stage keeps the device input its queued work reads until the device finished it") {
  pipeline3 p{2};
  p.self->send(p.stages[1], load_entry{1, "m"});
  p.run();
  REQUIRE(p.backends[1]->complete("load"));
  p.run();
  // stage 1 gets an activation by handle (as from stage 0 in this process): the device reads it later
  auto b = test::make_batch(2, "m", {6}, {p.requester});
  b.input = tensor::from_f32(std::vector<float>{6.0f}.data(), {1, 1});
  auto activation = std::make_shared<int>(42);
  std::weak_ptr<int> alive = activation;
  b.input.device_data = std::move(activation);
  p.self->send(p.stages[1], std::move(b));
  p.run();
  REQUIRE(p.backends[1]->pending("forward") == 1);
  auto stopped = p.self->request(p.stages[1], caf::infinite, stop_atom_v);
  p.run();
  // the forward is still queued on the device: its input must outlive it, and the stop is not done
  CHECK_FALSE(alive.expired());
  CHECK(p.req_box->outcomes.empty());
  // a batch that arrives after the stop is refused at once
  p.self->send(p.stages[1], test::make_batch(3, "m", {7}, {p.requester}));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 1);
  CHECK(p.req_box->outcomes[0].status == request_status::failed);
  CHECK(p.req_box->outcomes[0].reason == "stage 1 stopped");
  REQUIRE(p.backends[1]->complete("forward"));
  p.run();
  // the queued work completed and was answered once; then the stage quit and released the input
  REQUIRE(p.req_box->outcomes.size() == 2);
  CHECK(p.req_box->outcomes[1].status == request_status::ok);
  bool acked = false;
  stopped.receive([&](const ack& a) { acked = a.ok; }, [&](caf::error&) {});
  CHECK(acked);
  CHECK(alive.expired());
}

TEST_CASE("a device fault fails the batch with a typed code and a sticky one makes the stage refuse later work") {
  pipeline3 p{1};
  p.self->send(p.stages[0], load_entry{1, "m"});
  p.run();
  REQUIRE(p.backends[0]->complete("load"));
  p.run();
  // transient: this batch fails, the next one runs
  p.self->send(p.stages[0], test::make_batch(2, "m", {1}, {p.requester}));
  p.run();
  REQUIRE(p.backends[0]->complete("forward", "gemm: injected device fault"));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 1);
  CHECK(p.req_box->outcomes[0].status == request_status::failed);
  CHECK(p.req_box->outcomes[0].code == error_code::device_error);
  REQUIRE(p.group_box->events.back().kind == stage_event_kind::batch_failed);
  CHECK(p.group_box->events.back().code == stage_error::device_fault);
  // sticky: the device reports it from now on
  p.backends[0]->sticky = make_error("device", "cpu:0: illegal address");
  p.self->send(p.stages[0], test::make_batch(3, "m", {2}, {p.requester}));
  p.run();
  REQUIRE(p.backends[0]->complete("forward", "illegal address"));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 2);
  CHECK(p.req_box->outcomes[1].code == error_code::device_error);
  CHECK(p.group_box->count(stage_event_kind::device_unhealthy) == 1);
  // later entries are refused at once, nothing more reaches the device
  p.self->send(p.stages[0], test::make_batch(4, "m", {3}, {p.requester}));
  p.self->send(p.stages[0], load_entry{5, "other"});
  p.run();
  CHECK(p.backends[0]->pending("forward") == 0);
  CHECK(p.backends[0]->pending("load") == 0);
  REQUIRE(p.req_box->outcomes.size() == 3);
  CHECK(p.req_box->outcomes[2].reason.find("device unhealthy") != std::string::npos);
  CHECK(p.group_box->events.back().kind == stage_event_kind::load_failed);
  CHECK(p.group_box->events.back().code == stage_error::device_unhealthy);
  CHECK(p.group_box->count(stage_event_kind::device_unhealthy) == 1);
}

TEST_CASE("a failed eviction is reported with its code and the shard stays resident on the stage") {
  pipeline3 p{1};
  p.self->send(p.stages[0], load_entry{1, "m"});
  p.run();
  REQUIRE(p.backends[0]->complete("load"));
  p.run();
  p.self->send(p.stages[0], evict_entry{2, "m"});
  p.run();
  REQUIRE(p.backends[0]->complete("evict", "free_after: injected device fault"));
  p.run();
  REQUIRE(p.group_box->events.back().kind == stage_event_kind::evict_done);
  CHECK(p.group_box->events.back().code == stage_error::device_fault);
  // still resident: a batch runs without a new load
  p.self->send(p.stages[0], test::make_batch(3, "m", {4}, {p.requester}));
  p.run();
  REQUIRE(p.backends[0]->complete("forward"));
  p.run();
  REQUIRE(p.req_box->outcomes.size() == 1);
  CHECK(p.req_box->outcomes[0].status == request_status::ok);
}
