#include <catch2/catch.hpp>

#include "gpu/model_spec.hpp"

using namespace sy::gpu;

TEST_CASE("the AlpaServe presets have the published sizes", "[gpu][spec]") {
  auto b13 = preset("bert-1.3b");
  REQUIRE(b13.ok());
  CHECK(b13->hidden == 2048);
  CHECK(b13->layers == 24);
  CHECK(b13->heads == 32);
  // 24 layers of 12 h^2 + embeddings: about 1.3 billion parameters.
  CHECK(b13->total_params() > 1'200'000'000);
  CHECK(b13->total_params() < 1'450'000'000);
  auto b67 = preset("bert-6.7b");
  REQUIRE(b67.ok());
  CHECK(b67->total_params() > 6'400'000'000);
  CHECK(b67->total_params() < 7'000'000'000);
  auto gpt = preset("gpt-100m");
  REQUIRE(gpt.ok());
  CHECK(gpt->total_params() > 90'000'000);
  CHECK(gpt->total_params() < 140'000'000);
}

TEST_CASE("an unknown preset is an error that lists the known ones", "[gpu][spec]") {
  auto r = preset("gpt-9000");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().message.find("gpt-9000") != std::string::npos);
  CHECK(r.err().message.find("tiny-gpt") != std::string::npos);
}

TEST_CASE("validate names the offending field", "[gpu][spec]") {
  model_spec s = preset("tiny-gpt").value();
  s.heads = 3;
  auto st = s.validate();
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().message.find("divisible by heads") != std::string::npos);
  s = preset("tiny-gpt").value();
  s.layers = -1;
  st = s.validate();
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().message.find("layers") != std::string::npos);
}

TEST_CASE("dtype and arch names parse", "[gpu][spec]") {
  CHECK(parse_dtype("bfloat16").value() == dtype::bf16);
  CHECK(parse_dtype("FP16").value() == dtype::f16);
  CHECK_FALSE(parse_dtype("int4").ok());
  CHECK(parse_arch("bert").value() == arch::encoder);
  CHECK_FALSE(parse_arch("mamba").ok());
}
