#include <catch2/catch.hpp>

#include <functional>
#include <limits>
#include <random>

#include "gpu/model_spec.hpp"
#include "policies/cost_model.hpp"
#include "policies/parallel/intra_op.hpp"

using namespace sy::policies;
using namespace sy::policies::parallel;

namespace {
// Exhaustive minimum over every strategy assignment (optionally under a memory limit).
double brute_force(const op_graph& g, double memory_limit = 0) {
  std::vector<int> c(g.nodes.size(), 0);
  double best = std::numeric_limits<double>::infinity();
  std::function<void(std::size_t)> rec = [&](std::size_t i) {
    if (i == g.nodes.size()) {
      auto p = evaluate_choice(g, c);
      if (memory_limit <= 0 || p.memory_bytes <= memory_limit)
        best = std::min(best, p.objective);
      return;
    }
    for (std::size_t a = 0; a < g.nodes[i].strategies.size(); ++a) {
      c[i] = static_cast<int>(a);
      rec(i + 1);
    }
  };
  rec(0);
  return best;
}

std::string chosen(const sharding_plan& p, const std::string& node) {
  for (const auto& n : p.names)
    if (n.rfind(node + ":", 0) == 0)
      return n.substr(node.size() + 1);
  return "?";
}
} // namespace

TEST_CASE("the ILP recovers the Megatron split of a transformer block at tensor degree 2, 4 and 8") {
  auto m = sy::gpu::preset("bert-1.3b").value();
  auto hw = hardware("V100-16GB").value();
  for (int n : {2, 4, 8}) {
    auto g = transformer_layer_graph(m, 2048, n, hw);
    auto plan = solve_intra_op(g);
    REQUIRE(plan.ok());
    CHECK(plan->optimal);
    CHECK(chosen(*plan, "qkv") == "column");
    CHECK(chosen(*plan, "attention") == "heads");
    CHECK(chosen(*plan, "attn_out") == "row");
    CHECK(chosen(*plan, "ffn_in") == "column");
    CHECK(chosen(*plan, "gelu") == "column");
    CHECK(chosen(*plan, "ffn_out") == "row");
    CHECK(plan->reshard_s == 0);
    // one all-reduce per row-split matmul: comm is exactly two all-reduces of [tokens, hidden]
    double bytes = 2048.0 * m.hidden * 2;
    double ar = hw.link_latency_s + 2.0 * (n - 1) / n * bytes / (hw.link_bw * hw.link_eff);
    CHECK(plan->comm_s == Approx(2 * ar));
    CHECK(plan->objective == Approx(brute_force(g)).epsilon(1e-9));
  }
}

TEST_CASE("the ILP matches exhaustive search on random operator graphs") {
  std::mt19937_64 rng{11};
  std::uniform_real_distribution<double> u{0, 1};
  int infeasible = 0, binding = 0;
  for (int trial = 0; trial < 60; ++trial) {
    op_graph g;
    int nodes = 2 + static_cast<int>(rng() % 5);
    for (int i = 0; i < nodes; ++i) {
      op_node n{"n" + std::to_string(i), {}};
      int k = 1 + static_cast<int>(rng() % 3);
      for (int a = 0; a < k; ++a)
        n.strategies.push_back({"s" + std::to_string(a), u(rng), u(rng) * 0.5, u(rng) * 0.5, u(rng)});
      g.nodes.push_back(n);
    }
    for (int i = 1; i < nodes; ++i) {
      int from = static_cast<int>(rng() % static_cast<unsigned>(i));
      op_edge e{from, i, {}};
      for (std::size_t a = 0; a < g.nodes[static_cast<std::size_t>(from)].strategies.size(); ++a) {
        std::vector<double> row;
        for (std::size_t b = 0; b < g.nodes[static_cast<std::size_t>(i)].strategies.size(); ++b)
          row.push_back(u(rng) * 2);
        e.reshard_s.push_back(row);
      }
      g.edges.push_back(e);
    }
    double limit = trial % 2 ? nodes * 0.3 + 0.8 : 0;
    double want = brute_force(g, limit);
    ilp_options o;
    o.memory_limit = limit;
    auto plan = solve_intra_op(g, o);
    if (std::isinf(want)) {
      REQUIRE_FALSE(plan.ok());
      CHECK(plan.err().category == "memory");
      ++infeasible;
      continue;
    }
    REQUIRE(plan.ok());
    CHECK(plan->objective == Approx(want).epsilon(1e-9));
    if (limit > 0) {
      CHECK(plan->memory_bytes <= limit + 1e-9);
      binding += want > brute_force(g) + 1e-12;
    }
  }
  CHECK(infeasible > 0); // the cases cover infeasible and binding memory limits
  CHECK(binding > 0);
}

TEST_CASE("a per-device memory limit forces weight sharding or makes the ILP infeasible") {
  auto m = sy::gpu::preset("bert-1.3b").value();
  auto hw = hardware("V100-16GB").value();
  auto g = transformer_layer_graph(m, 16, 4, hw); // few tokens: replication would be cheapest
  auto free_plan = solve_intra_op(g);
  REQUIRE(free_plan.ok());
  double layer_bytes = static_cast<double>(m.layer_params()) * 2;
  ilp_options o;
  o.memory_limit = layer_bytes / 4 * 1.05;
  auto tight = solve_intra_op(g, o);
  REQUIRE(tight.ok());
  CHECK(tight->memory_bytes <= o.memory_limit);
  CHECK(tight->objective >= free_plan->objective);
  CHECK(tight->objective == Approx(brute_force(g, o.memory_limit)).epsilon(1e-9));
  o.memory_limit = layer_bytes / 8;
  auto none = solve_intra_op(g, o);
  REQUIRE_FALSE(none.ok());
  CHECK(none.err().category == "memory");
}

TEST_CASE("an invalid operator graph is a precise error") {
  op_graph g;
  g.nodes.push_back({"a", {{"x", 1, 0, 0}}});
  g.nodes.push_back({"b", {{"x", 1, 0, 0}, {"y", 1, 0, 0}}});
  g.edges.push_back({0, 1, {{0.0}}});
  auto r = solve_intra_op(g);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().category == "parallel");
  CHECK(r.err().message.find("columns") != std::string::npos);
}

#include "policies/parallel/plan.hpp"

TEST_CASE("plan_model gives stage boundaries, a Megatron layer sharding and costs close to the cost model") {
  auto m = sy::gpu::preset("bert-2.6b").value();
  cost_model cm{hardware("V100-16GB").value()};
  auto p = plan_model(m, {4, 2}, cm);
  REQUIRE(p.ok());
  REQUIRE(p->stages.boundaries.size() == 3);
  CHECK(p->stages.boundaries.front() == 0);
  CHECK(p->stages.boundaries.back() == m.layers);
  CHECK(chosen(p->layer_sharding, "ffn_out") == "row");
  // the ILP's layer and the analytic layer model are two views of the same costs
  CHECK(p->ilp_layer_seconds == Approx(p->model_layer_seconds).epsilon(0.35));
  CHECK_FALSE(plan_model(m, {3, 1}, cm).ok());
}
