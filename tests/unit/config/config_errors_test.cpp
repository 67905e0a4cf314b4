// One test per class of config error: each checks the location (file:line:column), the key path, what was
// expected and what was found.
#include <catch2/catch.hpp>

#include "config/cluster_config.hpp"

using namespace sy::config;

namespace {
std::string error_of(const std::string& text) {
  auto r = parse_config(text, "cluster.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().category == "config");
  return r.err().message;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// line 1 is empty; nodes on 2-4, models on 5-7
const std::string nodes = R"(
nodes:
  - name: n0
    devices: {count: 4, memory: 256MiB}
)";
const std::string models = R"(models:
  - {name: a, preset: tiny-gpt, slo_ms: 50}
  - {name: b, preset: tiny-bert}
)";
} // namespace

TEST_CASE("an unknown key is reported with a did-you-mean suggestion", "[config][errors]") {
  auto e = error_of(nodes + models + "placment: {policy: round-robin}\n");
  INFO(e);
  CHECK(starts_with(e, "cluster.yaml:8:1: placment: expected a key of a deployment"));
  CHECK(contains(e, "found unknown key \"placment\" (did you mean \"placement\"?)"));
  auto far = error_of(nodes + models + "colour: blue\n");
  CHECK_FALSE(contains(far, "did you mean"));
  auto nested = error_of(nodes + "models:\n  - {name: a, prest: tiny-gpt}\n");
  INFO(nested);
  CHECK(starts_with(nested, "cluster.yaml:6:15: models[0].prest:"));
  CHECK(contains(nested, "did you mean \"preset\"?"));
}

TEST_CASE("a value of the wrong type names what was expected and what was found", "[config][errors]") {
  auto e = error_of(nodes + "models:\n  - {name: a, preset: tiny-gpt, slo_ms: fast}\n");
  INFO(e);
  CHECK(e == "cluster.yaml:6:41: models[0].slo_ms: expected a positive number, found \"fast\"");
  auto list = error_of(nodes + "models:\n  - {name: a, preset: tiny-gpt, layers: [1, 2]}\n");
  CHECK(contains(list, "models[0].layers: expected a positive integer up to 4096, found a list"));
  auto top = error_of("nodes: 3\nmodels: []\n");
  CHECK(starts_with(top, "cluster.yaml:1:8: nodes: expected a list of nodes, found \"3\""));
}

TEST_CASE("an output kind the model cannot give is refused with what it can give", "[config][errors]") {
  auto e = error_of(nodes + "models:\n  - {name: a, preset: tiny-bert, output: logits_all}\n");
  INFO(e);
  CHECK(starts_with(e, "cluster.yaml:6:42: models[0].output: expected an output this model computes"));
  CHECK(contains(e, "pooler, cls, mean, mean_normalized, hidden"));
  auto typo = error_of(nodes + "models:\n  - {name: a, preset: tiny-gpt, output: mean-pooled}\n");
  CHECK(contains(typo, "models[0].output: expected one of logits_last, logits_all, pooler"));
}

TEST_CASE("a zero or negative size is rejected", "[config][errors]") {
  auto neg = error_of("nodes:\n  - {name: n0, devices: {count: 1, memory: -5}}\n" + models);
  INFO(neg);
  CHECK(starts_with(neg, "cluster.yaml:2:44: nodes[0].devices.memory: expected a positive size"));
  CHECK(contains(neg, "found \"-5\" (negative)"));
  auto zero = error_of("nodes:\n  - {name: n0, devices: {count: 1, memory: 0GiB}}\n" + models);
  CHECK(contains(zero, "found \"0GiB\" (zero)"));
}

TEST_CASE("a size with an unknown unit is rejected and the units are listed", "[config][errors]") {
  auto e = error_of("nodes:\n  - {name: n0, devices: {count: 1, memory: 512MeB}}\n" + models);
  INFO(e);
  CHECK(starts_with(e, "cluster.yaml:2:44: nodes[0].devices.memory:"));
  CHECK(contains(e, "KiB, MB, MiB"));
  CHECK(contains(e, "found \"512MeB\" (unknown unit \"MeB\")"));
}

TEST_CASE("a missing required key is reported at the mapping that lacks it", "[config][errors]") {
  auto e = error_of(nodes);
  INFO(e);
  CHECK(e == "cluster.yaml:2:1: models: expected a list of models, found nothing (key missing)");
  auto mem = error_of("nodes:\n  - name: n0\n    devices: {count: 2}\n" + models);
  CHECK(starts_with(mem, "cluster.yaml:3:14: nodes[0].devices.memory: expected a memory budget"));
  auto arch = error_of(nodes + "models:\n  - {name: x, layers: 2}\n");
  CHECK(contains(arch, "models[0].arch: expected decoder or encoder (no preset given), found nothing"));
}

