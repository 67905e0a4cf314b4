#include <catch2/catch.hpp>

#include <cstring>

#include "actors/ingress_http.hpp"
#include "messages/json.hpp"
#include "actors/metrics_text.hpp"

using namespace sy::actors;

TEST_CASE("an infer body with tokens and an SLO parses") {
  auto r = parse_infer_json(R"({"tokens": [5, 6, 7], "slo_ms": 120.5})", "tiny-gpt", ingress_limits{});
  REQUIRE(r.ok());
  CHECK(r->model == "tiny-gpt");
  CHECK(r->tokens == std::vector<std::int32_t>{5, 6, 7});
  CHECK(r->slo_ms == 120.5);
}

TEST_CASE("infer bodies that are wrong say where and what") {
  ingress_limits lim;
  lim.max_tokens = 2;
  auto check_error = [&](const char* body, const char* expected) {
    auto r = parse_infer_json(body, "m", lim);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().message == expected);
  };
  check_error(R"({"tokens": [1,)", "malformed JSON: line 1, column 15 (byte 14): expected a value, found end of input");
  check_error(R"([1, 2])", "body: expected an object, found array");
  check_error(R"({"slo_ms": 3})", "body: missing key 'tokens' (array of integers)");
  check_error(R"({"tokens": [1, 2.5]})", "'tokens'[1]: expected a non-negative 32-bit integer, found 2.5");
  check_error(R"({"tokens": [1, "a"]})", "'tokens'[1]: expected a non-negative 32-bit integer, found string");
  check_error(R"({"tokens": [1, 2, 3]})", "'tokens': 3 tokens exceed the limit of 2");
  check_error(R"({"tokens": []})", "'tokens': expected at least one token, found an empty array");
  check_error(R"({"tokens": [1], "slo_ms": "x"})", "'slo_ms': expected a non-negative number, found string");
}

TEST_CASE("an f32 answer renders as JSON with its output as numbers") {
  wire_response w;
  w.id = 3;
  w.status = "ok";
  float v[2] = {1.5f, -2.0f};
  w.output.data.assign(reinterpret_cast<const char*>(v), sizeof v);
  w.output.dtype = "f32";
  w.output.shape = {2};
  w.timings = {{"total_ms", 0.5}};
  w.group = "g";
  w.batch_size = 1;
  auto j = sy::json::parse(response_json(w, "m"));
  REQUIRE(j.ok());
  CHECK(j->get("status")->as_string() == "ok");
  const auto& data = j->get("output")->get("data")->as_array();
  REQUIRE(data.size() == 2);
  CHECK(data[0].as_number() == 1.5);
  CHECK(data[1].as_number() == -2.0);
  CHECK(j->get("timings")->get("total_ms")->as_number() == 0.5);
  CHECK(http_status_of(w) == 200);
}

TEST_CASE("answers map to HTTP status codes") {
  auto code = [](const char* status, const char* reason) { return http_status_of(make_wire_error(0, status, reason)); };
  CHECK(code("invalid", "x") == 400);
  CHECK(code("rejected", "unknown model 'x'") == 404);
  CHECK(code("rejected", "overload: 5") == 503);
  CHECK(code("deadline_exceeded", "") == 504);
  CHECK(code("failed", "device") == 500);
}

TEST_CASE("the controller snapshot renders every metric family") {
  sy::messages::metrics_snapshot s;
  s.requests["m"] = {3, 1, 0, 2};
  s.latency["m"] = {{0.01, 0.1}, {1, 3, 3}, 0.12, 3};
  s.queue_depth["g0/m"] = 4;
  s.swaps["local/0"] = {2, 1, 1000, 0.5, 10, 100};
  s.resident["g0"] = {"m"};
  s.rejected_by_reason["overload"] = 7;
  s.in_flight = 9;
  auto t = render_snapshot(s);
  for (const char* line :
       {"sy_requests_total{model=\"m\",status=\"ok\"} 3\n", "sy_requests_total{model=\"m\",status=\"failed\"} 2\n",
        "sy_request_latency_seconds_bucket{model=\"m\",le=\"0.1\"} 3\n",
        "sy_request_latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n", "sy_queue_depth{group=\"g0\",model=\"m\"} 4\n",
        "sy_swap_loads_total{device=\"local/0\"} 2\n", "sy_swap_bytes_total{device=\"local/0\"} 1000\n",
        "sy_swap_seconds_total{device=\"local/0\"} 0.5\n", "sy_resident_models{group=\"g0\",model=\"m\"} 1\n",
        "sy_rejected_total{reason=\"overload\"} 7\n", "sy_in_flight 9\n"})
    CHECK(t.find(line) != std::string::npos);
}
