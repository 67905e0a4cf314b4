#include <catch2/catch.hpp>

#include "messages/json.hpp"
#include "apps/replay/outputs.hpp"

using namespace sy::driver;

namespace {

replay_record rec(int model, double arrival, double finish, const char* status) {
  replay_record r;
  r.model = model;
  r.arrival = arrival;
  r.dispatch = r.start = arrival;
  r.finish = finish;
  r.status = status;
  r.answers = 1;
  return r;
}

} // namespace

TEST_CASE("the summary counts every status and takes percentiles of ok latencies") {
  driver_result d;
  for (int i = 0; i < 10; ++i)
    d.records.push_back(rec(i % 2, i * 1.0, i * 1.0 + 0.01 * (i + 1), "ok"));
  d.records.push_back(rec(0, 10, 10, "rejected"));
  d.records.push_back(rec(1, 11, 11, "deadline_exceeded"));
  auto s = summarize(d, {"a", "b"});
  CHECK(s.overall.requests == 12);
  CHECK(s.overall.count("ok") == 10);
  CHECK(s.overall.count("rejected") == 1);
  CHECK(s.overall.count("deadline_exceeded") == 1);
  CHECK(s.overall.attainment == Approx(10.0 / 12));
  CHECK(s.overall.goodput_rps == Approx(10.0 / 11));
  // Latencies 0.01..0.10: element int(0.5*10)=5 -> 0.06, int(0.9*10)=9 -> 0.10.
  CHECK(s.overall.p50_s == Approx(0.06));
  CHECK(s.overall.p90_s == Approx(0.10));
  REQUIRE(s.models.size() == 2);
  CHECK(s.models[0].s.requests == 6);
  CHECK(s.models[1].s.count("ok") == 5);
}

TEST_CASE("warm-up trimming drops the same number of requests from each end") {
  driver_result d;
  for (int i = 0; i < 100; ++i)
    d.records.push_back(rec(0, i * 0.1, i * 0.1 + 0.001, "ok"));
  auto s = summarize(d, {"a"}, 1.0); // span 9.9 s: int(1/9.9*100) = 10
  CHECK(s.trimmed_each_end == 10);
  CHECK(s.overall.requests == 80);
}

TEST_CASE("the summary JSON parses and carries the simulator's keys") {
  driver_result d;
  d.records.push_back(rec(0, 0, 0.5, "ok"));
  d.records.push_back(rec(0, 1, 1, "invalid"));
  d.duplicates = 2;
  auto j = sy::json::parse(summary_json(summarize(d, {"m\"x"})));
  REQUIRE(j.ok());
  const auto* overall = j->get("overall");
  REQUIRE(overall);
  for (const char* k : {"requests", "ok", "rejected", "failed", "deadline_exceeded", "invalid", "attainment",
                        "goodput_rps", "mean_latency_s", "p50_s", "p90_s", "p99_s", "mean_load_wait_s"})
    CHECK(overall->get(k) != nullptr);
  CHECK(overall->get("invalid")->as_number() == 1);
  CHECK(j->get("duplicates")->as_number() == 2);
  CHECK(j->get("models")->as_array().at(0).get("name")->as_string() == "m\"x");
}

TEST_CASE("the records CSV has the simulator's header and one row per request") {
  std::vector<replay_record> r{rec(0, 1.5, 2.0, "ok")};
  r[0].group = "decoders";
  r[0].batch_size = 3;
  auto csv = records_csv(r);
  CHECK(csv == "arrival,dispatch,start,finish,status,group,batch_size,load_wait\n"
               "1.500000000,1.500000000,1.500000000,2.000000000,ok,decoders,3,0.000000000\n");
}
