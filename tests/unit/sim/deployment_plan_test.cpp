// sim/deployment_plan: a config's placement policy planned into the groups the runtime serves (issue 11 §1).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "config/cluster_config.hpp"
#include "gpu/model_spec.hpp"
#include "policies/cost_model.hpp"
#include "sim/deployment_plan.hpp"

using namespace sy;

namespace {

const char* deployment = R"(nodes:
  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 2, memory: 256MiB}}
  - {name: n1, address: 127.0.0.1:1, devices: {kind: cpu, count: 2, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 2000}
  - {preset: tiny-bert, weights: {seed: 2}, slo_ms: 2000}
)";

config::cluster_config cfg_with(const std::string& placement) {
  auto c = config::parse_config(std::string{deployment} + placement, "d.yaml");
  REQUIRE(c);
  return *c;
}

/// The analytic profile of the two presets, marked as measured on `device`.
policies::profile_db profile_for(const std::string& device) {
  policies::cost_model cm{*policies::hardware("V100-16GB")};
  auto db = cm.profile_all({*gpu::preset("tiny-gpt"), *gpu::preset("tiny-bert")});
  REQUIRE(db);
  db->set_device(device);
  return *db;
}

} // namespace

TEST_CASE("a placement policy is planned into explicit groups that serve every model", "[sim][plan]") {
  auto cfg = cfg_with("placement: {policy: mp-search, workload: {rate: 40, duration: 20, seed: 3}}\n");
  auto w = sim::load_workload(cfg);
  REQUIRE(w);
  CHECK(w->requests.size() > 100);
  auto p = sim::plan_deployment(cfg, profile_for("cpu"), *w);
  REQUIRE(p);
  CHECK(p->plan.policy == "mp-search");
  CHECK(p->plan.expected_attainment >= 0);
  CHECK(p->resolved.placement.mode == config::placement_mode::explicit_groups);
  REQUIRE_FALSE(p->resolved.placement.groups.empty());
  std::vector<int> served(cfg.models.size(), 0), used(static_cast<std::size_t>(cfg.device_count()), 0);
  for (const auto& g : p->resolved.placement.groups) {
    CHECK(static_cast<int>(g.devices.size()) == g.op * g.pp);
    for (int m : g.models)
      ++served[static_cast<std::size_t>(m)];
    for (auto d : g.devices)
      ++used[static_cast<std::size_t>(cfg.global_index(d))];
  }
  for (int s : served)
    CHECK(s >= 1);
  for (int u : used)
    CHECK(u <= 1);
  auto json = sim::placement_json(p->resolved, cfg.placement, &*p);
  CHECK(json.find("\"source\":\"policy\"") != std::string::npos);
  CHECK(json.find("\"policy\":\"mp-search\"") != std::string::npos);
  CHECK(json.find("\"name\":\"" + p->resolved.placement.groups.front().name + "\"") != std::string::npos);
}

TEST_CASE("a profile for another device kind is refused with the key that named it", "[sim][plan]") {
  auto cfg = config::parse_config(std::string{deployment} + "placement:\n  policy: sr-greedy\n  profile: p.json\n", "d.yaml");
  REQUIRE(cfg);
  auto w = sim::load_workload(*cfg);
  REQUIRE(w);
  auto p = sim::plan_deployment(*cfg, profile_for("V100-16GB"), *w);
  REQUIRE_FALSE(p);
  CHECK(p.err().message == "d.yaml:9:12: placement.profile: expected a profile for the deployment's cpu devices, "
                           "found one for V100-16GB (kind cuda)");
  CHECK(sim::plan_deployment(*cfg, profile_for("cpu"), *w)); // the same entries marked cpu plan
  CHECK(sim::plan_deployment(*cfg, profile_for(""), *w));    // unknown kind (older files) passes
}

TEST_CASE("a re-placing or unknown policy, and a model nothing can place, are precise errors", "[sim][plan]") {
  auto replace = cfg_with("placement: {policy: sr-replace-30}\n");
  auto w = sim::load_workload(replace);
  REQUIRE(w);
  auto r = sim::plan_deployment(replace, profile_for("cpu"), *w);
  REQUIRE_FALSE(r);
  CHECK(r.err().message.find("d.yaml:7:21: placement.policy: expected a policy that places once") == 0);
  // tiny-bert's entries weigh more than the weight budget (0.85 x 256 MiB) in every config.
  auto db = profile_for("cpu");
  policies::profile_db heavy;
  heavy.set_device("cpu");
  for (const auto& [key, e] : db.entries()) {
    auto copy = e;
    if (copy.model == "tiny-bert")
      for (auto& b : copy.weight_bytes)
        b = 1e12;
    heavy.put(copy);
  }
  auto cfg = cfg_with("placement: {policy: mp-search}\n");
  auto p = sim::plan_deployment(cfg, heavy, *w);
  REQUIRE_FALSE(p);
  CHECK(p.err().message.find("d.yaml:7:21: placement.policy: expected a placement that serves every model, found "
                             "that mp-search placed no replica of model 'tiny-bert'") == 0);
}

