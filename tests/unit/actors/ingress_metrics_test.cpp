#include <catch2/catch.hpp>

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
