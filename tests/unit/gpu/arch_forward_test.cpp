// Whole forward passes with the architecture options (issue 8) on the cpu backend: a packed batch of
// variable-length sequences gives each sequence's output as if it ran alone, for every output kind and
// split; the output kinds relate as they should (logits_last = the last row of logits_all, mean of hidden,
// cls = hidden row 0); requests the model cannot answer are refused precisely.
#include <catch2/catch.hpp>

#include <cmath>

#include "gpu/pipeline.hpp"

using namespace sy::gpu;

namespace {

model_spec llama_like() {
  auto s = preset("tiny-gpt").value();
  s.name = "tiny-llama";
  s.kv_heads = 2;
  s.norm = norm_kind::rms_norm;
  s.ffn_act = ffn_kind::silu_gated;
  s.positions = position_kind::rotary;
  s.rope_scaling = rope_scaling_spec{"linear", 2, 1, 4, 8192};
  s.qkv_bias = s.attn_out_bias = s.ffn_bias = false;
  s.tied_head = true;
  s.head_bias = false;
  return s;
}

model_spec bert_like() {
  auto s = preset("tiny-bert").value();
  s.pre_norm = false;
  s.final_norm = false;
  s.embed_norm = true;
  s.type_vocab = 2;
  s.ffn_act = ffn_kind::gelu_erf;
  s.norm_eps = 1e-12f;
  return s;
}

struct rig {
  std::unique_ptr<backend> b;
  std::unique_ptr<pipeline> p;
};

rig make(const model_spec& spec, int tp, int pp) {
  auto b = open_devices(backend_kind::cpu, tp * pp, std::size_t{256} << 20);
  REQUIRE(b.ok());
  auto w = generate_weights(spec, 11);
  REQUIRE(w.ok());
  auto p = pipeline::create(**b, spec, even_layout(spec, tp, pp).value(), *w);
  REQUIRE(p.ok());
  REQUIRE((*p)->load().ok());
  return {std::move(*b), std::move(*p)};
}

double max_rel(const float* a, const float* b, std::size_t n) {
  double worst = 0, scale = 1e-30;
  for (std::size_t i = 0; i < n; ++i) {
    worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  }
  return worst / scale;
}

} // namespace

TEST_CASE("a packed variable-length batch gives each sequence's output as if it ran alone, for every output "
          "kind and split",
          "[gpu][arch]") {
  const std::vector<int> lens{5, 1, 9};
  for (const auto& spec : {preset("tiny-gpt").value(), llama_like(), bert_like()}) {
    const bool dec = spec.kind == arch::decoder;
    std::vector<std::int32_t> tokens, types;
    for (int i = 0; i < 15; ++i) {
      tokens.push_back((i * 7919 + 13) % spec.vocab);
      types.push_back(i % 2);
    }
    std::vector<output_kind> kinds = dec ? std::vector<output_kind>{output_kind::logits_last, output_kind::logits_all,
                                                                    output_kind::hidden, output_kind::mean}
                                         : std::vector<output_kind>{output_kind::pooler, output_kind::cls,
                                                                    output_kind::mean, output_kind::mean_normalized,
                                                                    output_kind::hidden};
    for (auto [tp, pp] : {std::pair{1, 1}, std::pair{2, 2}}) {
      auto r = make(spec, tp, pp);
      for (auto kind : kinds) {
        INFO(spec.name << " tp " << tp << " pp " << pp << " " << to_string(kind));
        pipeline::run_options o;
        o.seq_lens = lens;
        o.out = kind;
        if (spec.type_vocab > 0)
          o.token_types = types;
        auto packed = r.p->run(tokens, o);
        REQUIRE(packed.ok());
        const std::size_t w = static_cast<std::size_t>(output_width(spec, kind));
        const bool per_token = kind == output_kind::logits_all || kind == output_kind::hidden;
        REQUIRE(packed->size() == (per_token ? 15 : lens.size()) * w);
        std::size_t at = 0, row = 0;
        for (int n : lens) {
          pipeline::run_options one;
          one.out = kind;
          std::vector<std::int32_t> t(tokens.begin() + static_cast<long>(at), tokens.begin() + static_cast<long>(at) + n);
          if (spec.type_vocab > 0)
            one.token_types.assign(types.begin() + static_cast<long>(at), types.begin() + static_cast<long>(at) + n);
          auto alone = r.p->run(t, one);
          REQUIRE(alone.ok());
          const std::size_t rows = per_token ? static_cast<std::size_t>(n) : 1;
          CHECK(max_rel(packed->data() + row * w, alone->data(), rows * w) < 1e-5);
          at += static_cast<std::size_t>(n);
          row += rows;
        }
      }
    }
  }
}

TEST_CASE("logits_last is the last row of logits_all, and mean, cls relate to hidden", "[gpu][arch]") {
  auto r = make(llama_like(), 1, 1);
  std::vector<std::int32_t> tokens{3, 1, 4, 1, 5, 9, 2, 6};
  pipeline::run_options o;
  o.batch = 2;
  const int V = r.p->spec().vocab, H = r.p->spec().hidden;
  o.out = output_kind::logits_all;
  auto all = r.p->run(tokens, o).value();
  o.out = output_kind::logits_last;
  auto last = r.p->run(tokens, o).value();
  CHECK(max_rel(last.data(), all.data() + 3 * V, V) < 1e-6);
  CHECK(max_rel(last.data() + V, all.data() + 7 * V, V) < 1e-6);
  o.out = output_kind::hidden;
  auto hidden = r.p->run(tokens, o).value();
  o.out = output_kind::mean;
  auto mean = r.p->run(tokens, o).value();
  o.out = output_kind::cls;
  auto cls = r.p->run(tokens, o).value();
  std::vector<float> want(static_cast<std::size_t>(H), 0.0f);
  for (int t = 4; t < 8; ++t)
    for (int c = 0; c < H; ++c)
      want[static_cast<std::size_t>(c)] += hidden[static_cast<std::size_t>(t * H + c)] / 4;
  CHECK(max_rel(mean.data() + H, want.data(), static_cast<std::size_t>(H)) < 1e-5);
  CHECK(max_rel(cls.data() + H, hidden.data() + 4 * H, static_cast<std::size_t>(H)) < 1e-6);
}

TEST_CASE("requests a model cannot answer are refused with precise errors", "[gpu][arch]") {
  auto dec = make(preset("tiny-gpt").value(), 1, 1);
  pipeline::run_options o;
  o.out = output_kind::pooler;
  auto r = dec.p->run({1, 2, 3}, o);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.err().message, Catch::Contains("output 'pooler' needs an encoder"));
  o.out.reset();
  o.token_types = {0, 1, 0};
  r = dec.p->run({1, 2, 3}, o);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.err().message, Catch::Contains("has no token-type embeddings"));
  auto enc = make(bert_like(), 1, 1);
  o = {};
  o.out = output_kind::logits_all;
  r = enc.p->run({1, 2, 3}, o);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.err().message, Catch::Contains("needs a decoder"));
  o = {};
  o.token_types = {0, 2, 0};
  r = enc.p->run({1, 2, 3}, o);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.err().message, Catch::Contains("token type 2 at position 1 is outside [0, 2)"));
  o = {};
  o.seq_lens = {2, 2};
  r = enc.p->run({1, 2, 3}, o);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.err().message, Catch::Contains("3 tokens, but the sequence lengths add up to 4"));
}
