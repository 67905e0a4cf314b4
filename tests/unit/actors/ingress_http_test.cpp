#include <catch2/catch.hpp>

#include <cstring>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/ingress_http.hpp"
#include "actors/ingress_kserve.hpp"
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

TEST_CASE("answers map to HTTP status codes by their error code, never by their reason") {
  using sy::messages::error_code;
  auto code = [](error_code c, const char* reason) { return http_status_of(make_wire_error(0, c, reason)); };
  CHECK(code(error_code::invalid_request, "x") == 400);
  CHECK(code(error_code::unknown_model, "x") == 404);
  CHECK(code(error_code::overload, "unknown model 'x'") == 503); // the reason's text does not matter
  CHECK(code(error_code::deadline_exceeded, "") == 504);
  CHECK(code(error_code::internal, "device") == 500);
  CHECK(code(error_code::unauthorized, "") == 401);
  CHECK(make_wire_error(0, error_code::unknown_model, "").status == "invalid");
  CHECK(make_wire_error(0, error_code::draining, "").status == "rejected");
}

TEST_CASE("a controller answer without a code takes the code its status implies") {
  using namespace sy::messages;
  infer_response r;
  r.status = request_status::rejected;
  CHECK(code_of(r) == error_code::overload);
  r.code = error_code::node_lost;
  CHECK(code_of(r) == error_code::node_lost);
  r.status = request_status::ok;
  CHECK(code_of(r) == error_code::none);
  CHECK(to_wire(r, 0).status == "ok");
}

TEST_CASE("the control token is compared exactly") {
  ingress_context ctx;
  CHECK(control_allowed(ctx, ""));
  ctx.control_token = "s3cret";
  CHECK(control_allowed(ctx, "Bearer s3cret"));
  CHECK_FALSE(control_allowed(ctx, ""));
  CHECK_FALSE(control_allowed(ctx, "Bearer s3cre"));
  CHECK_FALSE(control_allowed(ctx, "Bearer s3cret "));
  CHECK_FALSE(control_allowed(ctx, "bearer s3cret"));
}

TEST_CASE("a KServe v2 request with JSON data parses into token ids") {
  auto r = parse_kserve_infer(R"({"id": "r1", "inputs": [{"name": "input_ids", "shape": [1, 3], "datatype": "INT64",
                                  "data": [[5, 6, 7]]}]})", std::nullopt, ingress_limits{});
  REQUIRE(r.ok());
  CHECK(r->tokens == std::vector<std::int32_t>{5, 6, 7});
  CHECK(r->id == "r1");
  CHECK_FALSE(r->binary_output);
}

TEST_CASE("a KServe v2 request with binary tensor data parses its raw little-endian tensor") {
  std::string json = R"({"inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "INT32",
                         "parameters": {"binary_data_size": 8}}], "parameters": {"binary_data_output": true}})";
  std::int32_t t[2] = {9, 4};
  std::string body = json + std::string(reinterpret_cast<const char*>(t), 8);
  auto r = parse_kserve_infer(body, json.size(), ingress_limits{});
  REQUIRE(r.ok());
  CHECK(r->tokens == std::vector<std::int32_t>{9, 4});
  CHECK(r->binary_output);
  wire_response w;
  float v[2] = {1.5f, 2.5f};
  w.output.data.assign(reinterpret_cast<const char*>(v), 8);
  w.output.dtype = "f32";
  w.output.shape = {2};
  auto out = render_kserve_response(w, "m", *r);
  REQUIRE(out.header_length);
  auto j = sy::json::parse(out.body.substr(0, *out.header_length));
  REQUIRE(j.ok());
  const auto& o = j->get("outputs")->as_array().at(0);
  CHECK(o.get("datatype")->as_string() == "FP32");
  CHECK(o.get("parameters")->get("binary_data_size")->as_number() == 8);
  CHECK(out.body.substr(*out.header_length) == w.output.data);
}

TEST_CASE("KServe v2 requests that are wrong say which field and why") {
  ingress_limits lim;
  lim.max_tokens = 4;
  auto err = [&](const std::string& body) {
    auto r = parse_kserve_infer(body, std::nullopt, lim);
    REQUIRE_FALSE(r.ok());
    return r.err().message;
  };
  CHECK(err(R"({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]}]})") ==
        "'inputs'[0].datatype: expected \"INT64\" or \"INT32\", found \"FP32\"");
  CHECK(err(R"({"inputs": [{"name": "x", "shape": [3], "datatype": "INT64", "data": [1, 2]}]})") ==
        "'inputs'[0].data: 2 elements, but the shape holds 3");
  CHECK(err(R"({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT64", "data": [1, 2, 3, 4]}]})") ==
        "'inputs'[0].shape: a batch of 2 sequences; send one sequence per request");
  CHECK(err(R"({"inputs": [{"name": "x", "shape": [5], "datatype": "INT64", "data": [1, 2, 3, 4, 5]}]})") ==
        "'inputs'[0]: 5 tokens exceed the limit of 4");
  CHECK(err(R"({"inputs": [{"name": "x", "shape": [1], "datatype": "INT64", "data": [-1]}]})") ==
        "'inputs'[0].data[0]: expected a non-negative 32-bit token id, found -1");
  CHECK(err(R"({"inputs": []})") == "'inputs': expected one tensor (the token ids), found 0 tensors");
  CHECK(err(R"({"inputs": [1,)").rfind("malformed JSON: ", 0) == 0);
}

TEST_CASE("the controller snapshot renders every metric family") {
  sy::messages::metrics_snapshot s;
  s.requests["m"] = {3, 1, 0, 2};
  s.latency["m"] = {{0.01, 0.1}, {1, 3, 3}, 0.12, 3};
  s.queue_depth["g0/m"] = 4;
  s.swaps["local/0"] = {2, 1, 1000, 0.5, 10, 100, 12, 52};
  s.resident["g0"] = {"m"};
  s.rejected_by_reason["overload"] = 7;
  s.in_flight = 9;
  auto t = render_snapshot(s);
  for (const char* line :
       {"sy_requests_total{model=\"m\",status=\"ok\"} 3\n", "sy_requests_total{model=\"m\",status=\"failed\"} 2\n",
        "sy_request_latency_seconds_bucket{model=\"m\",le=\"0.1\"} 3\n",
        "sy_request_latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 3\n", "sy_queue_depth{group=\"g0\",model=\"m\"} 4\n",
        "sy_swap_loads_total{device=\"local/0\"} 2\n", "sy_swap_bytes_total{device=\"local/0\"} 1000\n",
        "sy_swap_seconds_total{device=\"local/0\"} 0.5\n", "sy_device_kv_blocks_used{device=\"local/0\"} 12\n",
        "sy_device_kv_blocks_free{device=\"local/0\"} 52\n", "sy_resident_models{group=\"g0\",model=\"m\"} 1\n",
        "sy_rejected_total{reason=\"overload\"} 7\n", "sy_in_flight 9\n"})
    CHECK(t.find(line) != std::string::npos);
}

TEST_CASE("an HTTP ingress stopped right after it starts never hangs, 200 times") {
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto ctx = std::make_shared<ingress_context>();
  ctx->gate = std::make_shared<inflight_gate>(1);
  ctx->metrics = std::make_shared<metrics_registry>();
  for (int i = 0; i < 200; ++i) {
    http_ingress h(sys, ctx);
    auto port = h.start("127.0.0.1", 0);
    REQUIRE(port.ok());
    h.stop(); // httplib 0.11's stop() before its listener ran was lost, and the join waited forever
  }
}
