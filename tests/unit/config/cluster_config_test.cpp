#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/cluster_config.hpp"

using namespace sy::config;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const char* minimal = R"(
nodes:
  - name: solo
    devices: {count: 2, memory: 1GiB}
models:
  - preset: tiny-gpt
)";
} // namespace

TEST_CASE("configs/local.yaml and the embedded default are the same text and it validates", "[config]") {
  // ctest runs from the repository root (tests/CMakeLists.txt).
  std::string file = slurp("configs/local.yaml");
  CHECK(file == std::string{embedded_default_text()});
  auto parsed = load_config("configs/local.yaml");
  REQUIRE(parsed.ok());
  const cluster_config& c = embedded_default();
  REQUIRE(c.nodes.size() == 1);
  CHECK(c.device_count() == 4);
  for (const auto& d : c.nodes[0].devices) {
    CHECK(d.kind == device_kind::cpu);
    CHECK(d.memory_bytes == 256LL * 1024 * 1024);
  }
  CHECK(c.models.size() == 4);
  CHECK(c.find_model("tiny-gpt") != nullptr);
  CHECK(c.find_model("small-bert") != nullptr);
  REQUIRE(c.placement.mode == placement_mode::explicit_groups);
  REQUIRE(c.placement.groups.size() == 2);
  CHECK(c.placement.groups[0].op * c.placement.groups[0].pp == 2);
  CHECK(c.ingress.bind == "127.0.0.1");
  CHECK(to_yaml(*parsed) == to_yaml(c));
}

TEST_CASE("configs/reference.yaml is a valid deployment", "[config]") {
  auto r = load_config("configs/reference.yaml");
  REQUIRE(r.ok());
  CHECK(r->nodes.size() == 2);
  CHECK(r->nodes[1].devices[1].memory_bytes == 75161927680LL);
  CHECK(r->nodes[0].devices[0].memory_bytes == 70LL << 30);
  CHECK(r->controller.address() == "10.0.0.1:7410");
  const auto* custom = r->find_model("encoder-custom");
  REQUIRE(custom != nullptr);
  CHECK(custom->spec.kind == sy::gpu::arch::encoder);
  CHECK(custom->spec.layers == 12);
  CHECK(custom->slo == std::chrono::microseconds{120500});
  REQUIRE(r->placement.groups.size() == 2);
  const auto& shards = r->placement.groups[1];
  CHECK(shards.op == 2);
  CHECK(shards.pp == 1);
  CHECK(r->global_index(shards.devices[0]) == 2);
  CHECK(r->global_index(shards.devices[1]) == 3);
}

TEST_CASE("a minimal config gets every documented default", "[config]") {
  auto r = parse_config(minimal, "min.yaml");
  REQUIRE(r.ok());
  const auto& c = *r;
  CHECK(c.source == "min.yaml");
  CHECK(c.nodes[0].host == "127.0.0.1");
  CHECK(c.nodes[0].port == 0);
  CHECK(c.nodes[0].devices[1].ordinal == 1);
  CHECK(c.nodes[0].devices[1].kind == device_kind::cpu);
  const auto& m = c.models[0];
  CHECK(m.name == "tiny-gpt");
  CHECK(m.preset == "tiny-gpt");
  CHECK(m.spec.name == "tiny-gpt");
  CHECK(m.spec.hidden == sy::gpu::preset("tiny-gpt")->hidden);
  CHECK(m.weights.kind == weights_config::source::seed);
  CHECK(m.weights.seed == 0);
  CHECK_FALSE(m.slo.has_value());
  CHECK(c.placement.mode == placement_mode::policy); // no placement section: the default policy, planned at start
  CHECK(c.placement.policy.name == "mp-search");
  CHECK(c.placement.workload.kind == workload_config::source::synthetic);
  CHECK(c.placement.profile.path.empty()); // measured on the deployment's devices
  CHECK(c.policies.admission.name == "slo");
  CHECK(c.policies.dispatch.name == "earliest-free");
  CHECK(c.policies.batching.name == "none");
  CHECK(c.policies.eviction.name == "lru");
  CHECK(c.ingress.msgpack_port == 7400);
  CHECK(c.ingress.http_port == 7401);
  CHECK(c.ingress.max_in_flight == 1024);
  CHECK(c.metrics.port == 7402);
  CHECK(c.controller.address() == "127.0.0.1:7410");
  CHECK(c.runtime.request_timeout == std::chrono::milliseconds{30000});
  CHECK(c.runtime.node_timeout > c.runtime.heartbeat_interval);
}