TEST_CASE("a duplicate model name points at the second one and the line of the first", "[config][errors]") {
  auto e = error_of(nodes + "models:\n  - {name: a, preset: tiny-gpt}\n  - {name: a, preset: tiny-bert}\n");
  INFO(e);
  CHECK(e == "cluster.yaml:7:12: models[1].name: expected a unique model name, found \"a\" again (first at line 6)");
  // two entries of the same preset without names are duplicates too
  auto presets = error_of(nodes + "models:\n  - {preset: tiny-gpt}\n  - {preset: tiny-gpt}\n");
  CHECK(contains(presets, "models[1].name: expected a unique model name, found \"tiny-gpt\" again"));
}

TEST_CASE("a duplicate node name, node address or device index is rejected", "[config][errors]") {
  auto name = error_of("nodes:\n  - {name: n0, devices: {count: 1, memory: 1GiB}}\n"
                       "  - {name: n0, devices: {count: 1, memory: 1GiB}}\n" + models);
  INFO(name);
  CHECK(starts_with(name, "cluster.yaml:3:12: nodes[1].name: expected a unique node name, found \"n0\" again"));
  auto addr = error_of("nodes:\n  - {name: n0, address: \"h:1\", devices: {count: 1, memory: 1GiB}}\n"
                       "  - {name: n1, address: \"h:1\", devices: {count: 1, memory: 1GiB}}\n" + models);
  CHECK(contains(addr, "nodes[1].address: expected an address unique among nodes, found \"h:1\" again"));
  auto dev = error_of("nodes:\n  - name: n0\n    devices:\n      - {index: 3, memory: 1GiB}\n"
                      "      - {index: 3, memory: 1GiB}\n" + models);
  INFO(dev);
  CHECK(starts_with(dev, "cluster.yaml:5:17: nodes[0].devices[1].index: expected a device index unique on the node"));
  CHECK(contains(dev, "found \"3\" again (first at line 4)"));
}

TEST_CASE("an unknown preset lists the known ones and suggests the nearest", "[config][errors]") {
  auto e = error_of(nodes + "models:\n  - {name: a, preset: tiny-gtp}\n");
  INFO(e);
  CHECK(starts_with(e, "cluster.yaml:6:23: models[0].preset: expected a preset name (one of: tiny-gpt,"));
  CHECK(contains(e, "bert-1.3b"));
  CHECK(contains(e, "found \"tiny-gtp\" (did you mean \"tiny-gpt\"?)"));
}

TEST_CASE("an unknown dtype is rejected", "[config][errors]") {
  auto e = error_of(nodes + "models:\n  - {name: a, preset: tiny-gpt, dtype: f8}\n");
  CHECK(e == "cluster.yaml:6:40: models[0].dtype: expected a dtype (f32, f16, bf16), found \"f8\"");
}

TEST_CASE("an unknown policy name lists the registry's names for that kind", "[config][errors]") {
  auto e = error_of(nodes + models + "policies:\n  batching: {name: greedyy, max_batch: 4}\n");
  INFO(e);
  CHECK(e == "cluster.yaml:9:20: policies.batching.name: expected a batching policy (one of: none, greedy), "
             "found \"greedyy\" (did you mean \"greedy\"?)");
  auto adm = error_of(nodes + models + "policies: {admission: fifo}\n");
  CHECK(contains(adm, "policies.admission: expected an admission policy (one of: slo, none), found \"fifo\""));
  auto pl = error_of(nodes + models + "placement: {policy: mp-serch}\n");
  CHECK(contains(pl, "placement.policy: expected a placement policy (one of: mp-search, mp-search-sep,"));
  CHECK(contains(pl, "found \"mp-serch\" (did you mean \"mp-search\"?)"));
  for (const char* kind : {"placement", "admission", "dispatch", "batching", "eviction"})
    CHECK_FALSE(known_policy_names(kind).empty());
  CHECK(known_policy_names("gardening").empty());
}

TEST_CASE("an invalid or clashing port is rejected", "[config][errors]") {
  auto big = error_of(nodes + models + "ingress: {http_port: 70000}\n");
  CHECK(big == "cluster.yaml:8:22: ingress.http_port: expected a port number 0..65535 (0: any free port), "
               "found \"70000\"");
  auto neg = error_of(nodes + models + "metrics: {port: -1}\n");
  CHECK(contains(neg, "metrics.port: expected a port number 0..65535"));
  auto clash = error_of(nodes + models + "ingress: {msgpack_port: 9000}\nmetrics: {port: 9000}\n");
  CHECK(contains(clash, "metrics.port: expected a port different from ingress.msgpack_port (9000)"));
  auto addr = error_of(nodes + models + "controller: {address: \"host:99999\"}\n");
  CHECK(contains(addr, "controller.address: expected an address host:port with a port 0..65535, found \"host:99999\""));
}

TEST_CASE("a YAML syntax error keeps the parser's line and column", "[config][errors]") {
  auto e = error_of("nodes:\n  - name: n0\n   devices: [\n");
  INFO(e);
  CHECK(starts_with(e, "cluster.yaml:"));
  CHECK(contains(e, ": (yaml syntax): expected valid YAML, found "));
  CHECK_FALSE(starts_with(e, "cluster.yaml:1:1:")); // located at the fault, not at the start
}

