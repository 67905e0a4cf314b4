// The replay's generation pieces that need no server: fitting a trace to the models (clipping, dropping)
// and the summary of generation records (tests/e2e/replay_generation_e2e.py drives the whole replay).
#include <catch2/catch.hpp>

#include "apps/replay/fit.hpp"
#include "apps/replay/outputs.hpp"
#include "messages/json.hpp"

using namespace sy::driver;

namespace {

sy::sim::trace_request req(double at, int model, int input, int output) {
  sy::sim::trace_request q;
  q.arrival_s = at;
  q.model = model;
  q.input_tokens = input;
  q.output_tokens = output;
  return q;
}

replay_record gen(int model, double arrival, double first, double finish, int tokens, const char* status = "ok") {
  replay_record r;
  r.model = model;
  r.arrival = r.dispatch = r.start = arrival;
  r.finish = finish;
  r.first_token = first;
  r.status = status;
  r.max_new_tokens = tokens;
  r.new_tokens = std::string(status) == "ok" ? tokens : 0;
  r.answers = 1;
  return r;
}

} // namespace

TEST_CASE("a generation's prompt is clipped so that prompt plus new tokens fit the model's positions") {
  sy::sim::trace t;
  t.models = {"gpt", "bert"};
  t.requests = {req(0, 0, 1500, 10), req(1, 0, 20, 10), req(2, 1, 900, 0), req(3, 0, 50, 64), req(4, 0, 9, 65)};
  fit_report r;
  auto out = fit_to_models(t, {64, 128}, r);
  REQUIRE(out.requests.size() == 4);
  CHECK(out.requests[0].input_tokens == 55); // 55 + 10 - 1 = 64, the server's rule
  CHECK(out.requests[1].input_tokens == 20); // fits as it is
  CHECK(out.requests[2].input_tokens == 128); // a one-pass input: max positions
  CHECK(out.requests[3].input_tokens == 1);   // 64 new tokens leave one prompt token
  CHECK(r.clipped == 3);
  CHECK(r.dropped == 1); // 65 new tokens leave none: dropped, not sent
  REQUIRE(r.examples.size() == 1);
  CHECK(r.examples[0].find("65 new tokens for model gpt") != std::string::npos);
  CHECK(out.requests[3].arrival_s == 3); // order and arrivals kept
}

TEST_CASE("a model of unknown max positions keeps its prompts as they are") {
  sy::sim::trace t;
  t.models = {"elsewhere"};
  t.requests = {req(0, 0, 5000, 300)};
  fit_report r;
  auto out = fit_to_models(t, {0}, r);
  REQUIRE(out.requests.size() == 1);
  CHECK(out.requests[0].input_tokens == 5000);
  CHECK(r.clipped == 0);
  CHECK(r.dropped == 0);
}

TEST_CASE("the replay summary covers generations, refused ones included, with the model's SLOs") {
  driver_result d;
  // model 0: 4 ok generations, one refused; TTFT 0.1..0.4 s, TPOT 0.01 s; model 1: one-pass
  for (int i = 0; i < 4; ++i)
    d.records.push_back(gen(0, i, i + 0.1 * (i + 1), i + 0.1 * (i + 1) + 0.01 * 10, 11));
  d.records.push_back(gen(0, 5, -1, 5, 8, "invalid"));
  replay_record one;
  one.model = 1;
  one.arrival = one.dispatch = one.start = 6;
  one.finish = 6.5;
  one.status = "ok";
  d.records.push_back(one);
  auto s = summarize(d, {"gpt", "bert"}, 0, {{0.25, 0.02}, {}});
  const auto& g = s.models[0].s.gen;
  CHECK(g.requests == 5); // the invalid one counts against attainment
  CHECK(g.ttft_p50_s == Approx(0.3)); // sorted 0.1 0.2 0.3 0.4: element int(0.5 * 4) = 2
  CHECK(g.tpot_p50_s == Approx(0.01));
  CHECK(g.attainment == Approx(2.0 / 5)); // TTFT 0.1 and 0.2 meet 0.25 s
  CHECK(g.ttft_misses == 2);
  CHECK(s.models[1].s.gen.requests == 0);
  auto text = summary_text(s);
  CHECK(text.find("ttft p50") != std::string::npos);
  auto j = sy::json::parse(summary_json(s));
  REQUIRE(j.ok());
  CHECK(j->get("models")->as_array().at(0).get("generation") != nullptr);
  CHECK(j->get("models")->as_array().at(1).get("generation") == nullptr);
  CHECK(j->get("late_stream_frames") != nullptr);
}

TEST_CASE("a one-pass replay prints no generation table and writes no generation keys") {
  driver_result d;
  replay_record one;
  one.model = 0;
  one.finish = 0.5;
  one.status = "ok";
  d.records.push_back(one);
  auto s = summarize(d, {"bert"});
  CHECK(summary_text(s).find("ttft") == std::string::npos);
  CHECK(summary_json(s).find("generation") == std::string::npos);
  CHECK(summary_json(s).find("late_stream_frames") == std::string::npos);
}
