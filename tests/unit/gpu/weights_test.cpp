#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <unistd.h>

#include "gpu/weights.hpp"

using namespace sy::gpu;

namespace {

/// A safetensors byte string from a header text and raw data.
std::string file_bytes(const std::string& header, const std::string& data, std::uint64_t claimed_len = 0) {
  std::uint64_t n = claimed_len ? claimed_len : header.size();
  std::string r(8, '\0');
  for (int i = 0; i < 8; ++i)
    r[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return r + header + data;
}

std::string floats(std::initializer_list<float> v) {
  std::string r(v.size() * 4, '\0');
  std::memcpy(r.data(), std::data(v), r.size());
  return r;
}

std::string error_of(const std::string& bytes) {
  auto r = parse_safetensors(bytes, "test.safetensors");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().category == "weights");
  CHECK(r.err().message.rfind("test.safetensors: ", 0) == 0);
  return r.err().message;
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string temp_path(const std::string& name) {
  return "/tmp/sy_weights_test_" + std::to_string(::getpid()) + "_" + name;
}

} // namespace

TEST_CASE("a well-formed safetensors file parses into f32 tensors", "[gpu][weights]") {
  auto r = parse_safetensors(
    file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"x":"y"}})", floats({1.5f, -2})),
    "t");
  REQUIRE(r.ok());
  REQUIRE(r->find("a"));
  CHECK(r->find("a")->values == std::vector<float>{1.5f, -2.0f});
}

TEST_CASE("writing and reading back seeded weights is exact in f32 and close in f16 and bf16", "[gpu][weights]") {
  auto spec = preset("tiny-bert").value();
  auto w = generate_weights(spec, 3);
  REQUIRE(w.ok());
  for (auto [t, tol] : {std::pair{dtype::f32, 0.0f}, {dtype::f16, 1e-3f}, {dtype::bf16, 1e-2f}}) {
    auto path = temp_path(std::string{to_string(t)});
    REQUIRE(write_safetensors(path, *w, t).ok());
    auto back = load_weights(path, spec);
    REQUIRE(back.ok());
    float worst = 0;
    for (const auto& [name, tensor] : w->tensors) {
      const host_tensor* b = back->find(name);
      REQUIRE(b);
      REQUIRE(b->shape == tensor.shape);
      for (std::size_t i = 0; i < tensor.values.size(); ++i)
        worst = std::max(worst, std::fabs(b->values[i] - tensor.values[i]) / std::max(1.0f, std::fabs(tensor.values[i])));
    }
    CHECK(worst <= tol);
    std::remove(path.c_str());
  }
}

TEST_CASE("the weight generator is deterministic in its seed", "[gpu][weights]") {
  auto spec = preset("tiny-gpt").value();
  auto a = generate_weights(spec, 11), b = generate_weights(spec, 11), c = generate_weights(spec, 12);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(a->find("layers.2.ffn.in.weight")->values == b->find("layers.2.ffn.in.weight")->values);
  CHECK(a->find("layers.2.ffn.in.weight")->values != c->find("layers.2.ffn.in.weight")->values);
  CHECK(check_weights(spec, *a).ok());
}

TEST_CASE("f16 and bf16 conversions round to nearest and keep special values", "[gpu][weights]") {
  CHECK(f16_to_f32(f32_to_f16(1.0f)) == 1.0f);
  CHECK(f16_to_f32(f32_to_f16(65504.0f)) == 65504.0f);
  CHECK(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
  CHECK(f16_to_f32(f32_to_f16(5.96046448e-8f)) == 5.96046448e-8f); // smallest subnormal
  CHECK(f32_to_f16(1.0f + 1.0f / 2048) == f32_to_f16(1.0f));         // a tie rounds to even
  CHECK(bf16_to_f32(f32_to_bf16(3.0f)) == 3.0f);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST_CASE("a truncated file is an error, not a crash", "[gpu][weights]") {
  CHECK(has(error_of("abc"), "truncated file: 3 bytes"));
}

TEST_CASE("data offsets beyond the data section are an error", "[gpu][weights]") {
  CHECK(has(error_of(file_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", floats({1, 2}))),
            "data_offsets [0, 16) out of range: the data section has 8 bytes"));
}

TEST_CASE("a header length beyond the file is an error", "[gpu][weights]") {
  CHECK(has(error_of(file_bytes("{}", "", 1000)), "header length 1000"));
}

TEST_CASE("bad JSON in the header is reported with its byte offset", "[gpu][weights]") {
  auto m = error_of(file_bytes(R"({"a": {"dtype": "F32",, }})", ""));
  CHECK(has(m, "header: line 1, column 23 (byte 22): expected a member name in double quotes, found ','"));
}

TEST_CASE("overlapping data offsets are an error", "[gpu][weights]") {
  auto m = error_of(file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                               floats({1, 2, 3})));
  CHECK(has(m, "overlapping"));
}

TEST_CASE("data offsets that disagree with shape and dtype are an error", "[gpu][weights]") {
  auto m = error_of(file_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floats({1, 2})));
  CHECK(has(m, "span 8 bytes but shape and dtype need 12"));
}

TEST_CASE("an unsupported dtype is named in the error", "[gpu][weights]") {
  auto m = error_of(file_bytes(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", floats({1, 2})));
  CHECK(has(m, "unsupported dtype 'I64'"));
}

TEST_CASE("a tensor entry without data_offsets is an error", "[gpu][weights]") {
  CHECK(has(error_of(file_bytes(R"({"a":{"dtype":"F32","shape":[1]}})", floats({1}))), "missing key 'data_offsets'"));
}

TEST_CASE("a missing tensor is named when checking against the model", "[gpu][weights]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 1);
  REQUIRE(w.ok());
  w->tensors.erase("layers.3.ln2.bias");
  auto st = check_weights(spec, *w);
  REQUIRE_FALSE(st.ok());
  CHECK(has(st.err().message, "missing tensor 'layers.3.ln2.bias'"));
}

TEST_CASE("a tensor of the wrong shape is named with both shapes", "[gpu][weights]") {
  auto spec = preset("tiny-gpt").value();
  auto w = generate_weights(spec, 1);
  REQUIRE(w.ok());
  w->tensors["head.bias"].shape = {511};
  w->tensors["head.bias"].values.resize(511);
  auto st = check_weights(spec, *w);
  REQUIRE_FALSE(st.ok());
  CHECK(has(st.err().message, "'head.bias' has shape [511], expected [512]"));
}

TEST_CASE("a file that does not exist is an error naming it", "[gpu][weights]") {
  auto r = read_safetensors("/nonexistent/w.safetensors");
  REQUIRE_FALSE(r.ok());
  CHECK(has(r.err().message, "/nonexistent/w.safetensors: cannot open"));
}
