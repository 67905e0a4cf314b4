#include <catch2/catch.hpp>

#include "actors/json.hpp"
#include "actors/metrics.hpp"

using namespace sy::actors;

TEST_CASE("counters render as Prometheus text with escaped labels") {
  metrics_registry m;
  m.describe_counter("sy_requests_total", "Requests answered");
  m.counter_add("sy_requests_total", {{"model", "a\"b"}, {"status", "ok"}}, 2);
  m.counter_add("sy_requests_total", {{"model", "a\"b"}, {"status", "ok"}});
  auto text = m.render();
  CHECK(text.find("# HELP sy_requests_total Requests answered\n") != std::string::npos);
  CHECK(text.find("# TYPE sy_requests_total counter\n") != std::string::npos);
  CHECK(text.find("sy_requests_total{model=\"a\\\"b\",status=\"ok\"} 3\n") != std::string::npos);
  CHECK(m.value("sy_requests_total", {{"model", "a\"b"}, {"status", "ok"}}) == 3);
}

TEST_CASE("histogram buckets are cumulative and end with +Inf, sum and count") {
  metrics_registry m;
  m.describe_histogram("lat", "latency", {0.1, 1});
  m.histogram_observe("lat", {{"model", "x"}}, 0.05);
  m.histogram_observe("lat", {{"model", "x"}}, 0.5);
  m.histogram_observe("lat", {{"model", "x"}}, 5);
  auto text = m.render();
  CHECK(text.find("lat_bucket{model=\"x\",le=\"0.1\"} 1\n") != std::string::npos);
  CHECK(text.find("lat_bucket{model=\"x\",le=\"1\"} 2\n") != std::string::npos);
  CHECK(text.find("lat_bucket{model=\"x\",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("lat_sum{model=\"x\"} 5.55\n") != std::string::npos);
  CHECK(text.find("lat_count{model=\"x\"} 3\n") != std::string::npos);
  CHECK(m.histogram_count("lat", {{"model", "x"}}) == 3);
}

TEST_CASE("gauges can be set and moved") {
  metrics_registry m;
  m.gauge_set("depth", {}, 5);
  m.gauge_add("depth", {}, -2);
  CHECK(m.value("depth", {}) == 3);
  CHECK(m.render().find("depth 3\n") != std::string::npos);
}

TEST_CASE("JSON documents parse into the expected tree") {
  auto v = parse_json(R"({"tokens":[1, 2,3], "slo_ms": 12.5, "s":"a\"\u0041", "t":true, "n":null})");
  REQUIRE(v.ok());
  REQUIRE(v->find("tokens"));
  CHECK(v->find("tokens")->items.size() == 3);
  CHECK(v->find("tokens")->items[2].num == 3);
  CHECK(v->find("slo_ms")->num == 12.5);
  CHECK(v->find("s")->str == "a\"A");
  CHECK(v->find("t")->b);
  CHECK(v->find("n")->kind == json_value::null);
}

TEST_CASE("malformed JSON names the byte offset and what was expected") {
  auto v = parse_json(R"({"tokens": [1, 2,}")");
  REQUIRE_FALSE(v.ok());
  CHECK(v.err().message == "at byte 17: expected a digit, found '}'");
  auto w = parse_json("{} x");
  REQUIRE_FALSE(w.ok());
  CHECK(w.err().message == "at byte 3: expected end of input, found 'x'");
}

TEST_CASE("json_quote escapes quotes and control characters") {
  CHECK(json_quote("a\"b\n\x01") == "\"a\\\"b\\n\\u0001\"");
}