TEST_CASE("an empty file or one with only comments is an error", "[config][errors]") {
  for (const char* text : {"", "\n\n", "# nothing here\n"}) {
    auto e = error_of(text);
    CHECK(starts_with(e, "cluster.yaml:1:1: (document): expected a deployment"));
    CHECK(contains(e, "found an empty file"));
  }
  auto r = load_config("/nonexistent/cluster.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(contains(r.err().message, "/nonexistent/cluster.yaml"));
}

TEST_CASE("runtime timeouts must be positive and the node timeout longer than a heartbeat", "[config][errors]") {
  auto e = error_of(nodes + models + "runtime: {heartbeat_interval_ms: 500, node_timeout_ms: 200}\n");
  CHECK(contains(e, "runtime.node_timeout_ms: expected a timeout longer than runtime.heartbeat_interval_ms (500)"));
  auto z = error_of(nodes + models + "runtime: {request_timeout_ms: 0}\n");
  CHECK(contains(z, "runtime.request_timeout_ms: expected a positive integer (milliseconds), found \"0\""));
}

TEST_CASE("runtime.gen_preemption is recompute (the default) or swap, and round-trips", "[config][errors]") {
  auto dflt = parse_config(nodes + models, "cluster.yaml");
  REQUIRE(dflt.ok());
  CHECK_FALSE(dflt->runtime.gen_swap);
  auto swap = parse_config(nodes + models + "runtime: {gen_preemption: swap}\n", "cluster.yaml");
  REQUIRE(swap.ok());
  CHECK(swap->runtime.gen_swap);
  auto again = parse_config(to_yaml(*swap), "emitted.yaml");
  REQUIRE(again.ok());
  CHECK(again->runtime.gen_swap);
  auto e = error_of(nodes + models + "runtime: {gen_preemption: sometimes}\n");
  CHECK(contains(e, "runtime.gen_preemption: expected recompute or swap, found \"sometimes\""));
}

TEST_CASE("runtime.load_pipelining is a boolean, true unless set", "[config][errors]") {
  auto on = parse_config(nodes + models, "cluster.yaml");
  REQUIRE(on.ok());
  CHECK(on->runtime.load_pipelining);
  auto off = parse_config(nodes + models + "runtime: {load_pipelining: false}\n", "cluster.yaml");
  REQUIRE(off.ok());
  CHECK_FALSE(off->runtime.load_pipelining);
  auto e = error_of(nodes + models + "runtime: {load_pipelining: sometimes}\n");
  CHECK(contains(e, "runtime.load_pipelining"));
  CHECK(contains(e, "sometimes"));
}

TEST_CASE("a key given twice in one mapping is rejected", "[config][errors]") {
  auto e = error_of(nodes + models + "ingress: {http_port: 8000, http_port: 8001}\n");
  INFO(e);
  CHECK(starts_with(e, "cluster.yaml:8:28: ingress.http_port: expected each key once, found \"http_port\" again"));
}

TEST_CASE("model dimensions are bounded so that size computations cannot overflow", "[config][errors]") {
  auto e = error_of(nodes + "models:\n  - {name: a, preset: tiny-gpt, hidden: 100000000}\n");
  CHECK(contains(e, "models[0].hidden: expected a positive integer up to 262144, found \"100000000\""));
}

TEST_CASE("random corruptions of a valid config never crash and always give a located message",
          "[config][errors]") {
  // A deterministic mutation fuzzer: flip, delete and insert characters of configs/local.yaml's text.
  const std::string base{embedded_default_text()};
  const std::string alphabet = " :-[]{},#\"'\n0123456789abcxyzMiB*&!|>";
  std::uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  int failures = 0;
  for (int round = 0; round < 1500; ++round) {
    std::string text = base;
    int edits = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < edits; ++k) {
      std::size_t pos = next() % text.size();
      char c = alphabet[next() % alphabet.size()];
      switch (next() % 3) {
        case 0: text[pos] = c; break;
        case 1: text.erase(pos, 1 + next() % 8); break;
        default: text.insert(pos, 1, c); break;
      }
    }
    auto r = parse_config(text, "fuzz.yaml");
    if (r.ok())
      continue;
    ++failures;
    const std::string& m = r.err().message;
    // fuzz.yaml:<line>:<column>: <path>: expected ..., found ...
    std::size_t a = m.find(':'), b = m.find(':', a + 1), c = m.find(':', b + 1);
    INFO(text);
    INFO(m);
    REQUIRE(m.compare(0, 9, "fuzz.yaml") == 0);
    REQUIRE(b != std::string::npos);
    REQUIRE(c != std::string::npos);
    CHECK(std::stoi(m.substr(a + 1, b - a - 1)) >= 1);
    CHECK(std::stoi(m.substr(b + 1, c - b - 1)) >= 1);
    CHECK(contains(m, "expected "));
    CHECK(contains(m, ", found "));
  }
  CHECK(failures > 100); // the mutations did break most files
}
