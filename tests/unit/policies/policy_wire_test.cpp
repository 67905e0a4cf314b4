#include <catch2/catch.hpp>

#include "policies/isolation/policy_wire.hpp"
#include "policies/runtime_registry.hpp"

using namespace sy::policies;
using namespace std::chrono_literals;

namespace {

/// What the host does with a request: decode, build the named built-in, run it on the view.
std::string host_side(const std::string& request) {
  auto req = isolation::decode_request(request);
  REQUIRE(req.ok());
  runtime_policy p;
  if (req->kind == "admission")
    p.fn = *make_admission(req->name, req->params);
  else if (req->kind == "dispatch")
    p.fn = *make_dispatch(req->name, req->params);
  else if (req->kind == "batching")
    p.fn = *make_batching(req->name, req->params);
  else
    p.fn = *make_eviction(req->name, req->params);
  auto reply = isolation::run_encoded(p, req->view);
  REQUIRE(reply.ok());
  return *reply;
}

} // namespace

TEST_CASE("an isolated dispatch decision over the wire equals the in-process decision") {
  std::vector<dispatch_candidate> cs = {{3, 5ms, 0ms, 2}, {7, 1ms, 0ms, 9}, {9, 1ms, 2ms, 0}};
  auto req = isolation::encode_request("dispatch", "earliest-free", {}, cs);
  auto d = isolation::decode_dispatch(host_side(req));
  REQUIRE(d.ok());
  CHECK(*d == (*make_dispatch("earliest-free"))(cs));
  CHECK(*d == 7);
}

TEST_CASE("an isolated batching decision carries its parameters and nanosecond views exactly") {
  batching_view v;
  v.time_left = {100ms, 3ns, 50ms, -1ms};
  v.latency = {10ms, 10ms, 10ms, 10ms};
  policy_numbers params{{"max_batch", 2}};
  auto req = isolation::encode_request("batching", "greedy", params, v);
  auto d = isolation::decode_batching(host_side(req));
  REQUIRE(d.ok());
  auto local = (*make_batching("greedy", params))(v);
  CHECK(d->take == local.take);
  CHECK(d->expired == local.expired);
}

TEST_CASE("isolated admission and eviction decisions survive the wire") {
  admission_view a{10ms, 20ms, 0ns, 5ms};
  auto ad = isolation::decode_admission(host_side(isolation::encode_request("admission", "slo", {}, a)));
  REQUIRE(ad.ok());
  auto local = (*make_admission("slo"))(a);
  CHECK(ad->accept == local.accept);
  CHECK(ad->reason == local.reason);

  eviction_view e;
  e.needed_bytes = 100;
  e.free_bytes = 10;
  e.resident = {{"a", 60, 1, 0, false, 0.5, 0, 0}, {"b", 60, 2, 0, false, 0.1, 0, 0}, {"c", 60, 0, 3, false, 9, 0, 0}};
  auto ed = isolation::decode_eviction(host_side(isolation::encode_request("eviction", "lru", {}, e)));
  REQUIRE(ed.ok());
  auto le = (*make_eviction("lru"))(e);
  CHECK(ed->possible == le.possible);
  CHECK(ed->victims == le.victims);
}

TEST_CASE("malformed isolated replies and requests are errors that say what was expected") {
  auto d = isolation::decode_dispatch("{\"take\": 1}");
  REQUIRE_FALSE(d.ok());
  CHECK(d.err().message == "expected a group index, found object");
  auto b = isolation::decode_batching("{\"take\": -1, \"expired\": []}");
  REQUIRE_FALSE(b.ok());
  auto r = isolation::decode_request("{\"kind\": \"dispatch\", \"name\": 5, \"params\": {}, \"view\": []}");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().message == "expected a string name, found number");
  runtime_policy p{*make_dispatch("earliest-free")};
  auto bad_view = isolation::run_encoded(p, "[[1, 2]]");
  REQUIRE_FALSE(bad_view.ok());
  CHECK(bad_view.err().category == "policy-wire");
}
