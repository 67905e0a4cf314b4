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

TEST_CASE("the records CSV has the simulator's header, one row per request, full-precision times and quoted text") {
  std::vector<replay_record> r{rec(0, 1.5, 2.0, "ok"), rec(1, 0.1, 1.0 / 3.0, "rejected"), rec(-1, 2, 2, "invalid")};
  r[0].group = "decoders";
  r[0].batch_size = 3;
  r[1].reason = "queue full, \"m\" over its limit";
  auto csv = records_csv(r, {"gpt", "bert"});
  CHECK(csv == "id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait,new_tokens,"
               "first_token,tpot\n"
               "0,gpt,1.5,1.5,1.5,2,ok,,decoders,3,0,0,-1,0\n"
               "1,bert,0.10000000000000001,0.10000000000000001,0.10000000000000001,0.33333333333333331,rejected,"
               "\"queue full, \"\"m\"\" over its limit\",-1,0,0,0,-1,0\n"
               "2,,2,2,2,2,invalid,,-1,0,0,0,-1,0\n");
}

TEST_CASE("the summary JSON carries the untrimmed attainment, the SLO scale and the models' SLOs") {
  driver_result d;
  for (int i = 0; i < 100; ++i)
    d.records.push_back(rec(0, i * 0.5, i * 0.5 + 0.1, i < 10 ? "rejected" : "ok")); // 49.5 s span
  auto s = summarize(d, {"a"}, 10); // int(10 / 49.5 * 100) = 20 trimmed from each end: all 10 rejects go
  CHECK(s.trimmed_each_end == 20);
  CHECK(s.overall.attainment == 1.0);
  CHECK(s.untrimmed_requests == 100);
  CHECK(s.untrimmed_attainment == 0.9);
  s.slo_scale = 5;
  s.models[0].slo_s = 0.25;
  auto j = sy::json::parse(summary_json(s));
  REQUIRE(j.ok());
  CHECK(j->get("untrimmed_attainment")->as_number() == 0.9);
  CHECK(j->get("untrimmed_requests")->as_number() == 100);
  CHECK(j->get("slo_scale")->as_number() == 5);
  CHECK(j->get("models")->as_array().at(0).get("slo_s")->as_number() == 0.25);
  s.slo_scale = 0; // unknown: left out
  auto j2 = sy::json::parse(summary_json(s));
  REQUIRE(j2.ok());
  CHECK(j2->get("slo_scale") == nullptr);
}
