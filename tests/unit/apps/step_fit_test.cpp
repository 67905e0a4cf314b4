// `replay --fit-profile` (apps/replay/step_fit.hpp): the generation costs fitted to step events, on events
// made from known costs (tests/e2e/step_trace_e2e.py runs it on a live replay).
#include <catch2/catch.hpp>

#include <cmath>

#include "apps/replay/step_fit.hpp"

using namespace sy;
using namespace sy::driver;
using std::chrono::steady_clock;

namespace {

struct costs {
  double step, seq, ctx, token, pair; // seconds
  double operator()(const step_event& plan) const {
    return step + seq * plan.decodes + ctx * static_cast<double>(plan.ctx) + token * (plan.tokens - plan.decodes) +
           pair * static_cast<double>(plan.pairs);
  }
};

steady_clock::time_point at(double s) {
  return steady_clock::time_point(std::chrono::duration_cast<steady_clock::duration>(std::chrono::duration<double>(s)));
}

/// A group of two stages running steps of `model` with the given costs per stage: each step is planned
/// `gap` seconds after the previous one (so steps queue on the devices when gap is short) and takes `hop`
/// seconds per actor hop (group -> stage 0 -> stage 1 -> group); `slow[k]` multiplies step k's costs.
struct rig {
  std::vector<step_event> events;
  double device_free[2] = {0, 0};
  std::uint64_t next = 1;
  double now = 1.0;

  void add(const std::string& model, const costs (&c)[2], int decodes, std::int64_t ctx, int prefill,
           std::int64_t pairs, double gap, double hop, double slow = 1.0, bool answered = true) {
    step_event plan;
    plan.point = step_point::plan;
    plan.group = 7;
    plan.model = model;
    plan.step = next++;
    plan.seqs = decodes + (prefill > 0 ? 1 : 0);
    plan.tokens = decodes + prefill;
    plan.decodes = decodes;
    plan.ctx = ctx;
    plan.pairs = pairs;
    now += gap;
    plan.at = at(now);
    events.push_back(plan);
    double t = now;
    for (int k = 0; k < 2; ++k) {
      auto e = plan;
      e.stage = k;
      e.point = step_point::submit;
      e.at = at(t + hop);
      events.push_back(e);
      const double start = std::max(t + hop, device_free[k]);
      t = start + c[k](plan) * slow;
      device_free[k] = t;
      e.point = step_point::device;
      e.at = at(t);
      events.push_back(e);
      e.point = step_point::done;
      events.push_back(e);
    }
    if (!answered)
      return;
    auto r = plan;
    r.point = step_point::result;
    r.at = at(t + hop);
    events.push_back(r);
  }
};

const costs gpt[2] = {{1e-3, 2e-4, 3e-6, 5e-5, 1e-7}, {2e-3, 1e-4, 1e-6, 8e-5, 3e-7}};

policies::profile_entry entry(const std::string& model) {
  policies::profile_entry e;
  e.model = model;
  e.config = {1, 2};
  e.stage_latency = {{0.01, 0.01}};
  e.weight_bytes = {1, 1};
  e.act_bytes = {{0, 0}};
  e.gen_step_s = {1e-3, 1e-3};
  e.prefill_s_per_token = {1e-5, 1e-5};
  e.decode_s_per_seq = {1e-4, 1e-4};
  e.decode_s_per_ctx = {1e-6, 1e-6};
  e.kv_bytes_per_token = {64, 64};
  e.gen_hop_s = 5e-5;
  return e;
}

rig varied_steps(double gap) {
  rig r;
  for (int i = 0; i < 60; ++i) // decode-only steps of 1-4 sequences at varied contexts
    r.add("gpt", gpt, 1 + i % 4, 40 + 37 * (i % 7) + 11 * (i % 4), 0, 0, gap, 2e-4);
  for (int i = 0; i < 8; ++i) // prefills of 20-230 tokens, some beside decodes
    r.add("gpt", gpt, i % 2, i % 2 ? 90 : 0, 20 + 30 * i, (20 + 30 * i) * (21 + 30 * i) / 2, gap, 2e-4);
  return r;
}

} // namespace