TEST_CASE("an inline architecture and preset overrides are normalized into the model spec", "[config]") {
  auto r = parse_config(R"(
nodes: [{name: n, devices: {count: 1, memory: 4GiB}}]
models:
  - {name: wide, preset: tiny-gpt, hidden: 128, dtype: bf16, slo_ms: 2.5}
  - {name: custom, arch: bert, layers: 3, hidden: 96, heads: 6, vocab: 1000, max_seq: 32,
     weights: {safetensors: w/custom.safetensors}}
)",
                        "m.yaml", "/data/deploy");
  REQUIRE(r.ok());
  const auto& wide = r->models[0].spec;
  CHECK(wide.hidden == 128);
  CHECK(wide.ffn == 4 * 128); // ffn follows an overridden hidden
  CHECK(wide.layers == sy::gpu::preset("tiny-gpt")->layers);
  CHECK(wide.type == sy::gpu::dtype::bf16);
  CHECK(r->models[0].slo == std::chrono::microseconds{2500});
  const auto& custom = r->models[1];
  CHECK(custom.preset.empty());
  CHECK(custom.spec.kind == sy::gpu::arch::encoder);
  CHECK(custom.spec.ffn == 384);
  CHECK(custom.spec.type == sy::gpu::dtype::f32);
  CHECK(custom.weights.kind == weights_config::source::safetensors);
  CHECK(custom.weights.path == "/data/deploy/w/custom.safetensors");
}

TEST_CASE("the short and the long device forms describe the same devices", "[config]") {
  auto a = parse_config(R"(
nodes: [{name: n, devices: {kind: cuda, count: 2, memory: 512MiB}}]
models: [{preset: tiny-bert}]
)");
  auto b = parse_config(R"(
nodes: [{name: n, devices: [{kind: cuda, memory: 536870912}, {kind: gpu, index: 1, memory: 0.5GiB}]}]
models: [{preset: tiny-bert}]
)");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(to_yaml(*a) == to_yaml(*b));
  CHECK(a->nodes[0].devices[1].kind == device_kind::cuda);
}

TEST_CASE("policy parameters keep their scalar types", "[config]") {
  auto r = parse_config(std::string{minimal} + R"(
policies:
  batching: {name: greedy, max_batch: 8, window: 0.5, strict: true, label: "8", mode: fast}
  dispatch: shortest-queue
)");
  REQUIRE(r.ok());
  const auto& p = r->policies.batching.params;
  CHECK(r->policies.batching.name == "greedy");
  CHECK(std::get<std::int64_t>(p.at("max_batch")) == 8);
  CHECK(std::get<double>(p.at("window")) == 0.5);
  CHECK(std::get<bool>(p.at("strict")) == true);
  CHECK(std::get<std::string>(p.at("label")) == "8");
  CHECK(std::get<std::string>(p.at("mode")) == "fast");
  CHECK(r->policies.dispatch.name == "shortest-queue");
}

TEST_CASE("placement may name a policy with parameters or a plan file", "[config]") {
  auto pol = parse_config(std::string{minimal} + "placement: {policy: selective-replication, threads: 2}\n");
  REQUIRE(pol.ok());
  CHECK(pol->placement.mode == placement_mode::policy);
  CHECK(pol->placement.policy.name == "sr-greedy"); // the alias is normalized to the registry's name
  CHECK(std::get<std::int64_t>(pol->placement.policy.params.at("threads")) == 2);
  auto unknown = parse_config(std::string{minimal} + "placement: {policy: sr-greedy, group_size: 2}\n");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.err().message.find("placement.group_size") != std::string::npos);
  auto plan = parse_config(std::string{minimal} + "placement: {plan: plans/p.json}\n", "x.yaml", "/etc/sy");
  REQUIRE(plan.ok());
  CHECK(plan->placement.mode == placement_mode::plan_file);
  CHECK(plan->placement.plan_path == "/etc/sy/plans/p.json");
}

TEST_CASE("groups may span nodes and devices are numbered globally in node order", "[config]") {
  auto r = parse_config(R"(
nodes:
  - {name: a, address: "h1:1", devices: {count: 2, memory: 1GiB}}
  - {name: b, address: "h2:1", devices: [{index: 4, memory: 1GiB}, {index: 6, memory: 1GiB}]}
models: [{preset: tiny-gpt}]
placement:
  groups:
    - {devices: ["a:1", "b:6"], pipeline: 2, models: [tiny-gpt]}
    - {node: b, devices: [4], models: [tiny-gpt]}
)");
  REQUIRE(r.ok());
  const auto& g0 = r->placement.groups[0];
  CHECK(g0.name == "g0");
  CHECK(r->global_index(g0.devices[0]) == 1);
  CHECK(r->global_index(g0.devices[1]) == 3);
  CHECK(r->device(g0.devices[1]).ordinal == 6);
  CHECK(r->global_index(r->placement.groups[1].devices[0]) == 2);
  for (int g = 0; g < r->device_count(); ++g)
    CHECK(r->global_index(r->device_at(g)) == g);
}

TEST_CASE("to_yaml of a config parses back to the same normalized config", "[config]") {
  for (const char* path : {"configs/local.yaml", "configs/reference.yaml"}) {
    INFO(path);
    auto c = load_config(path);
    REQUIRE(c.ok());
    std::string once = to_yaml(*c);
    auto again = parse_config(once, "printed.yaml", "/");
    REQUIRE(again.ok());
    CHECK(to_yaml(*again) == once);
    CHECK(again->models.size() == c->models.size());
    CHECK(again->placement.groups.size() == c->placement.groups.size());
  }
}