TEST_CASE("a workload naming a model the deployment lacks is refused where the workload is configured", "[sim][plan]") {
  auto cfg = cfg_with("placement: {policy: mp-search, workload: {records: /nonexistent/records.csv}}\n");
  auto w = sim::load_workload(cfg);
  REQUIRE_FALSE(w);
  CHECK(w.err().message.find("d.yaml:7:42: placement.workload: cannot read the workload") == 0);
  auto t = sim::parse_records_csv("id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait\n"
                                  "0,tiny-gpt,0.5,0.5,0.5,0.6,ok,,g0,1,0\n"
                                  "1,other,0.25,0.25,0.25,0.25,rejected,\"overload, 3 in flight\",-1,0,0\n",
                                  "r.csv", 8);
  REQUIRE(t);
  REQUIRE(t->requests.size() == 2);
  CHECK(t->requests[0].arrival_s == 0.25); // sorted by arrival
  CHECK(t->models[static_cast<std::size_t>(t->requests[0].model)] == "other");
  CHECK(t->requests[1].input_tokens == 8);
  auto bad = sim::parse_records_csv("id,model,arrival\n0,tiny-gpt,soon\n", "r.csv", 8);
  REQUIRE_FALSE(bad);
  CHECK(bad.err().message == "r.csv:2: arrival: expected a non-negative number of seconds, found 'soon'");
  auto header = sim::parse_records_csv("a,b\n", "r.csv", 8);
  REQUIRE_FALSE(header);
  CHECK(header.err().message.find("r.csv:1: header: expected a records header") == 0);
}

namespace {

/// One-device entries of the two decoders: 80 MiB of weights each and `kv` KV bytes per context token.
policies::profile_db decoder_profile(double kv) {
  policies::profile_db db;
  db.set_device("cpu");
  for (const char* name : {"tiny-gpt", "small-gpt"}) {
    policies::profile_entry e;
    e.model = name;
    e.config = {1, 1};
    e.stage_latency = {{0.05}};
    e.act_bytes = {{0}};
    e.weight_bytes = {80.0 * (1 << 20)};
    e.load_seconds = {0.1};
    e.gen_step_s = {0.001};
    e.prefill_s_per_token = {1e-4};
    e.decode_s_per_seq = {1e-4};
    e.decode_s_per_ctx = {0};
    e.kv_bytes_per_token = {kv};
    db.put(e);
  }
  return db;
}

} // namespace

TEST_CASE("the memory rule keeps room for one full sequence's KV per decoder, which changes the chosen placement",
          "[sim][plan]") {
  // Two 256 MiB devices: the weight budget is 0.85 x 256 = 217.6 MiB per device. Weights alone (2 x 80 MiB)
  // let both decoders share a device; with the KV of one full sequence each at 0.25 MiB per token (tiny-gpt:
  // 64 positions, 96 MiB in all; small-gpt: 256 positions, 144 MiB) they need 240 MiB together: one a device.
  auto cfg = config::parse_config(R"(nodes:
  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 2, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 120}
  - {preset: small-gpt, weights: {seed: 2}, slo_ms: 120}
placement: {policy: mp-search, workload: {rate: 60, duration: 20, seed: 3}}
)", "d.yaml");
  REQUIRE(cfg);
  REQUIRE(cfg->models[0].spec.max_seq == 64);
  REQUIRE(cfg->models[1].spec.max_seq == 256);
  CHECK(sim::kv_room_tokens(64) == 64);
  CHECK(sim::kv_room_tokens(65) == 80); // whole blocks of 16
  auto w = sim::load_workload(*cfg);
  REQUIRE(w);
  auto both_on_one = [](const sim::deployment_plan& p) {
    for (const auto& g : p.resolved.placement.groups)
      if (g.models.size() >= 2)
        return true;
    return false;
  };
  auto tiny_kv = sim::plan_deployment(*cfg, decoder_profile(1), *w); // KV room negligible: weights decide
  REQUIRE(tiny_kv);
  CHECK(both_on_one(*tiny_kv));
  auto with_kv = sim::plan_deployment(*cfg, decoder_profile(0.25 * (1 << 20)), *w);
  // small-gpt: 80 + 64 MiB; tiny-gpt: 80 + 16 MiB (64 x 0.25 MiB): 240 MiB together, over the budget
  REQUIRE(with_kv);
  CHECK_FALSE(both_on_one(*with_kv));
  for (const auto& g : with_kv->resolved.placement.groups)
    CHECK(g.models.size() == 1);
  auto prof = sim::profile_for_config(*cfg, decoder_profile(0.25 * (1 << 20)));
  REQUIRE(prof);
  const auto* v = prof->table.view({1, 1});
  REQUIRE(v);
  CHECK(v->max_weight[0] == Approx(80.0 * (1 << 20) + 64 * 0.25 * (1 << 20)));
  CHECK(v->max_weight[1] == Approx(80.0 * (1 << 20) + 256 * 0.25 * (1 << 20)));
  CHECK(v->weight_bytes[0] == 80.0 * (1 << 20)); // the stages' own weights are unchanged
}