TEST_CASE("the fit recovers each stage's step costs and the hop from steps that queue on the devices") {
  for (double gap : {0.05, 0.001}) { // apart, then queueing behind each other on both stages
    CAPTURE(gap);
    auto r = varied_steps(gap);
    policies::profile_db db;
    db.put(entry("gpt"));
    auto fit = fit_steps(r.events, {{"gpt", {1, 2}}}, db);
    REQUIRE(fit);
    CHECK(fit->steps == 68);
    CHECK(fit->complete_steps == 68);
    CHECK(fit->hop_s == Approx(2e-4).epsilon(1e-6));
    REQUIRE(fit->models.size() == 1);
    const auto& m = fit->models[0];
    REQUIRE(m.stages.size() == 2);
    for (int k = 0; k < 2; ++k) {
      CAPTURE(k);
      const auto& f = m.stages[static_cast<std::size_t>(k)];
      CHECK(f.decode_steps == 60); // the prefill steps beside decodes count as prefill steps
      CHECK(f.prefill_steps == 8);
      CHECK(f.step_s == Approx(gpt[k].step).epsilon(1e-6));
      CHECK(f.per_seq == Approx(gpt[k].seq).epsilon(1e-6));
      CHECK(f.per_ctx == Approx(gpt[k].ctx).epsilon(1e-6));
      CHECK(f.per_token == Approx(gpt[k].token).epsilon(1e-6));
      CHECK(f.per_pair == Approx(gpt[k].pair).epsilon(1e-6));
      CHECK(f.sdlog == Approx(0).margin(1e-6)); // exact costs: no spread (but the clock's nanoseconds)
      CHECK(f.device_s > f.profile_s);          // the profile's entry is cheaper than these steps
    }
  }
}

TEST_CASE("the fit's spread is the spread of the steps around their fitted cost") {
  rig r;
  for (int i = 0; i < 200; ++i) // alternately 0.8x and 1.25x: log ratios -0.223 / +0.223 around the fit
    r.add("gpt", gpt, 1 + i % 3, 100 + i, i % 25 == 0 ? 64 : 0, i % 25 == 0 ? 64 * 65 / 2 : 0, 0.1, 1e-4,
          i % 2 ? 1.25 : 0.8);
  policies::profile_db db;
  db.put(entry("gpt"));
  auto fit = fit_steps(r.events, {{"gpt", {1, 2}}}, db);
  REQUIRE(fit);
  for (const auto& f : fit->models.at(0).stages)
    CHECK(f.sdlog == Approx(std::log(1.25)).epsilon(0.15));
}

TEST_CASE("steps not seen whole are left out, and a model with too few steps is named with why") {
  auto r = varied_steps(0.05);
  r.add("gpt", gpt, 1, 50, 0, 0, 0.05, 2e-4, 1.0, false); // no result: stopped mid-way
  for (int i = 0; i < 5; ++i)
    r.add("opt", gpt, 1, 50, 0, 0, 0.05, 2e-4);
  policies::profile_db db;
  db.put(entry("gpt"));
  db.put(entry("opt"));
  auto fit = fit_steps(r.events, {{"gpt", {1, 2}}, {"opt", {1, 2}}, {"bert", {2, 1}}}, db);
  REQUIRE(fit);
  CHECK(fit->steps == 68 + 1 + 5);
  CHECK(fit->complete_steps == 68 + 5);
  REQUIRE(fit->models.size() == 3);
  for (const auto& m : fit->models) {
    CAPTURE(m.model);
    if (m.model == "gpt")
      CHECK(m.stages.size() == 2);
    if (m.model == "opt")
      CHECK(m.why == "5 decode-only steps and 0 with prefill seen whole; the fit needs 20 and 3");
    if (m.model == "bert")
      CHECK(m.why == "no generation entry (op 2, pp 1) in the profile");
  }
}

