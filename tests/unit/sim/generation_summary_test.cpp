// The generation part of the shared summary (sim/summary.hpp): TTFT/TPOT/e2e percentiles, tokens/s,
// attainment of both SLOs, the "generation" JSON block and the records columns new_tokens,first_token,tpot.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "messages/json.hpp"
#include "sim/summary.hpp"

using namespace sy::sim;

namespace {
outcome gen(double arrival, double first, double finish, int tokens, std::string_view status = "ok",
            double ttft_slo = 0, double tpot_slo = 0) {
  return outcome{arrival, finish, 0, status, 0, first, tokens, ttft_slo, tpot_slo};
}
summary of(const std::vector<outcome>& v) {
  return summarize_outcomes(v.size(), [&](std::size_t i) { return v[i]; }, {"llm"}, 0);
}
} // namespace

TEST_CASE("TTFT, TPOT and end-to-end percentiles, tokens/s and both SLOs are computed from generation outcomes",
          "[summary]") {
  // arrival, first token, finish, new tokens: TTFT 0.1/0.2/0.3, TPOT 0.01/0.02/-, e2e 1.1/2.2/0.3
  std::vector<outcome> v{gen(0, 0.1, 1.1, 101, "ok", 0.25, 0.015), gen(1, 1.2, 3.2, 101, "ok", 0.25, 0.015),
                         gen(2, 2.3, 2.3, 1, "ok", 0.25, 0.015), gen(3, -1, 3, 5, "rejected", 0.25, 0.015)};
  auto s = of(v);
  const auto& g = s.overall.gen;
  CHECK(g.requests == 4);
  CHECK(g.ttft_p50_s == Approx(0.2));   // sorted {0.1, 0.2, 0.3}, index int(0.5 * 3) = 1
  CHECK(g.ttft_p99_s == Approx(0.3));
  CHECK(g.tpot_p50_s == Approx(0.02));  // {0.01, 0.02}: index 1
  CHECK(g.tpot_p99_s == Approx(0.02));
  CHECK(g.e2e_p50_s == Approx(1.1));    // {0.3, 1.1, 2.2}
  CHECK(g.e2e_p99_s == Approx(2.2));
  CHECK(g.tokens_per_s == Approx(203.0 / 3.2)); // ok tokens / (last finish 3.2 - first arrival 0)
  CHECK(g.ttft_misses == 1);            // 0.3 > 0.25
  CHECK(g.tpot_misses == 1);            // 0.02 > 0.015
  CHECK(g.attainment == Approx(0.25));  // only the first meets both; the rejected one counts against
  CHECK(s.models.at(0).s.gen.requests == 4);
  // the one-pass numbers are still there and unchanged in meaning
  CHECK(s.overall.requests == 4);
  CHECK(s.overall.ok == 3);
}

TEST_CASE("a generation that ended deadline_exceeded before any token is a TTFT miss; a rejected one is not",
          "[summary]") {
  // TTFT SLO 0.25 s each. 1: on time (0.1 s). 2: first token late (0.4 s), then failed: a miss. 3: no token,
  // deadline_exceeded at 0.25 s: a miss (it missed its first token). 4: refused at admission: no miss. 5: no
  // TTFT SLO, deadline_exceeded by the request timeout before a token: still a miss. 6: failed before a
  // token (a device error, 0.1 s): not a TTFT miss.
  std::vector<outcome> v{gen(0, 0.1, 1.1, 11, "ok", 0.25), gen(1, 1.4, 1.5, 2, "failed", 0.25),
                         gen(2, -1, 2.25, 0, "deadline_exceeded", 0.25), gen(3, -1, 3, 0, "rejected", 0.25),
                         gen(4, -1, 34, 0, "deadline_exceeded"), gen(5, -1, 5.1, 0, "failed", 0.25)};
  for (auto& o : v)
    o.generation = true;
  auto g = of(v).overall.gen;
  CHECK(g.requests == 6);
  CHECK(g.ttft_misses == 3); // requests 2, 3 and 5
  CHECK(g.attainment == Approx(1.0 / 6));
}

