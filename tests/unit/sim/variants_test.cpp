// The batching and swapping simulators and the reported summary (warm-up trimming).
#include <catch2/catch.hpp>

#include "sim/simulator.hpp"
#include "sim/summary.hpp"
#include "sim_fixtures.hpp"

using namespace sy;
using sy::test::entry;
using sy::test::f32_lat;
using sy::test::group;
using sy::test::make_trace;
using sy::test::place;

TEST_CASE("batching grows the batch through 2 and 4 while enough requests wait and the head's deadline holds",
          "[sim][batching]") {
  // Batch factors: b=1: 1, b=2: 1.2, b=4: 1.5, b=8: 2, b=16: 3 (stage latency 0.1).
  auto table = policies::profile_table::build({"a"}, {entry("a", 1, 1, {0.1}, 1, 0, {1, 1.2, 1.5, 2, 3})});
  REQUIRE(table.ok());
  auto trace = sim::prepare(make_trace({"a"}, {{0.0, 0}, {0.01, 0}, {0.02, 0}, {0.03, 0}, {0.04, 0}, {0.05, 0}}),
                            *table, 100);
  REQUIRE(trace.ok());
  sim::sim_options opt;
  opt.mode = sim::sim_mode::batching;
  sim::simulator s(*table, opt);
  std::vector<sim::request_record> rec;
  auto e = s.run(place({group(1, 1, {0})}), *trace, 0, 6, &rec);
  REQUIRE(e.ok());
  // Request 0 finds the group idle: batch of 1, overhead first: finishes 0.011 + l1.
  const double l1 = f32_lat(0.1, 1), l4 = f32_lat(0.15, 1), l1b = f32_lat(0.1, 1);
  REQUIRE(rec[0].batch_size == 1);
  REQUIRE(rec[0].finish == Approx(0.011 + l1));
  // When stage 0 frees, 5 wait: 2 (1 more needed) and 4 (3 more) fit, 8 would need 7 more: batch of 4.
  for (int i = 1; i <= 4; ++i) {
    REQUIRE(rec[static_cast<std::size_t>(i)].batch_size == 4);
    REQUIRE(rec[static_cast<std::size_t>(i)].finish == Approx(0.011 + l1 + 0.011 + l4));
  }
  // The last one alone after that batch.
  REQUIRE(rec[5].batch_size == 1);
  REQUIRE(rec[5].finish == Approx(0.011 + l1 + 0.011 + l4 + 0.011 + l1b));
  REQUIRE(e->good == 6);
}