TEST_CASE("the fitted costs replace the entry's, marked live, and the hop goes to every generating entry") {
  auto r = varied_steps(0.001);
  policies::profile_db db;
  db.put(entry("gpt"));
  auto other = entry("opt");
  other.config = {2, 1};
  other.stage_latency = {{0.01}};
  other.weight_bytes = {1};
  other.act_bytes = {{0}};
  for (auto* v : {&other.gen_step_s, &other.prefill_s_per_token, &other.decode_s_per_seq, &other.decode_s_per_ctx,
                  &other.kv_bytes_per_token})
    v->resize(1);
  db.put(other);
  auto one_pass = entry("bert");
  one_pass.gen_step_s.clear();
  one_pass.prefill_s_per_token.clear();
  one_pass.decode_s_per_seq.clear();
  one_pass.decode_s_per_ctx.clear();
  one_pass.kv_bytes_per_token.clear();
  one_pass.gen_hop_s = 0;
  db.put(one_pass);
  const std::map<std::string, policies::parallel_config> configs{{"gpt", {1, 2}}};
  auto fit = fit_steps(r.events, configs, db);
  REQUIRE(fit);
  REQUIRE(apply_step_fit(*fit, configs, db));
  const auto* e = db.find("gpt", {1, 2});
  REQUIRE(e);
  CHECK(e->gen_fitted_live);
  REQUIRE(e->gen_step_sdlog.size() == 2);
  CHECK(e->gen_step_s[1] == Approx(gpt[1].step).epsilon(1e-6));
  CHECK(e->prefill_s_per_pair[0] == Approx(gpt[0].pair).epsilon(1e-6));
  CHECK(e->kv_bytes_per_token == std::vector<double>{64, 64}); // not a cost: kept
  CHECK(e->gen_hop_s == Approx(2e-4).epsilon(1e-6));
  CHECK(db.find("opt", {2, 1})->gen_hop_s == Approx(2e-4).epsilon(1e-6)); // the runtime's hop, for every decoder
  CHECK_FALSE(db.find("opt", {2, 1})->gen_fitted_live);
  CHECK(db.find("bert", {1, 2})->gen_hop_s == 0); // not generating
  // The fields survive the profile's file.
  auto back = policies::profile_db::from_json(db.to_json());
  REQUIRE(back);
  CHECK(back->find("gpt", {1, 2})->gen_fitted_live);
  CHECK(back->find("gpt", {1, 2})->gen_step_sdlog == e->gen_step_sdlog);
}

TEST_CASE("a replay with no step seen whole, or nothing fitted, is an error that says why") {
  policies::profile_db db;
  db.put(entry("gpt"));
  auto none = fit_steps({}, {{"gpt", {1, 2}}}, db);
  REQUIRE_FALSE(none);
  CHECK_THAT(none.err().message, Catch::Contains("no generation step of the replay was seen whole"));
  rig r;
  for (int i = 0; i < 3; ++i)
    r.add("gpt", gpt, 1, 50, 0, 0, 0.05, 2e-4);
  auto few = fit_steps(r.events, {{"gpt", {1, 2}}}, db);
  REQUIRE(few);
  auto st = apply_step_fit(*few, {{"gpt", {1, 2}}}, db);
  REQUIRE_FALSE(st);
  CHECK_THAT(st.err().message, Catch::Contains("no model had enough steps to fit"));
  CHECK_FALSE(db.find("gpt", {1, 2})->gen_fitted_live);
}

TEST_CASE("the recorder holds the events emitted while it lives, and only those") {
  step_event e;
  e.model = "gpt";
  e.step = 1;
  emit_step_event(e); // before: nobody listens
  std::vector<step_event> got;
  {
    step_recorder rec;
    CHECK(step_events_wanted());
    e.step = 2;
    emit_step_event(e);
    e.point = step_point::done; // the stage actor's side of a device end: not kept (the fit does not use it)
    emit_step_event(e);
    e.point = step_point::plan;
    log_step_event(e); // a simulated step: logged at trace level only, never observed
    e.point = step_point::result;
    emit_step_event(e);
    got = rec.take();
  }
  e.step = 3;
  emit_step_event(e); // after: gone
  REQUIRE(got.size() == 2);
  CHECK(got[0].step == 2);
  CHECK(got[1].point == step_point::result);
}
