// Every payload that may cross a node survives CAF's binary serialization (what BASP uses).
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>

#include "messages/interfaces.hpp"
#include "messages/type_ids.hpp"

using namespace sy;
using namespace sy::messages;

namespace {

struct cfg_with_types : caf::actor_system_config {
  cfg_with_types() {
    set("logger.console-verbosity", caf::atom("quiet"));
    messages::add_message_types(*this);
  }
};

template <class T>
T round_trip(caf::actor_system& sys, T x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE(!sink(x));
  T y{};
  caf::binary_deserializer source{sys, buf};
  REQUIRE(!source(y));
  return y;
}

} // namespace

TEST_CASE("an infer request with and without an SLO survives serialization") {
  cfg_with_types cfg;
  caf::actor_system sys{cfg};
  infer_request r{request_id{42}, "tiny-gpt", {1, 2, 3}, std::chrono::microseconds{2500}};
  auto y = round_trip(sys, r);
  CHECK(y.id == r.id);
  CHECK(y.model == "tiny-gpt");
  CHECK(y.tokens == r.tokens);
  REQUIRE(y.slo);
  CHECK(y.slo->count() == 2500);
  r.slo.reset();
  CHECK_FALSE(round_trip(sys, r).slo);
}

TEST_CASE("an infer response keeps its tensor bytes, dtype, shape and timings") {
  cfg_with_types cfg;
  caf::actor_system sys{cfg};
  std::vector<float> v = {1.5f, -2.0f, 3.25f};
  infer_response r;
  r.id = request_id{7};
  r.status = request_status::deadline_exceeded;
  r.reason = "late";
  r.output = tensor::from_f32(v.data(), {3});
  r.timings.arrival = time_point{std::chrono::milliseconds{5}};
  r.timings.finish = time_point{std::chrono::milliseconds{9}};
  r.timings.group = "g1";
  r.timings.batch_size = 4;
  r.timings.load_wait = std::chrono::milliseconds{2};
  auto y = round_trip(sys, r);
  CHECK(y.status == request_status::deadline_exceeded);
  CHECK(y.reason == "late");
  CHECK(y.output.consistent());
  CHECK(y.output.shape == std::vector<std::int64_t>{3});
  CHECK(y.output.to_f32() == v);
  CHECK(y.timings.finish - y.timings.arrival == std::chrono::milliseconds{4});
  CHECK(y.timings.group == "g1");
  CHECK(y.timings.batch_size == 4);
  CHECK(y.timings.load_wait == std::chrono::milliseconds{2});
}

TEST_CASE("metrics snapshots, health reports and pipeline entries survive serialization") {
  cfg_with_types cfg;
  caf::actor_system sys{cfg};
  metrics_snapshot m;
  m.requests["a"].ok = 3;
  m.latency["a"] = latency_histogram{{0.1, 1.0}, {1, 2, 3}, 0.7, 3};
  m.swaps["n0/0"] = swap_stats{2, 1, 1000, 0.5, 500, 4000};
  m.rejected_by_reason["cannot meet SLO"] = 9;
  m.resident["g"] = {"a"};
  auto y = round_trip(sys, m);
  CHECK(y.requests["a"].ok == 3);
  CHECK(y.latency["a"].counts == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(y.swaps["n0/0"].bytes == 1000);
  CHECK(y.rejected_by_reason["cannot meet SLO"] == 9);
  health_report h{true, false, 2, 2, 3, 8, 5, {"node x down"}, {"node x (lost)"}};
  CHECK(round_trip(sys, h).missing == std::vector<std::string>{"node x (lost)"});
  CHECK(round_trip(sys, h).problems == std::vector<std::string>{"node x down"});
  batch_entry b;
  b.batch_id = 11;
  b.model = "m";
  b.batch = 2;
  b.seq = 1;
  b.ids = {request_id{1}, request_id{2}};
  auto bb = round_trip(sys, b);
  CHECK(bb.batch_id == 11);
  CHECK(bb.ids.size() == 2);
  stage_event e{stage_event_kind::load_failed, 2, 5, "m", 0, std::chrono::milliseconds{3}, "memory"};
  auto ee = round_trip(sys, e);
  CHECK(ee.kind == stage_event_kind::load_failed);
  CHECK(ee.error == "memory");
}
