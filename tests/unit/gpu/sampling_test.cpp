// The last stage's sampler (gpu/sampling.hpp): greedy, temperature, top-k, top-p with a per-request seed,
// and the stop rule. Table-driven.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "gpu/sampling.hpp"

using namespace sy::gpu;

namespace {
sampling_params sp(float temperature, int top_k, float top_p, std::uint64_t seed) {
  sampling_params p;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.seed = seed;
  return p;
}
} // namespace

TEST_CASE("greedy sampling takes the arg max, the lowest id among ties, and skips NaN", "[gpu][sampling]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct row {
    std::vector<float> logits;
    int want;
  };
  std::vector<row> table{
    {{0.1f, 2.0f, -1.0f}, 1},
    {{3.0f, 3.0f, 1.0f}, 0},
    {{nan, -5.0f, -4.0f}, 2},
    {{-1.0f}, 0},
  };
  for (const auto& r : table)
    for (std::uint64_t step : {0u, 5u})
      CHECK(sample_token(r.logits.data(), static_cast<int>(r.logits.size()), sp(0, 3, 0.5f, 9), step) == r.want);
}

TEST_CASE("the same seed and step give the same token; other seeds spread over the vocabulary",
          "[gpu][sampling]") {
  std::vector<float> logits(50, 0.0f); // uniform
  auto p = sp(1.0f, 0, 1.0f, 42);
  std::set<int> seen;
  for (std::uint64_t step = 0; step < 200; ++step) {
    int t = sample_token(logits.data(), 50, p, step);
    CHECK(t == sample_token(logits.data(), 50, p, step));
    seen.insert(t);
  }
  CHECK(seen.size() > 40);
  int differ = 0;
  for (std::uint64_t step = 0; step < 50; ++step)
    differ += sample_token(logits.data(), 50, sp(1.0f, 0, 1.0f, 43), step) != sample_token(logits.data(), 50, p, step);
  CHECK(differ > 30);
}

TEST_CASE("temperature sampling follows the softmax of logits over temperature", "[gpu][sampling]") {
  std::vector<float> logits{1.0f, 2.0f, 0.0f, 1.5f};
  for (float temperature : {1.0f, 0.5f, 2.0f}) {
    std::vector<double> want(4);
    double z = 0;
    for (int i = 0; i < 4; ++i)
      z += want[i] = std::exp(logits[i] / temperature);
    std::vector<int> counts(4, 0);
    const int n = 40000;
    for (int step = 0; step < n; ++step)
      counts[sample_token(logits.data(), 4, sp(temperature, 0, 1.0f, 5), step)]++;
    for (int i = 0; i < 4; ++i) {
      INFO("temperature " << temperature << " token " << i);
      CHECK(std::fabs(counts[i] / double(n) - want[i] / z) < 0.01);
    }
  }
}

TEST_CASE("top-k and top-p keep only the most probable tokens", "[gpu][sampling]") {
  // probabilities at temperature 1: softmax(log([0.5, 0.3, 0.15, 0.05]))
  std::vector<float> logits{std::log(0.15f), std::log(0.5f), std::log(0.05f), std::log(0.3f)};
  struct row {
    int top_k;
    float top_p;
    std::set<int> allowed; // the tokens that may come out
    std::size_t all_seen;  // how many distinct tokens 2000 draws show
  };
  std::vector<row> table{
    {1, 1.0f, {1}, 1},
    {2, 1.0f, {1, 3}, 2},
    {0, 0.5f, {1}, 1},          // 0.5 alone reaches 0.5
    {0, 0.7f, {1, 3}, 2},       // 0.5 + 0.3
    {0, 0.9f, {1, 3, 0}, 3},    // 0.5 + 0.3 + 0.15
    {2, 0.9f, {1, 3}, 2},       // top-k first
    {0, 1.0f, {0, 1, 2, 3}, 4},
  };
  for (const auto& r : table) {
    std::set<int> seen;
    for (int step = 0; step < 2000; ++step)
      seen.insert(sample_token(logits.data(), 4, sp(1.0f, r.top_k, r.top_p, 11), step));
    INFO("top_k " << r.top_k << " top_p " << r.top_p);
    CHECK(seen == r.allowed);
    CHECK(seen.size() == r.all_seen);
  }
}

TEST_CASE("a sequence stops at eos unless eos is ignored, and at max_new_tokens", "[gpu][sampling]") {
  struct row {
    int token, generated, max_new;
    bool ignore_eos;
    int eos;
    stop_reason want;
  };
  std::vector<row> table{
    {5, 1, 4, false, 7, stop_reason::none},  {7, 1, 4, false, 7, stop_reason::eos},
    {7, 1, 4, true, 7, stop_reason::none},   {5, 4, 4, false, 7, stop_reason::length},
    {7, 4, 4, false, 7, stop_reason::eos},   {7, 4, 4, true, 7, stop_reason::length},
    {0, 2, 4, false, -1, stop_reason::none}, {3, 1, 1, false, -1, stop_reason::length},
  };
  for (const auto& r : table) {
    stop_params p{r.max_new, r.ignore_eos, r.eos};
    INFO("token " << r.token << " generated " << r.generated);
    CHECK(stop_after(r.token, r.generated, p) == r.want);
  }
  CHECK(to_string(stop_reason::eos) == "eos");
}

TEST_CASE("sampling parameters are checked with the field named", "[gpu][sampling]") {
  CHECK(sp(0, 0, 1, 0).check().ok());
  CHECK(sp(-1, 0, 1, 0).check().err().message == "temperature must be a finite number >= 0, found -1.000000");
  CHECK(sp(1, -2, 1, 0).check().err().message == "top_k must be >= 0 (0 = off), found -2");
  CHECK(sp(1, 0, 0, 0).check().err().message == "top_p must be in (0, 1], found 0.000000");
  CHECK(sp(1, 0, 1.5f, 0).check().err().message == "top_p must be in (0, 1], found 1.500000");
}
