// `models: [{hf: DIR}]`: a Hugging Face folder as a deployment's model (issue 8). The folder here is written
// by the test (config.json + safetensors under GPT-2's names); check-config opens it and checks its tensors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "config/cluster_config.hpp"
#include "gpu/weights.hpp"

using namespace sy::config;
namespace fs = std::filesystem;

namespace {
fs::path gpt2_folder(const std::string& name, bool complete = true) {
  fs::path dir = fs::temp_directory_path() / ("sy_hf_config_test_" + std::to_string(::getpid())) / name;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
    "n_layer": 2, "n_embd": 16, "n_head": 2, "vocab_size": 40, "n_positions": 32, "torch_dtype": "float32"})";
  sy::gpu::weight_set w;
  auto add = [&](const std::string& n, std::vector<std::int64_t> shape) {
    std::int64_t k = 1;
    for (auto d : shape)
      k *= d;
    w.tensors[n] = {shape, std::vector<float>(static_cast<std::size_t>(k), 0.01f)};
  };
  add("transformer.wte.weight", {40, 16});
  add("transformer.wpe.weight", {32, 16});
  for (int i = 0; i < 2; ++i) {
    std::string b = "transformer.h." + std::to_string(i) + ".";
    for (const char* ln : {"ln_1", "ln_2"}) {
      add(b + ln + ".weight", {16});
      add(b + ln + ".bias", {16});
    }
    add(b + "attn.c_attn.weight", {16, 48});
    add(b + "attn.c_attn.bias", {48});
    add(b + "attn.c_proj.weight", {16, 16});
    add(b + "attn.c_proj.bias", {16});
    add(b + "mlp.c_fc.weight", {16, 64});
    add(b + "mlp.c_fc.bias", {64});
    add(b + "mlp.c_proj.weight", {64, 16});
    if (complete || i == 0)
      add(b + "mlp.c_proj.bias", {16});
  }
  add("transformer.ln_f.weight", {16});
  add("transformer.ln_f.bias", {16});
  REQUIRE(sy::gpu::write_safetensors((dir / "model.safetensors").string(), w, sy::gpu::dtype::f32).ok());
  return dir;
}

std::string deployment(const std::string& model) {
  return "nodes:\n  - name: local\n    address: 127.0.0.1:7500\n    devices: {kind: cpu, count: 2, memory: 256MiB}\n"
         "models:\n  - " + model + "\n"
         "placement:\n  groups:\n    - {name: g, devices: [0, 1], tensor: 2, pipeline: 1, models: [small]}\n";
}
} // namespace

TEST_CASE("a model given as a Hugging Face folder takes its architecture from config.json", "[config][hf]") {
  auto dir = gpt2_folder("small");
  auto c = parse_config(deployment("{hf: small, slo_ms: 50}"), (dir.parent_path() / "d.yaml").string(),
                        dir.parent_path().string());
  REQUIRE(c.ok());
  const auto& m = c->models.at(0);
  CHECK(m.name == "small");
  CHECK(m.weights.kind == weights_config::source::hf);
  CHECK(m.weights.path == dir.string());
  CHECK(m.spec.fam == sy::gpu::family::gpt2);
  CHECK(m.spec.layers == 2);
  CHECK(m.spec.hidden == 16);
  CHECK(m.spec.tied_head);
  CHECK(m.slo == std::chrono::milliseconds{50});
  auto again = parse_config(to_yaml(*c), "again.yaml", "/");
  REQUIRE(again.ok());
  CHECK(to_yaml(*again) == to_yaml(*c));
  CHECK(again->models.at(0).spec.fam == sy::gpu::family::gpt2);
}

TEST_CASE("a Hugging Face model's dtype may be overridden, its architecture keys may not", "[config][hf]") {
  auto dir = gpt2_folder("small");
  auto base = dir.parent_path().string();
  auto c = parse_config(deployment("{name: small, hf: small, dtype: bf16}"), "d.yaml", base);
  REQUIRE(c.ok());
  CHECK(c->models.at(0).spec.type == sy::gpu::dtype::bf16);
  auto layers = parse_config(deployment("{name: small, hf: small, layers: 4}"), "d.yaml", base);
  REQUIRE_FALSE(layers.ok());
  CHECK(layers.err().message.find("layers") != std::string::npos);
}

TEST_CASE("check-config refuses a broken Hugging Face folder with the key and the folder's own error", "[config][hf]") {
  auto dir = gpt2_folder("broken", false);
  auto base = dir.parent_path().string();
  auto c = parse_config(deployment("{name: small, hf: broken}"), "d.yaml", base);
  REQUIRE_FALSE(c.ok());
  INFO(c.err().message);
  CHECK(c.err().message.find("d.yaml:6:") == 0);
  CHECK(c.err().message.find("models[0].hf") != std::string::npos);
  CHECK(c.err().message.find("missing tensor 'transformer.h.1.mlp.c_proj.bias'") != std::string::npos);
  auto none = parse_config(deployment("{name: small, hf: nowhere}"), "d.yaml", base);
  REQUIRE_FALSE(none.ok());
  CHECK(none.err().message.find("not a directory") != std::string::npos);
}