TEST_CASE("policy parameters print so that they parse back to the same type and value", "[config]") {
  CHECK(to_string(param_value{0.1}) == "0.1");
  CHECK(to_string(param_value{2.0}) == "2.0");
  CHECK(to_string(param_value{std::int64_t{2}}) == "2");
  CHECK(to_string(param_value{true}) == "true");
  auto r = parse_config(std::string{minimal} + "policies: {eviction: {name: demand-aware, alpha: 2.0, k: 3}}\n");
  REQUIRE(r.ok());
  auto again = parse_config(to_yaml(*r));
  REQUIRE(again.ok());
  CHECK(std::get<double>(again->policies.eviction.params.at("alpha")) == 2.0);
  CHECK(std::get<std::int64_t>(again->policies.eviction.params.at("k")) == 3);
}

TEST_CASE("placement policy names follow the placement registry, its parameterised names and aliases",
          "[config]") {
  CHECK(canonical_policy_name("placement", "mp-search") == "mp-search");
  CHECK(canonical_policy_name("placement", "round-robin") == "mp-round-robin");
  CHECK(canonical_policy_name("placement", "sr-replace-60") == "sr-replace-60");
  CHECK(canonical_policy_name("placement", "mp-greedy-4") == "mp-greedy-4");
  CHECK(canonical_policy_name("placement", "sr-replace-").empty());
  CHECK(canonical_policy_name("placement", "clockwork").empty());
  CHECK(canonical_policy_name("batching", "greedy") == "greedy");
  CHECK(canonical_policy_name("batching", "round-robin").empty());
  auto r = parse_config(std::string{minimal} + "placement: {policy: sr-replace-30}\n");
  REQUIRE(r.ok());
  CHECK(r->placement.policy.name == "sr-replace-30");
}

TEST_CASE("every example in configs/ is a valid deployment", "[config]") {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("configs")) {
    if (entry.path().extension() != ".yaml")
      continue;
    INFO(entry.path().string());
    auto r = load_config(entry.path().string());
    if (!r.ok())
      FAIL(r.err().message);
    ++n;
  }
  CHECK(n >= 4); // local, reference, two-node, alpaserve-8gpu
}

TEST_CASE("a policy placement reads its workload, profile, SLO scale and plan output, and prints them back", "[config]") {
  auto r = parse_config(std::string{minimal} + R"(placement:
  policy: swap-aware
  workload: {trace: traces/t.csv, tokens: 32}
  profile: prof.json
  profile_cache: cache
  slo_scale: 3.5
  write: out/plan.yaml
  overcommit: 2
)", "x.yaml", "/etc/sy");
  REQUIRE(r.ok());
  const auto& p = r->placement;
  CHECK(p.policy.name == "swap-aware");
  CHECK(p.workload.kind == workload_config::source::trace);
  CHECK(p.workload.path == "/etc/sy/traces/t.csv");
  CHECK(p.workload.tokens == 32);
  CHECK(p.profile.path == "/etc/sy/prof.json");
  CHECK(p.profile.cache_dir == "/etc/sy/cache");
  CHECK(p.slo_scale == 3.5);
  CHECK(p.write_path == "/etc/sy/out/plan.yaml");
  CHECK(std::get<double>(p.policy.params.at("overcommit")) == 2);
  auto again = parse_config(to_yaml(*r), "x.yaml", "/etc/sy");
  REQUIRE(again.ok());
  CHECK(to_yaml(*again) == to_yaml(*r));
  auto synth = parse_config(std::string{minimal} + "placement: {policy: mp-search, workload: {rate: 7.5, cv: 3, "
                                                   "duration: 20, popularity: 0, seed: 4}}\n");
  REQUIRE(synth.ok());
  CHECK(synth->placement.workload.kind == workload_config::source::synthetic);
  CHECK(synth->placement.workload.rate == 7.5);
  CHECK(synth->placement.workload.popularity == 0);
  CHECK(synth->placement.workload.seed == 4);
  auto synth_again = parse_config(to_yaml(*synth));
  REQUIRE(synth_again.ok());
  CHECK(to_yaml(*synth_again) == to_yaml(*synth));
}

TEST_CASE("a policy placement's bad workload is refused with its location", "[config]") {
  auto both = parse_config(std::string{minimal} + "placement:\n  policy: mp-search\n  workload: {trace: t.csv, rate: 3}\n");
  REQUIRE_FALSE(both.ok());
  CHECK(both.err().message.find("placement.workload: expected one workload source") != std::string::npos);
  auto key = parse_config(std::string{minimal} + "placement:\n  policy: mp-search\n  workload: {trac: t.csv}\n");
  REQUIRE_FALSE(key.ok());
  CHECK(key.err().message.find("placement.workload") != std::string::npos);
  auto rate = parse_config(std::string{minimal} + "placement:\n  policy: mp-search\n  workload: {rate: -2}\n");
  REQUIRE_FALSE(rate.ok());
  CHECK(rate.err().message.find(":9:") != std::string::npos);
  CHECK(rate.err().message.find("placement.workload.rate: expected a positive number") != std::string::npos);
}