TEST_CASE("batching drops a queue head that cannot finish in time even alone", "[sim][batching]") {
  auto table = policies::profile_table::build({"a"}, {entry("a", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  // SLO 0.25: request 1 (t=0) must wait for request 0 until 0.1119: 0.1119 + 0.011 + 0.1009 = 0.2238 ok;
  // request 2 (t=0) would start after 0.2238: 0.3357 > 0.25: dropped when its turn comes.
  auto trace = sim::prepare(make_trace({"a"}, {{0.0, 0}, {0.0, 0}, {0.0, 0}}), *table, 2.5);
  REQUIRE(trace.ok());
  sim::sim_options opt;
  opt.mode = sim::sim_mode::batching;
  sim::simulator s(*table, opt);
  std::vector<sim::request_record> rec;
  auto e = s.run(place({group(1, 1, {0})}), *trace, 0, 3, &rec);
  REQUIRE(e.ok());
  REQUIRE(rec[0].status == sim::request_status::ok);
  // Requests 1 and 2 are batched together when stage 0 frees if the batch of 2 meets the head's deadline.
  const double l1 = f32_lat(0.1, 1);
  const bool pair_fits = 0.011 + l1 + 0.011 + f32_lat(0.1, 1) <= 0.25;
  REQUIRE(pair_fits);
  REQUIRE(rec[1].batch_size == 2);
  REQUIRE(e->good == 3);
}

TEST_CASE("swapping: a non-resident model waits for its pipelined load and LRU picks the victim", "[sim][swap]") {
  // Budget 12 bytes per GPU, each model 6: two of three fit. Initially a, b resident (group order).
  auto table = policies::profile_table::build(
      {"a", "b", "c"}, {entry("a", 1, 1, {0.1}, 6, 1.0), entry("b", 1, 1, {0.1}, 6, 1.0), entry("c", 1, 1, {0.1}, 6, 1.0)});
  REQUIRE(table.ok());
  auto trace = sim::prepare(
      make_trace({"a", "b", "c"}, {{1.0, 0}, {2.0, 2}, {5.0, 0}, {6.0, 1}, {9.0, 1}}), *table, 100);
  REQUIRE(trace.ok());
  sim::sim_options opt;
  opt.mode = sim::sim_mode::swapping;
  opt.mem_budget_bytes = 12;
  sim::simulator s(*table, opt);
  std::vector<sim::request_record> rec;
  auto e = s.run(place({group(1, 1, {0, 1, 2})}), *trace, 0, 5, &rec);
  REQUIRE(e.ok());
  const double l = f32_lat(0.1, 1);
  REQUIRE(rec[0].load_wait == 0); // a resident
  // c at 2.0: evicts b (least recently used: never used), loads 2.0 -> 3.0, runs 3.0 -> 3.0 + l.
  REQUIRE(rec[1].load_wait == Approx(1.0));
  REQUIRE(rec[1].start == Approx(3.0));
  REQUIRE(rec[1].finish == Approx(3.0 + l + 0.011));
  REQUIRE(rec[2].load_wait == 0); // a still resident
  // b at 6.0: evicts c (used at 2.0-3.1) rather than a (used at 5.0): waits for the load.
  REQUIRE(rec[3].load_wait == Approx(1.0));
  REQUIRE(rec[4].load_wait == 0); // b resident now
  REQUIRE(e->good == 5);
}

TEST_CASE("swapping: victims are the runtime eviction policy's decision (lru vs demand-aware)", "[sim][swap]") {
  // Two of three models fit; a and b resident. a is asked 4 times (high demand), then b once (most recent),
  // then c needs room: LRU evicts a (used longest ago), demand-aware evicts b (lower demand). The last request
  // (a) then waits for a load only under LRU.
  auto table = policies::profile_table::build(
      {"a", "b", "c"}, {entry("a", 1, 1, {0.1}, 6, 1.0), entry("b", 1, 1, {0.1}, 6, 1.0), entry("c", 1, 1, {0.1}, 6, 1.0)});
  REQUIRE(table.ok());
  auto trace = sim::prepare(make_trace({"a", "b", "c"}, {{1.0, 0}, {1.5, 0}, {2.0, 0}, {2.5, 0}, {3.0, 1}, {4.0, 2},
                                                          {8.0, 0}}),
                            *table, 100);
  REQUIRE(trace.ok());
  auto run = [&](policies::eviction_fn ev) {
    sim::sim_options opt;
    opt.mode = sim::sim_mode::swapping;
    opt.mem_budget_bytes = 12;
    opt.eviction = std::move(ev);
    sim::simulator s(*table, opt);
    std::vector<sim::request_record> rec;
    REQUIRE(s.run(place({group(1, 1, {0, 1, 2})}), *trace, 0, 7, &rec).ok());
    return rec;
  };
  auto lru = policies::make_eviction("lru");
  auto demand = policies::make_eviction("demand-aware");
  REQUIRE(lru.ok());
  REQUIRE(demand.ok());
  auto by_lru = run(*lru);
  auto by_demand = run(*demand);
  REQUIRE(by_lru[5].load_wait == Approx(1.0)); // c loads in both
  REQUIRE(by_demand[5].load_wait == Approx(1.0));
  REQUIRE(by_lru[6].load_wait == Approx(1.0)); // a was evicted
  REQUIRE(by_demand[6].load_wait == 0);        // b was evicted, a stayed
  REQUIRE(run({})[6].load_wait == by_lru[6].load_wait); // default: lru

  // The simulator hands the policy the group's view: the other resident models, with pinned loads.
  std::vector<policies::eviction_view> seen;
  auto spy = [&](const policies::eviction_view& v) {
    seen.push_back(v);
    return (*lru)(v);
  };
  auto by_spy = run(spy);
  REQUIRE(by_spy[6].load_wait == by_lru[6].load_wait);
  REQUIRE_FALSE(seen.empty());
  const auto& v = seen.front(); // c's miss at 4.0: a and b resident
  REQUIRE(v.needed_bytes == 6);
  REQUIRE(v.free_bytes == 0);
  REQUIRE(v.resident.size() == 2);
  REQUIRE(v.resident[0].model == "a");
  REQUIRE(v.resident[1].model == "b");
  REQUIRE(v.resident[0].rate > v.resident[1].rate);
  REQUIRE(v.resident[0].last_used < v.resident[1].last_used);
  REQUIRE_FALSE(v.resident[0].pinned);
}

TEST_CASE("swapping: a load starts only after the victim's last use of the stage", "[sim][swap]") {
  // One model fits. a runs 0 -> 5 s; b arrives at 1 s: a's pages are freed at 5, b loads 5 -> 6.
  auto table = policies::profile_table::build({"a", "b"}, {entry("a", 1, 1, {5.0}, 6, 1.0), entry("b", 1, 1, {0.1}, 6, 1.0)});
  REQUIRE(table.ok());
  auto trace = sim::prepare(make_trace({"a", "b"}, {{0.0, 0}, {1.0, 1}}), *table, 100);
  REQUIRE(trace.ok());
  sim::sim_options opt;
  opt.mode = sim::sim_mode::swapping;
  opt.mem_budget_bytes = 6;
  sim::simulator s(*table, opt);
  std::vector<sim::request_record> rec;
  auto e = s.run(place({group(1, 1, {0, 1})}), *trace, 0, 2, &rec);
  REQUIRE(e.ok());
  const double la = f32_lat(5.0, 1);
  REQUIRE(rec[1].start == Approx(la + 1.0));
  REQUIRE(rec[1].load_wait == Approx(1.0)); // the stage was busy until la anyway: only the load adds
}

TEST_CASE("the summary trims int(10 / span * N) requests from each end and counts dropped latency as 0",
          "[sim][summary]") {
  std::vector<sim::request_record> rec;
  std::vector<std::int32_t> model;
  // 100 requests, one per second over 99 s: skip = int(10 / 99 * 100) = 10.
  for (int i = 0; i < 100; ++i) {
    sim::request_record r;
    r.arrival = r.dispatch = r.start = i;
    const bool ok = i % 4 != 0;
    r.status = ok ? sim::request_status::ok : sim::request_status::rejected;
    r.finish = ok ? i + 0.5 : i;
    rec.push_back(r);
    model.push_back(i % 2);
  }
  auto s = sim::summarize(rec, model, {"a", "b"}, 10);
  REQUIRE(s.trimmed_each_end == 10);
  REQUIRE(s.overall.requests == 80);
  long ok = 0;
  for (int i = 10; i < 90; ++i)
    ok += i % 4 != 0;
  REQUIRE(s.overall.ok == ok);
  REQUIRE(s.overall.attainment == Approx(static_cast<double>(ok) / 80));
  REQUIRE(s.overall.mean_latency_s == Approx(0.5 * static_cast<double>(ok) / 80));
  REQUIRE(s.overall.p99_s == Approx(0.5));
  REQUIRE(s.overall.mean_served_latency_s == Approx(0.5));
  REQUIRE(s.models[0].s.requests == 40);
  REQUIRE(s.models[1].s.ok == 40); // odd arrivals are never multiples of 4
  auto json = sim::to_json(s);
  REQUIRE(json.find("\"trimmed_each_end\": 10") != std::string::npos);
  REQUIRE(s.untrimmed_requests == 100);
  REQUIRE(s.untrimmed_attainment == Approx(75.0 / 100));
  auto csv = sim::records_csv(rec, model, {"a", "b"});
  REQUIRE(csv.rfind("id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait,new_tokens,"
                    "first_token,tpot\n"
                    "0,a,0,0,0,0,rejected,would miss its SLO,-1,0,0,0,-1,0\n"
                    "1,b,1,1,1,1.5,ok,,-1,0,0,0,-1,0\n", 0) == 0);
}

TEST_CASE("swapping refuses a profile entry without load_seconds, naming the model and config", "[sim][swap]") {
  auto no_load = entry("b", 1, 1, {0.1}, 6);
  no_load.load_seconds.clear();
  auto table = policies::profile_table::build({"a", "b"}, {entry("a", 1, 1, {0.1}, 6, 1.0), no_load});
  REQUIRE(table.ok());
  auto trace = sim::prepare(make_trace({"a", "b"}, {{1.0, 0}, {2.0, 1}}), *table, 100);
  REQUIRE(trace.ok());
  sim::sim_options opt;
  opt.mode = sim::sim_mode::swapping;
  opt.mem_budget_bytes = 12;
  auto e = sim::simulator(*table, opt).run(place({group(1, 1, {0, 1})}), *trace, 0, 2, nullptr);
  REQUIRE_FALSE(e.ok());
  CHECK(e.err().message ==
        "model 'b' (op 1, pp 1): the swapping simulator needs the profile's load_seconds, the entry has none");
  opt.mode = sim::sim_mode::compat; // compat ignores load times
  CHECK(sim::simulator(*table, opt).run(place({group(1, 1, {0, 1})}), *trace, 0, 2, nullptr).ok());
}

TEST_CASE("with the runtime's admission rule, batching refuses at arrival what the controller would refuse",
          "[sim][batching][admission]") {
  // One model, stage latency 0.1 at every batch size, overhead 0, SLO 0.35 s, batches up to 8. Request 0 (t=0)
  // is served alone; 1..4 arrive at 0.01..0.04 while it computes. Exact stage clocks serve all of 1..4 as one
  // batch (finish 2 l = 0.2018). The controller's rule counts each queued request and each batch in the pipeline
  // at its batch-1 latency l: request 1: l (pipeline) + l; 2: 2 l + l = 0.3027 <= 0.35; 3: 3 l + l = 0.4036 > 0.35:
  // refused at arrival, as is 4.
  auto table = policies::profile_table::build({"a"}, {entry("a", 1, 1, {0.1}, 1)});
  REQUIRE(table.ok());
  auto trace = sim::prepare(make_trace({"a"}, {{0.0, 0}, {0.01, 0}, {0.02, 0}, {0.03, 0}, {0.04, 0}}, 0.35), *table, 100);
  REQUIRE(trace.ok());
  const double l = f32_lat(0.1, 1);
  for (bool on : {false, true}) {
    sim::sim_options opt;
    opt.mode = sim::sim_mode::batching;
    opt.overhead_s = 0;
    opt.max_batch = 8;
    opt.admission.on = on;
    sim::simulator s(*table, opt);
    std::vector<sim::request_record> rec;
    auto e = s.run(place({group(1, 1, {0})}), *trace, 0, 5, &rec);
    REQUIRE(e.ok());
    CHECK(rec[0].finish == Approx(l));
    const int served = on ? 3 : 5;
    CHECK(e->good == served);
    for (int i = 1; i < served; ++i) {
      CHECK(rec[static_cast<std::size_t>(i)].status == sim::request_status::ok);
      CHECK(rec[static_cast<std::size_t>(i)].batch_size == served - 1);
      CHECK(rec[static_cast<std::size_t>(i)].finish == Approx(2 * l));
    }
    for (int i = served; i < 5; ++i) {
      const auto& r = rec[static_cast<std::size_t>(i)];
      CHECK(r.status == sim::request_status::rejected);
      CHECK(r.finish == r.arrival); // at arrival, not when the group frees
      CHECK(r.group == 0);
    }
  }
  // slack 0.1 (the config's admission: {name: slo, slack: 0.1}): 3 l + 0.1 l = 0.313 admits 3 (served alone after
  // the batch of 1 and 2), 4 l + 0.1 l = 0.414 refuses 4
  sim::sim_options opt;
  opt.mode = sim::sim_mode::batching;
  opt.overhead_s = 0;
  opt.admission = {true, 0.1};
  sim::simulator s(*table, opt);
  auto e = s.run(place({group(1, 1, {0})}), *trace, 0, 5, nullptr);
  REQUIRE(e.ok());
  CHECK(e->good == 4);
}