TEST_CASE("a one-pass summary has no generation block and its JSON is what it was", "[summary]") {
  std::vector<outcome> v{outcome{0, 0.5, 0, "ok", 0}, outcome{1, 1.25, 0, "rejected", 0}};
  auto s = of(v);
  CHECK(s.overall.gen.requests == 0);
  auto j = to_json(s);
  CHECK(j.find("generation") == std::string::npos);
  CHECK(j == "{\n  \"trimmed_each_end\": 0,\n  \"untrimmed_requests\": 2,\n  \"untrimmed_attainment\": 0.5,\n"
             "  \"overall\": {\"requests\": 2, \"ok\": 1, \"rejected\": 1, \"failed\": 0, \"deadline_exceeded\": 0, "
             "\"attainment\": 0.5, \"goodput_rps\": 1, \"mean_latency_s\": 0.25, \"mean_served_latency_s\": 0.5, "
             "\"p50_s\": 0.5, \"p90_s\": 0.5, \"p99_s\": 0.5, \"mean_load_wait_s\": 0},\n"
             "  \"models\": [\n    {\"name\": \"llm\", \"requests\": 2, \"ok\": 1, \"rejected\": 1, \"failed\": 0, "
             "\"deadline_exceeded\": 0, \"attainment\": 0.5, \"goodput_rps\": 1, \"mean_latency_s\": 0.25, "
             "\"mean_served_latency_s\": 0.5, \"p50_s\": 0.5, \"p90_s\": 0.5, \"p99_s\": 0.5, "
             "\"mean_load_wait_s\": 0}\n  ]\n}\n");
}

TEST_CASE("the generation block is written inside the latency summary and parses as JSON", "[summary]") {
  std::vector<outcome> v{gen(0, 0.1, 1.1, 11, "ok", 0.5, 0.2), outcome{0.5, 0.6, 0, "ok", 0}};
  auto s = of(v);
  CHECK(s.overall.gen.requests == 1); // the one-pass request is not a generation request
  auto j = sy::json::parse(to_json(s));
  REQUIRE(j.ok());
  const auto* g = j->get("overall")->get("generation");
  REQUIRE(g);
  CHECK(g->get("requests")->as_number() == 1);
  CHECK(g->get("attainment")->as_number() == 1);
  CHECK(g->get("ttft_p50_s")->as_number() == Approx(0.1));
  CHECK(g->get("tpot_p50_s")->as_number() == Approx(0.1));
  for (const char* k : {"ttft_p90_s", "ttft_p99_s", "tpot_p99_s", "e2e_p50_s", "e2e_p99_s", "tokens_per_s",
                        "ttft_misses", "tpot_misses"})
    CHECK(g->get(k) != nullptr);
  REQUIRE(j->get("models")->as_array().at(0).get("generation"));
}

TEST_CASE("records rows end with new_tokens, first_token and tpot; one-pass rows with 0,-1,0", "[summary]") {
  std::string csv = records_header;
  append_record(csv, record_row{0, "bert", 1, 1, 1, 1.5, "ok", "", "0", 1, 0});
  append_record(csv, record_row{1, "llm", 2, 2, 2, 3, "ok", "", "1", 2, 0, 11, 2.5, tpot_of(2.5, 3, 11)});
  CHECK(csv == "id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait,new_tokens,"
               "first_token,tpot\n"
               "0,bert,1,1,1,1.5,ok,,0,1,0,0,-1,0\n"
               "1,llm,2,2,2,3,ok,,1,2,0,11,2.5,0.050000000000000003\n");
  CHECK(tpot_of(-1, 3, 11) == 0);
  CHECK(tpot_of(2, 3, 1) == 0);
}

TEST_CASE("simulator records map their generation fields into the summary and the records CSV", "[summary]") {
  std::vector<request_record> r(2);
  r[0] = request_record{0, 0, 0, 0.5, request_status::ok, 0, 1, 0};
  r[1] = request_record{1, 1, 1, 2, request_status::ok, 0, 3, 0, 5, 1.2, 0.5, 0.1};
  auto s = summarize(r, {0, 0}, {"llm"}, 0);
  CHECK(s.overall.gen.requests == 1);
  CHECK(s.overall.gen.ttft_p50_s == Approx(0.2));
  CHECK(s.overall.gen.tpot_p50_s == Approx(0.2)); // (2 - 1.2) / 4
  CHECK(s.overall.gen.tpot_misses == 1);
  CHECK(s.overall.gen.attainment == 0);
  auto csv = records_csv(r, {0, 0}, {"llm"});
  CHECK(csv.find("\n0,llm,0,0,0,0.5,ok,,0,1,0,0,-1,0\n") != std::string::npos);
  CHECK(csv.find("\n1,llm,1,1,1,2,ok,,0,3,0,5,1.2,0.20000000000000001\n") != std::string::npos);
}
