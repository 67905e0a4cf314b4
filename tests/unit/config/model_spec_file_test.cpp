#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "config/cluster_config.hpp"

using namespace sy::config;
namespace fs = std::filesystem;

namespace {
fs::path write_temp(const std::string& name, const std::string& text) {
  fs::path dir = fs::temp_directory_path() / ("sy_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p) << text;
  return p;
}
} // namespace

TEST_CASE("a standalone model spec file loads with its weights resolved next to it", "[config][model]") {
  auto p = write_temp("spec.yaml", "name: mine\narch: decoder\nlayers: 2\nhidden: 32\nheads: 2\nvocab: 100\n"
                                   "max_seq: 16\ndtype: f16\nweights: {safetensors: mine.safetensors}\n");
  auto r = load_model_spec(p.string());
  REQUIRE(r.ok());
  CHECK(r->name == "mine");
  CHECK(r->spec.name == "mine");
  CHECK(r->spec.layers == 2);
  CHECK(r->spec.ffn == 128);
  CHECK(r->spec.type == sy::gpu::dtype::f16);
  CHECK(r->weights.kind == weights_config::source::safetensors);
  CHECK(r->weights.path == (p.parent_path() / "mine.safetensors").lexically_normal().string());
}

TEST_CASE("a standalone model spec may be just a preset with a seed", "[config][model]") {
  auto r = parse_model_spec("preset: small-bert\nweights: {seed: 42}\n", "m.yaml");
  REQUIRE(r.ok());
  CHECK(r->name == "small-bert");
  CHECK(r->spec.hidden == sy::gpu::preset("small-bert")->hidden);
  CHECK(r->weights.seed == 42);
}

TEST_CASE("standalone model spec errors are located like config errors", "[config][model]") {
  auto heads = parse_model_spec("name: x\narch: gpt\nlayers: 2\nhidden: 30\nheads: 4\nvocab: 10\nmax_seq: 8\n",
                                "spec.yaml");
  REQUIRE_FALSE(heads.ok());
  CHECK(heads.err().message == "spec.yaml:5:8: heads: expected a divisor of hidden (30), found \"4\"");
  auto weights = parse_model_spec("preset: tiny-gpt\nweights: {seed: 1, safetensors: a.safetensors}\n", "spec.yaml");
  REQUIRE_FALSE(weights.ok());
  CHECK(weights.err().message.find("weights: expected exactly one of seed, safetensors, found both") !=
        std::string::npos);
  auto empty = parse_model_spec("", "spec.yaml");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.err().message.find("found an empty file") != std::string::npos);
  auto missing = load_model_spec("/nonexistent/spec.yaml");
  REQUIRE_FALSE(missing.ok());
}
