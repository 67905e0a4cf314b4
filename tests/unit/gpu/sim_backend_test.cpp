// gpu/sim: devices whose ops are free and whose stage forwards and loads take their profiled time (issue 11 §3).
#include <catch2/catch.hpp>

#include <algorithm>

#include "gpu/backend.hpp"
#include "gpu/pipeline.hpp"
#include "gpu/sim/sim_backend.hpp"
#include "gpu/weights.hpp"

using namespace sy::gpu;

namespace {

std::shared_ptr<const sim_cost_table> costs() {
  auto t = std::make_shared<sim_cost_table>();
  // tiny-gpt in 2 stages: batch 1, 2, 4 rows (a prefix), 5 and 7 ms per stage at batch 1.
  t->entries[{"tiny-gpt", 1, 2}] = sim_stage_costs{{{0.005, 0.007}, {0.008, 0.010}, {0.012, 0.016}}, {0.002, 0.003}};
  return t;
}

stage_work forward(int stage, int batch) {
  return stage_work{stage_work::kind::forward, "tiny-gpt", 1, 2, stage, batch};
}

} // namespace

TEST_CASE("a sim cost table gives the next profiled batch size up, then grows linearly", "[gpu][sim]") {
  auto t = costs();
  CHECK(*t->seconds(forward(0, 1)) == 0.005);
  CHECK(*t->seconds(forward(1, 2)) == 0.010);
  CHECK(*t->seconds(forward(0, 3)) == 0.012); // 3 -> the row of 4
  CHECK(*t->seconds(forward(1, 8)) == Approx(0.032)); // past the last row (4): linear
  CHECK(*t->seconds(stage_work{stage_work::kind::load, "tiny-gpt", 1, 2, 1, 1}) == 0.003);
  auto missing = t->seconds(stage_work{stage_work::kind::forward, "tiny-gpt", 2, 1, 0, 1});
  REQUIRE_FALSE(missing);
  CHECK(missing.err().message == "sim device: no profile entry for model 'tiny-gpt' with tensor 2 x pipeline 1");
}

TEST_CASE("the engine on sim devices answers zeros of the right shape after at least the profiled time", "[gpu][sim]") {
  backend_options o;
  o.kind = backend_kind::sim;
  o.devices = 2;
  o.budget_bytes = 64u << 20;
  o.sim_costs = costs();
  auto b = open_devices(o);
  REQUIRE(b);
  CHECK((*b)->kind() == backend_kind::sim);
  CHECK((*b)->dev(0).name() == "sim:0");
  auto spec = preset("tiny-gpt");
  REQUIRE(spec);
  auto layout = even_layout(*spec, 1, 2);
  REQUIRE(layout);
  auto w = generate_weights(*spec, 1);
  REQUIRE(w);
  auto p = pipeline::create(**b, *spec, *layout, *w);
  REQUIRE(p);
  REQUIRE((*p)->load());
  CHECK((*b)->dev(0).memory_used() > 0); // the shards count against the budget
  std::vector<double> seconds;
  auto out = (*p)->run({1, 2, 3, 4, 5, 6}, 2, &seconds, pipeline::handoff::host);
  REQUIRE(out);
  CHECK(out->size() == static_cast<std::size_t>(2 * spec->vocab));
  CHECK(std::all_of(out->begin(), out->end(), [](float x) { return x == 0.0f; }));
  REQUIRE(seconds.size() == 2);
  CHECK(seconds[0] >= 0.008); // sleeping takes at least its time (never an upper bound: the host may be busy)
  CHECK(seconds[1] >= 0.010);
  REQUIRE((*p)->evict());
  CHECK((*b)->dev(0).memory_used() == 0);
}

TEST_CASE("a sim device refuses allocations beyond its budget and work its profile lacks", "[gpu][sim]") {
  backend_options o;
  o.kind = backend_kind::sim;
  o.budget_bytes = 1u << 20;
  o.sim_costs = costs();
  auto b = open_devices(o);
  REQUIRE(b);
  auto& d = (*b)->dev(0);
  auto big = d.allocate(2u << 20);
  REQUIRE_FALSE(big);
  CHECK(big.err().category == "memory");
  auto st = d.simulate(stage_work{stage_work::kind::forward, "tiny-bert", 1, 1, 0, 1}, d.compute_stream());
  REQUIRE_FALSE(st);
  CHECK(st.err().message.find("no profile entry for model 'tiny-bert'") != std::string::npos);
  backend_options none = o;
  none.sim_costs = nullptr;
  CHECK_FALSE(open_devices(none));
}
