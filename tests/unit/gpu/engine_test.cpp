#include <catch2/catch.hpp>

#include <cmath>

#include "gpu/pipeline.hpp"

using namespace sy::gpu;

namespace {

std::vector<std::int32_t> some_tokens(const model_spec& s, int batch, int seq) {
  std::vector<std::int32_t> t;
  for (int i = 0; i < batch * seq; ++i)
    t.push_back(static_cast<std::int32_t>((i * 7919 + 13) % s.vocab));
  return t;
}

std::vector<float> run_model(const model_spec& spec, const weight_set& w, int tp, int pp,
                             const std::vector<std::int32_t>& tokens, int batch) {
  backend_options o;
  o.kind = backend_kind::cpu;
  o.devices = tp * pp;
  o.cpu_threads = 1;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  auto layout = even_layout(spec, tp, pp);
  REQUIRE(layout.ok());
  auto p = pipeline::create(**b, spec, *layout, w);
  REQUIRE(p.ok());
  REQUIRE((*p)->load().ok());
  auto out = (*p)->run(tokens, batch);
  REQUIRE(out.ok());
  return *out;
}

} // namespace

TEST_CASE("every tp x pp split of tiny-gpt and tiny-bert computes the unsplit model's output", "[gpu][engine]") {
  for (const char* name : {"tiny-gpt", "tiny-bert"}) {
    auto spec = preset(name).value();
    auto generated = generate_weights(spec, 42);
    REQUIRE(generated.ok());
    const weight_set& w = *generated;
    const int batch = 3, seq = 9;
    auto tokens = some_tokens(spec, batch, seq);
    auto ref = run_model(spec, w, 1, 1, tokens, batch);
    REQUIRE(ref.size() == static_cast<std::size_t>(batch) * (spec.kind == arch::decoder ? spec.vocab : spec.hidden));
    // The output is not trivial: it varies across positions and sequences.
    double spread = 0;
    for (std::size_t i = 1; i < ref.size(); ++i)
      spread += std::fabs(ref[i] - ref[0]);
    CHECK(spread > 1e-3);
    for (int tp : {1, 2, 4})
      for (int pp : {1, 2, 4}) {
        INFO(name << " tp=" << tp << " pp=" << pp);
        auto out = run_model(spec, w, tp, pp, tokens, batch);
        REQUIRE(out.size() == ref.size());
        float worst = 0;
        for (std::size_t i = 0; i < ref.size(); ++i)
          worst = std::max(worst, std::fabs(out[i] - ref[i]));
        CHECK(worst < 1e-4f);
      }
  }
}
