// start_cluster on the real scheduler and the cpu engine: blocking requests with timeouts, no sleeps.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/cluster.hpp"
#include "config/cluster_config.hpp"
#include "gpu/backend.hpp"
#include "gpu/pipeline.hpp"
#include "gpu/shard.hpp"
#include "gpu/weights.hpp"
#include "messages/type_ids.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;

namespace {

struct real_config : caf::actor_system_config {
  real_config() {
    set("scheduler.max-threads", 2);
    set("logger.console-verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
    messages::add_message_types(*this);
  }
};

struct cluster_rig {
  real_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  config::cluster_config conf;
  actors::cluster_handle h;

  explicit cluster_rig(const std::string& yaml) {
    auto c = config::parse_config(yaml, "test.yaml");
    if (!c)
      FAIL(c.err().to_string());
    conf = *c;
    auto started = actors::start_cluster(sys, conf, {{}, 20000ms, true});
    if (!started)
      FAIL(started.err().to_string());
    h = *started;
  }
  ~cluster_rig() {
    auto st = actors::stop_cluster(sys, h);
    CHECK(st.ok());
  }

  template <class T, class... Ts>
  T ask(Ts&&... xs) {
    T out{};
    self->request(h.controller, 20s, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { FAIL(sys.render(e)); });
    return out;
  }
  infer_response infer(std::uint64_t id, const std::string& model, std::vector<std::int32_t> tokens) {
    return ask<infer_response>(infer_atom_v, infer_request{request_id{id}, model, std::move(tokens), std::nullopt});
  }
};

/// The engine's synchronous pipeline output for the same model, layout and tokens.
std::vector<float> reference(const config::model_config& mc, int tp, int pp, const std::vector<std::int32_t>& tokens) {
  auto b = gpu::open_devices(gpu::backend_kind::cpu, tp * pp, 64u << 20);
  REQUIRE(b);
  auto w = gpu::generate_weights(mc.spec, mc.weights.seed);
  REQUIRE(w);
  auto layout = gpu::even_layout(mc.spec, tp, pp);
  REQUIRE(layout);
  auto p = gpu::pipeline::create(**b, mc.spec, *layout, *w);
  REQUIRE(p);
  REQUIRE((*p)->load().ok());
  auto out = (*p)->run(tokens, 1, nullptr, gpu::pipeline::handoff::host); // the actors hand over on device
  REQUIRE(out);
  return *out;
}

bool close(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::fabs(a[i] - b[i]) > 1e-4f * (1 + std::fabs(b[i])))
      return false;
  return true;
}

const char* two_groups = R"(
nodes:
  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 4, memory: 64MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 5000}
  - {preset: tiny-bert, weights: {seed: 3}, slo_ms: 5000}
placement:
  groups:
    - {name: gpt, devices: [0, 1], pipeline: 2, models: [tiny-gpt]}
    - {name: bert, devices: [2, 3], tensor: 2, models: [tiny-bert]}
policies: {admission: slo, batching: {name: greedy, max_batch: 4}}
)";

} // namespace

TEST_CASE("a started cluster answers with the engine's output through pipeline and tensor-parallel groups") {
  cluster_rig c{two_groups};
  auto health = c.ask<health_report>(health_atom_v);
  CHECK(health.ready);
  CHECK(health.groups == 2);
  std::vector<std::int32_t> tokens = {5, 17, 3, 42};
  auto gpt = c.infer(1, "tiny-gpt", tokens);
  REQUIRE(gpt.status == request_status::ok);
  CHECK(gpt.id == request_id{1});
  CHECK(gpt.output.shape == std::vector<std::int64_t>{512});
  CHECK(gpt.timings.group == "gpt");
  CHECK(gpt.timings.finish >= gpt.timings.start);
  CHECK(close(gpt.output.to_f32(), reference(c.conf.models[0], 1, 2, tokens)));
  auto bert = c.infer(2, "tiny-bert", tokens);
  REQUIRE(bert.status == request_status::ok);
  CHECK(bert.output.shape == std::vector<std::int64_t>{64});
  CHECK(close(bert.output.to_f32(), reference(c.conf.models[1], 2, 1, tokens)));
}

