#include "gpu/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace sy::gpu {

namespace {

std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline float clean(float x) noexcept {
  return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x;
}

} // namespace

status sampling_params::check() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    return make_error("sampling", "temperature must be a finite number >= 0, found " + std::to_string(temperature));
  if (top_k < 0)
    return make_error("sampling", "top_k must be >= 0 (0 = off), found " + std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f))
    return make_error("sampling", "top_p must be in (0, 1], found " + std::to_string(top_p));
  return {};
}

double sampling_uniform(std::uint64_t seed, std::uint64_t step) noexcept {
  std::uint64_t bits = splitmix64(splitmix64(seed) ^ (step * 0xd1b54a32d192ed03ull + 1));
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0); // 53 bits
}

int sample_token(const float* logits, int vocab, const sampling_params& p, std::uint64_t step) {
  if (p.greedy()) {
    int best = 0;
    float best_v = clean(logits[0]);
    for (int i = 1; i < vocab; ++i)
      if (clean(logits[i]) > best_v) {
        best_v = clean(logits[i]);
        best = i;
      }
    return best;
  }
  // Candidates in descending logit order (ties: lower id first), cut to top_k.
  thread_local std::vector<int> ids;
  thread_local std::vector<double> probs;
  ids.resize(static_cast<std::size_t>(vocab));
  std::iota(ids.begin(), ids.end(), 0);
  auto before = [&](int a, int b) {
    float x = clean(logits[a]), y = clean(logits[b]);
    return x > y || (x == y && a < b);
  };
  std::size_t keep = ids.size();
  if (p.top_k > 0 && static_cast<std::size_t>(p.top_k) < ids.size()) {
    keep = static_cast<std::size_t>(p.top_k);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end(), before);
  } else {
    std::sort(ids.begin(), ids.end(), before);
  }
  // Softmax of logits / temperature over the candidates (fp64, max subtracted).
  double mx = clean(logits[ids[0]]) / static_cast<double>(p.temperature);
  probs.resize(keep);
  double sum = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    double z = clean(logits[ids[i]]) / static_cast<double>(p.temperature) - mx;
    probs[i] = std::isfinite(mx) ? std::exp(z) : (i == 0 ? 1.0 : 0.0);
    sum += probs[i];
  }
  // top-p: the shortest prefix whose mass reaches top_p (at least one token).
  if (p.top_p < 1.0f) {
    double mass = 0;
    std::size_t n = 0;
    while (n < keep && (n == 0 || mass < static_cast<double>(p.top_p) * sum)) {
      mass += probs[n];
      ++n;
    }
    keep = n;
    sum = mass;
  }
  double u = sampling_uniform(p.seed, step) * sum;
  double acc = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    acc += probs[i];
    if (u < acc)
      return ids[i];
  }
  // Rounding left u at the very top: the last candidate with any mass.
  for (std::size_t i = keep; i-- > 0;)
    if (probs[i] > 0)
      return ids[i];
  return ids[0];
}

std::string_view to_string(stop_reason r) noexcept {
  switch (r) {
    case stop_reason::none: return "none";
    case stop_reason::eos: return "eos";
    case stop_reason::length: return "length";
  }
  return "none";
}

stop_reason stop_after(int token, int generated, const stop_params& p) noexcept {
  if (!p.ignore_eos && p.eos_token >= 0 && token == p.eos_token)
    return stop_reason::eos;
  if (generated >= p.max_new_tokens)
    return stop_reason::length;
  return stop_reason::none;
}

} // namespace sy::gpu
