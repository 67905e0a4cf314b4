#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>

#include "gpu/shard.hpp"

using namespace sy::gpu;

namespace {

model_spec llama_like() {
  model_spec s;
  s.name = "llama-like";
  s.layers = 2;
  s.hidden = 32;
  s.heads = 4;
  s.kv_heads = 2;
  s.ffn = 48;
  s.vocab = 50;
  s.max_seq = 16;
  s.fam = family::llama;
  s.norm = norm_kind::rms_norm;
  s.norm_eps = 1e-6f;
  s.ffn_act = ffn_kind::silu_gated;
  s.positions = position_kind::rotary;
  s.qkv_bias = s.attn_out_bias = s.ffn_bias = false;
  s.head_bias = false;
  s.tied_head = true;
  return s;
}

/// The values of shard tensor `name` of (stage, rank), as f32.
std::vector<float> values_of(const host_shard& sh, const std::string& name) {
  const shard_tensor* t = sh.plan.find(name);
  REQUIRE(t != nullptr);
  std::vector<float> v(t->bytes / 4);
  std::memcpy(v.data(), sh.data.data() + t->offset, t->bytes);
  return v;
}

} // namespace

TEST_CASE("the canonical tensors follow the architecture options", "[shard]") {
  auto names = [](const model_spec& s) {
    std::vector<std::string> r;
    for (const auto& d : weight_tensors(s))
      r.push_back(d.name);
    return r;
  };
  auto s = llama_like();
  auto n = names(s);
  auto has = [&](const std::string& x) { return std::find(n.begin(), n.end(), x) != n.end(); };
  CHECK_FALSE(has("pos_emb"));          // rotary
  CHECK_FALSE(has("layers.0.ln1.bias")); // rms norm
  CHECK_FALSE(has("layers.0.attn.qkv.bias"));
  CHECK_FALSE(has("head.weight"));      // tied
  CHECK(has("ln_f.weight"));
  for (const auto& d : weight_tensors(s)) {
    if (d.name == "layers.0.attn.qkv.weight")
      CHECK(d.shape == std::vector<std::int64_t>{32, (4 + 2 * 2) * 8});
    if (d.name == "layers.0.attn.out.weight")
      CHECK(d.shape == std::vector<std::int64_t>{32, 32});
    if (d.name == "layers.0.ffn.in.weight")
      CHECK(d.shape == std::vector<std::int64_t>{32, 96}); // gate | up
  }
  model_spec bert = *preset("tiny-bert");
  bert.type_vocab = 2;
  bert.embed_norm = true;
  bert.final_norm = false;
  bert.pre_norm = false;
  auto b = names(bert);
  CHECK(std::find(b.begin(), b.end(), "tok_type_emb") != b.end());
  CHECK(std::find(b.begin(), b.end(), "emb_ln.bias") != b.end());
  CHECK(std::find(b.begin(), b.end(), "ln_f.weight") == b.end());
}

TEST_CASE("tensor parallelism splits query and key/value heads and both SwiGLU halves", "[shard]") {
  auto s = llama_like();
  auto w = generate_weights(s, 7);
  REQUIRE(w.ok());
  auto b = open_devices({backend_kind::cpu, 4});
  REQUIRE(b.ok());
  auto layout = even_layout(s, 2, 2);
  REQUIRE(layout.ok());
  const auto& qkv = w->find("layers.1.attn.qkv.weight")->values; // [32, 64]
  const auto& ffn = w->find("layers.1.ffn.in.weight")->values;   // [32, 96]
  for (int r = 0; r < 2; ++r) {
    auto plan = plan_shard(s, *layout, 1, r, dtype::f32);
    REQUIRE(plan.ok());
    CHECK(plan->local_heads == 2);
    CHECK(plan->local_kv_heads == 1);
    auto sh = build_host_shard(*plan, *w, **b);
    REQUIRE(sh.ok());
    auto q = values_of(**sh, "layers.1.attn.qkv.weight"); // [32, 16 q + 8 k + 8 v]
    REQUIRE(q.size() == 32u * 32u);
    for (int row = 0; row < 32; ++row) {
      for (int c = 0; c < 16; ++c)
        CHECK(q[row * 32 + c] == qkv[row * 64 + r * 16 + c]);
      for (int c = 0; c < 8; ++c) {
        CHECK(q[row * 32 + 16 + c] == qkv[row * 64 + 32 + r * 8 + c]);
        CHECK(q[row * 32 + 24 + c] == qkv[row * 64 + 48 + r * 8 + c]);
      }
    }
    auto f = values_of(**sh, "layers.1.ffn.in.weight"); // [32, 24 gate + 24 up]
    REQUIRE(f.size() == 32u * 48u);
    for (int row = 0; row < 32; ++row)
      for (int c = 0; c < 24; ++c) {
        CHECK(f[row * 48 + c] == ffn[row * 96 + r * 24 + c]);
        CHECK(f[row * 48 + 24 + c] == ffn[row * 96 + 48 + r * 24 + c]);
      }
    // The tied head of a last stage without the embeddings: this rank's rows of tok_emb.
    auto tied = values_of(**sh, "head.tied");
    const auto& emb = w->find("tok_emb")->values;
    int rows = plan->out_end - plan->out_begin;
    REQUIRE(tied.size() == static_cast<std::size_t>(rows) * 32u);
    for (int i = 0; i < rows * 32; ++i)
      CHECK(tied[static_cast<std::size_t>(i)] == emb[static_cast<std::size_t>(plan->out_begin * 32 + i)]);
  }
  // Stage 0 of a one-stage layout holds tok_emb once and no head.tied.
  auto one = even_layout(s, 1, 1);
  REQUIRE(one.ok());
  auto p0 = plan_shard(s, *one, 0, 0, dtype::f32);
  REQUIRE(p0.ok());
  CHECK(p0->find("head.tied") == nullptr);
  CHECK(p0->find("tok_emb") != nullptr);
}

TEST_CASE("a tensor-parallel degree that does not divide the key/value heads is refused by name", "[shard]") {
  auto s = llama_like();
  s.heads = 8;
  s.kv_heads = 2;
  s.hidden = 64;
  auto l = even_layout(s, 4, 1);
  REQUIRE_FALSE(l.ok());
  CHECK(l.err().message.find("key/value heads (2)") != std::string::npos);
}
