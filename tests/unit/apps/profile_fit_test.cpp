// The profile's pure pieces of the generation fit (apps/profile_measure.hpp fit_prefill) and of the runtime
// probe (apps/profile_runtime.hpp pick_runtime_path, runtime_scales): hand-computed values.
#include <catch2/catch.hpp>

#include "apps/profile_measure.hpp"
#include "apps/profile_runtime.hpp"

using namespace sy::apps;

namespace {
double pairs(double n) { return n * (n + 1) / 2; }
} // namespace

TEST_CASE("fit_prefill recovers a prefill that is quadratic in the prompt from three lengths", "[profile]") {
  // t(n) = 0.005 + 2e-4 n + 1e-6 n (n + 1) / 2 at n = 8, 131, 255.
  auto t = [](double n) { return 0.005 + 2e-4 * n + 1e-6 * pairs(n); };
  const auto f = fit_prefill({std::pair{8.0, t(8)}, std::pair{131.0, t(131)}, std::pair{255.0, t(255)}});
  CHECK(f.per_token == Approx(2e-4).epsilon(1e-9));
  CHECK(f.per_pair == Approx(1e-6).epsilon(1e-9));
}

TEST_CASE("fit_prefill keeps both coefficients non-negative", "[profile]") {
  // Concave (the middle point high): per_pair would be negative -> 0, per_token from the end points:
  // (0.030 - 0.002) / (255 - 8).
  const auto concave = fit_prefill({std::pair{8.0, 0.002}, std::pair{131.0, 0.025}, std::pair{255.0, 0.030}});
  CHECK(concave.per_pair == 0);
  CHECK(concave.per_token == Approx(0.028 / 247));
  // Strongly convex (the middle point low): per_token would be negative -> 0, per_pair from the end points:
  // (0.2 - 0.002) / (pairs(255) - pairs(8)) = 0.198 / (32640 - 36).
  const auto convex = fit_prefill({std::pair{8.0, 0.002}, std::pair{131.0, 0.003}, std::pair{255.0, 0.2}});
  CHECK(convex.per_token == 0);
  CHECK(convex.per_pair == Approx(0.198 / 32604));
  // A prefill that got faster with the prompt (noise): nothing negative, the linear model's 0.
  const auto falling = fit_prefill({std::pair{8.0, 0.01}, std::pair{131.0, 0.008}, std::pair{255.0, 0.005}});
  CHECK(falling.per_token == 0);
  CHECK(falling.per_pair == 0);
}

TEST_CASE("the runtime probe keeps the hops and request path of the decoder that computes least", "[profile]") {
  // small-gpt's TPOT exceeded its steps by 3.15 ms (1.05 ms per hop), tiny-gpt's by 0.14 ms (0.047 per hop):
  // the path is the runtime's, the larger excess the larger model's compute; tiny-gpt's pair is kept in
  // either order.
  const runtime_path small{0.080, 0.00105, 0.0}, tiny{0.002, 0.000047, 0.00088};
  auto a = pick_runtime_path(std::nullopt, small);
  a = pick_runtime_path(a, tiny);
  CHECK(a.hop == 0.000047);
  CHECK(a.request == 0.00088);
  auto b = pick_runtime_path(std::nullopt, tiny);
  b = pick_runtime_path(b, small);
  CHECK(b.hop == 0.000047);
  CHECK(b.request == 0.00088);
  const runtime_path tie{0.002, 1, 1}; // a tie keeps the earlier one
  CHECK(pick_runtime_path(tiny, tie).hop == 0.000047);
}

TEST_CASE("runtime_scales compares the probe's live times with the profile's steps", "[profile]") {
  // TPOT live 6.576 ms, 3 hops of 0.0624 ms, predicted 3.967 ms: decode (6.576 - 0.1872) / 3.967.
  // TTFT live 24.237 ms, request 0.908 ms, predicted 12.208 ms of which 3.229 ms fixed:
  // prefill (24.237 - 0.908 - 0.1872 - decode x 3.229) / (12.208 - 3.229).
  const auto s = runtime_scales(0.024237, 0.006576, 0.012208, 0.003967, 0.003229, 0.0001872, 0.000908);
  const double decode = (6.576 - 0.1872) / 3.967;
  CHECK(s.decode == Approx(decode));
  CHECK(s.prefill == Approx((24.237 - 0.908 - 0.1872 - decode * 3.229) / (12.208 - 3.229)));
  // Bounded to [0.25, 4]; 1 without a positive prediction.
  CHECK(runtime_scales(1, 1, 0.01, 0.001, 0, 0, 0).decode == 4);
  CHECK(runtime_scales(1, 1, 0.01, 0.001, 0, 0, 0).prefill == 4);
  CHECK(runtime_scales(0, 0, 0.01, 0.001, 0, 0, 0).decode == 0.25);
  const auto none = runtime_scales(0.01, 0.001, 0, 0, 0, 0, 0);
  CHECK(none.decode == 1);
  CHECK(none.prefill == 1);
}
