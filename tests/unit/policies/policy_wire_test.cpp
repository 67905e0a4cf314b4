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

TEST_CASE("an isolated re-placement decision over the wire equals the in-process decision, for both questions") {
  replacement_view v;
  v.since_replan_s = 31.5;
  v.window_s = 30;
  v.observed_rps = {{"m0", 40.25}, {"m1", 0.125}, {"a model with spaces", 3}};
  v.assumed_rps = {{"m0", 10}, {"m1", 2}};
  policy_numbers params{{"threshold", 0.5}, {"min_interval_s", 10}, {"margin", 0.02}};
  for (bool candidate : {false, true}) {
    v.has_candidate = candidate;
    v.served_score = 0.71;
    v.candidate_score = 0.9375;
    auto req = isolation::encode_request("replacement", "drift", params, v);
    auto decoded = isolation::decode_request(req);
    REQUIRE(decoded.ok());
    CHECK(decoded->kind == "replacement");
    CHECK(decoded->params == params);
    auto view = isolation::decode_replacement_view(decoded->view);
    REQUIRE(view.ok());
    CHECK(view->since_replan_s == v.since_replan_s);
    CHECK(view->window_s == v.window_s);
    CHECK(view->observed_rps == v.observed_rps);
    CHECK(view->assumed_rps == v.assumed_rps);
    CHECK(view->has_candidate == candidate);
    CHECK(view->served_score == v.served_score);
    CHECK(view->candidate_score == v.candidate_score);
    auto local = (*make_replacement("drift", params))(v);
    auto reply = isolation::run_encoded(*make_replacement("drift", params), decoded->view);
    REQUIRE(reply.ok());
    auto d = isolation::decode_replacement(*reply);
    REQUIRE(d.ok());
    CHECK(d->act == local.act);
    CHECK(d->reason == local.reason);
    CHECK(d->act); // m0 drifted (first question); the candidate beats the served placement (second)
  }
}

TEST_CASE("malformed isolated re-placement replies and views are errors that name the field") {
  auto non_bool = isolation::decode_replacement("{\"act\": 1, \"reason\": \"x\"}");
  REQUIRE_FALSE(non_bool.ok());
  CHECK(non_bool.err().category == "policy-wire");
  CHECK(non_bool.err().message == "expected a bool act in the replacement decision, found number");
  auto no_reason = isolation::decode_replacement("{\"act\": true}");
  REQUIRE_FALSE(no_reason.ok());
  CHECK(no_reason.err().message == "expected a string reason in the replacement decision, found nothing");
  auto garbage = isolation::decode_replacement("segmentation fault");
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.err().category == "policy-wire");
  auto list = isolation::decode_replacement("[true, \"x\"]");
  REQUIRE_FALSE(list.ok());
  CHECK(list.err().message == "expected a replacement decision {act, reason}, found array");

  replacement_view v;
  v.observed_rps = {{"m0", 1}};
  auto good = isolation::decode_request(isolation::encode_request("replacement", "windowed", {}, v));
  REQUIRE(good.ok());
  auto swap = [&](const std::string& from, const std::string& to) {
    auto text = good->view;
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  auto rate = isolation::decode_replacement_view(swap("\"m0\":1", "\"m0\":\"fast\""));
  REQUIRE_FALSE(rate.ok());
  CHECK(rate.err().message == "expected a number for model m0 in observed, found string");
  auto has = isolation::decode_replacement_view(swap("\"has_candidate\":false", "\"has_candidate\":0"));
  REQUIRE_FALSE(has.ok());
  CHECK(has.err().message == "expected a bool has_candidate in the replacement view, found number");
  auto missing = isolation::decode_replacement_view("{\"window_s\": 1}");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().message == "expected a number since_replan_s in the replacement view, found nothing");
  auto through_host = isolation::run_encoded(*make_replacement("windowed"), "{\"since_replan_s\": true}");
  REQUIRE_FALSE(through_host.ok());
  CHECK(through_host.err().message == "expected a number since_replan_s in the replacement view, found boolean");
}