TEST_CASE("the controller rejects unknown models and bad input, and lists, unloads and reloads models") {
  cluster_rig c{two_groups};
  auto unknown = c.infer(7, "gpt-5", {1});
  CHECK(unknown.status == request_status::rejected);
  CHECK(unknown.reason == "unknown model");
  auto bad = c.infer(8, "tiny-gpt", {9999});
  CHECK(bad.status == request_status::rejected);
  auto models = c.ask<std::vector<model_info>>(list_atom_v);
  REQUIRE(models.size() == 2);
  REQUIRE(models[0].replicas.size() == 1);
  CHECK(models[0].replicas[0].state == residency::resident); // preloaded
  auto un = c.ask<ack>(unload_atom_v, model_command{"tiny-gpt", ""});
  CHECK(un.ok);
  models = c.ask<std::vector<model_info>>(list_atom_v);
  CHECK(models[0].replicas[0].state == residency::evicted);
  // a request for the evicted model swaps it back in
  auto again = c.infer(9, "tiny-gpt", {1, 2});
  CHECK(again.status == request_status::ok);
  auto m = c.ask<metrics_snapshot>(metrics_atom_v);
  CHECK(m.requests["tiny-gpt"].ok == 1);
  CHECK(m.requests["tiny-gpt"].rejected == 1);
  CHECK(m.requests["gpt-5"].rejected == 1);
  CHECK(m.rejected_by_reason["unknown model"] == 1);
  CHECK(m.swaps["n0/0"].loads == 2);
  CHECK(m.swaps["n0/0"].evictions == 1);
  CHECK(m.latency["tiny-gpt"].count == 1);
  auto concurrent1 = c.ask<ack>(load_atom_v, model_command{"tiny-bert", ""});
  CHECK(concurrent1.ok);
}

TEST_CASE("a device holding more models than fit swaps them and answers every request of a burst once") {
  // budget for one tiny-gpt shard (of two) on the single device
  auto spec = gpu::preset("tiny-gpt");
  REQUIRE(spec);
  auto layout = gpu::even_layout(*spec, 1, 1);
  auto plan = gpu::plan_shard(*spec, *layout, 0, 0, spec->type);
  REQUIRE(plan);
  auto memory = static_cast<long long>(static_cast<double>(plan->bytes) * 2.3);
  auto weights_budget = static_cast<double>(memory) * 0.85;
  REQUIRE(weights_budget < 2.0 * static_cast<double>(plan->bytes));
  std::string yaml = "nodes:\n  - {name: n0, address: 127.0.0.1:0, devices: {kind: cpu, count: 1, memory: "
                     + std::to_string(memory) + "}}\nmodels:\n"
                       "  - {name: a, preset: tiny-gpt, weights: {seed: 1}}\n"
                       "  - {name: b, preset: tiny-gpt, weights: {seed: 2}}\n"
                       "placement:\n  groups:\n    - {name: g, devices: [0], models: [a, b]}\n"
                       "policies: {admission: none, batching: {name: greedy, max_batch: 4}}\n";
  cluster_rig c{yaml};
  const int n = 24;
  for (int i = 0; i < n; ++i)
    c.self->send(c.h.controller, infer_atom_v,
                 infer_request{request_id{static_cast<std::uint64_t>(i)}, i % 3 ? "a" : "b", {i % 50 + 1}, std::nullopt});
  std::set<std::uint64_t> ids;
  int ok = 0;
  for (int i = 0; i < n; ++i)
    c.self->receive(
      [&](infer_response& r) {
        ids.insert(r.id.value);
        ok += r.status == request_status::ok;
      },
      caf::after(30s) >> [&] { FAIL("a request was never answered"); });
  CHECK(ids.size() == static_cast<std::size_t>(n));
  CHECK(ok == n);
  auto m = c.ask<metrics_snapshot>(metrics_atom_v);
  CHECK(m.swaps["n0/0"].loads >= 2);
  CHECK(m.swaps["n0/0"].evictions >= 1);
  CHECK(m.in_flight == 0);
}
