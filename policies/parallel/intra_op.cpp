#include "policies/parallel/intra_op.hpp"

#include <cmath>
#include <exception>

#include <CbcModel.hpp>
#include <CoinPackedMatrix.hpp>
#include <CoinPackedVector.hpp>
#include <OsiClpSolverInterface.hpp>

namespace sy::policies::parallel {

namespace {
bool bad_number(double x) {
  return !std::isfinite(x) || x < 0;
}
} // namespace

status op_graph::validate() const {
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    if (n.strategies.empty())
      return make_error("parallel", "op graph: node " + std::to_string(i) + " ('" + n.name + "') has no strategy");
    for (const auto& s : n.strategies)
      if (bad_number(s.compute_s) || bad_number(s.comm_s) || bad_number(s.memory_bytes) ||
          bad_number(s.activation_bytes))
        return make_error("parallel", "op graph: node '" + n.name + "' strategy '" + s.name +
                                          "': costs must be finite and non-negative");
  }
  for (std::size_t k = 0; k < edges.size(); ++k) {
    const auto& e = edges[k];
    auto where = "op graph: edge " + std::to_string(k) + " (" + std::to_string(e.from) + " -> " +
                 std::to_string(e.to) + ")";
    int n = static_cast<int>(nodes.size());
    if (e.from < 0 || e.from >= n || e.to < 0 || e.to >= n || e.from >= e.to)
      return make_error("parallel", where + ": node index out of range or not in topological order (from < to)");
    auto rows = nodes[static_cast<std::size_t>(e.from)].strategies.size();
    auto cols = nodes[static_cast<std::size_t>(e.to)].strategies.size();
    if (e.reshard_s.size() != rows)
      return make_error("parallel", where + ": reshard matrix has " + std::to_string(e.reshard_s.size()) +
                                        " rows, expected " + std::to_string(rows));
    for (const auto& r : e.reshard_s) {
      if (r.size() != cols)
        return make_error("parallel", where + ": reshard row has " + std::to_string(r.size()) +
                                          " columns, expected " + std::to_string(cols));
      for (double x : r)
        if (bad_number(x))
          return make_error("parallel", where + ": reshard costs must be finite and non-negative");
    }
  }
  return {};
}

namespace {
// last_use[i]: the highest program point at which node i's output is live (i itself when unused).
std::vector<int> last_uses(const op_graph& g) {
  std::vector<int> last(g.nodes.size());
  for (std::size_t i = 0; i < last.size(); ++i)
    last[i] = static_cast<int>(i);
  for (const auto& e : g.edges)
    last[static_cast<std::size_t>(e.from)] = std::max(last[static_cast<std::size_t>(e.from)], e.to);
  return last;
}
} // namespace

sharding_plan evaluate_choice(const op_graph& g, const std::vector<int>& choice) {
  sharding_plan p;
  auto last = last_uses(g);
  double weights = 0, peak = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    weights += g.nodes[i].strategies[static_cast<std::size_t>(choice[i])].memory_bytes;
  for (std::size_t t = 0; t < g.nodes.size(); ++t) {
    double live = 0;
    for (std::size_t i = 0; i <= t; ++i)
      if (last[i] >= static_cast<int>(t))
        live += g.nodes[i].strategies[static_cast<std::size_t>(choice[i])].activation_bytes;
    peak = std::max(peak, live);
  }
  p.choice = choice;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& s = g.nodes[i].strategies[static_cast<std::size_t>(choice[i])];
    p.names.push_back(g.nodes[i].name + ":" + s.name);
    p.compute_s += s.compute_s;
    p.comm_s += s.comm_s;
  }
  p.memory_bytes = weights + peak;
  for (const auto& e : g.edges)
    p.reshard_s += e.reshard_s[static_cast<std::size_t>(choice[static_cast<std::size_t>(e.from)])]
                              [static_cast<std::size_t>(choice[static_cast<std::size_t>(e.to)])];
  p.objective = p.compute_s + p.comm_s + p.reshard_s;
  return p;
}

result<sharding_plan> solve_intra_op(const op_graph& g, const ilp_options& o) {
  if (auto st = g.validate(); !st)
    return st.err();
  if (g.nodes.empty())
    return sharding_plan{};
  // Columns: s variables (binary) first, then e variables (continuous [0, 1]).
  std::vector<int> s_off, e_off;
  int ncols = 0;
  for (const auto& n : g.nodes) {
    s_off.push_back(ncols);
    ncols += static_cast<int>(n.strategies.size());
  }
  int n_s = ncols;
  for (const auto& e : g.edges) {
    e_off.push_back(ncols);
    ncols += static_cast<int>(e.reshard_s.size() * e.reshard_s[0].size());
  }
  std::vector<double> obj(static_cast<std::size_t>(ncols), 0), lo(static_cast<std::size_t>(ncols), 0),
      hi(static_cast<std::size_t>(ncols), 1);
  for (std::size_t i = 0; i < g.nodes.size(); ++i)
    for (std::size_t a = 0; a < g.nodes[i].strategies.size(); ++a) {
      const auto& st = g.nodes[i].strategies[a];
      obj[static_cast<std::size_t>(s_off[i]) + a] = st.compute_s + st.comm_s;
    }
  for (std::size_t k = 0; k < g.edges.size(); ++k) {
    const auto& m = g.edges[k].reshard_s;
    std::size_t cols = m[0].size();
    for (std::size_t a = 0; a < m.size(); ++a)
      for (std::size_t b = 0; b < cols; ++b)
        obj[static_cast<std::size_t>(e_off[k]) + a * cols + b] = m[a][b];
  }
  CoinPackedMatrix rows{false, 0, 0};
  rows.setDimensions(0, ncols);
  std::vector<double> rlo, rhi;
  auto add_row = [&](const CoinPackedVector& v, double l, double h) {
    rows.appendRow(v);
    rlo.push_back(l);
    rhi.push_back(h);
  };
  const double inf = COIN_DBL_MAX;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) { // one-hot
    CoinPackedVector v;
    for (std::size_t a = 0; a < g.nodes[i].strategies.size(); ++a)
      v.insert(s_off[i] + static_cast<int>(a), 1.0);
    add_row(v, 1, 1);
  }
  for (std::size_t k = 0; k < g.edges.size(); ++k) {
    const auto& e = g.edges[k];
    int R = static_cast<int>(e.reshard_s.size()), C = static_cast<int>(e.reshard_s[0].size());
    auto var = [&](int a, int b) { return e_off[k] + a * C + b; };
    CoinPackedVector all;
    for (int a = 0; a < R; ++a)
      for (int b = 0; b < C; ++b)
        all.insert(var(a, b), 1.0);
    add_row(all, 1, 1);
    for (int a = 0; a < R; ++a) { // sum_b e_ab - s_from,a <= 0
      CoinPackedVector v;
      for (int b = 0; b < C; ++b)
        v.insert(var(a, b), 1.0);
      v.insert(s_off[static_cast<std::size_t>(e.from)] + a, -1.0);
      add_row(v, -inf, 0);
    }
    for (int b = 0; b < C; ++b) { // sum_a e_ab - s_to,b <= 0
      CoinPackedVector v;
      for (int a = 0; a < R; ++a)
        v.insert(var(a, b), 1.0);
      v.insert(s_off[static_cast<std::size_t>(e.to)] + b, -1.0);
      add_row(v, -inf, 0);
    }
  }
  if (o.memory_limit > 0) { // one row per program point t
    auto last = last_uses(g);
    for (std::size_t t = 0; t < g.nodes.size(); ++t) {
      CoinPackedVector v;
      for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        bool live = i <= t && last[i] >= static_cast<int>(t);
        for (std::size_t a = 0; a < g.nodes[i].strategies.size(); ++a) {
          const auto& st = g.nodes[i].strategies[a];
          double bytes = st.memory_bytes + (live ? st.activation_bytes : 0);
          if (bytes > 0)
            v.insert(s_off[i] + static_cast<int>(a), bytes);
        }
      }
      add_row(v, -inf, o.memory_limit);
    }
  }
  try {
    OsiClpSolverInterface lp;
    lp.messageHandler()->setLogLevel(0);
    lp.loadProblem(rows, lo.data(), hi.data(), obj.data(), rlo.data(), rhi.data());
    for (int c = 0; c < n_s; ++c)
      lp.setInteger(c);
    CbcModel model{lp};
    model.setLogLevel(0);
    model.messageHandler()->setLogLevel(0);
    model.setMaximumSeconds(o.time_limit_s);
    model.branchAndBound();
    const double* x = model.bestSolution();
    if (!x) {
      if (model.isProvenInfeasible())
        return make_error(o.memory_limit > 0 ? "memory" : "solver",
                          "intra-op ILP is infeasible" +
                              (o.memory_limit > 0 ? " under the per-device memory limit of " +
                                                        std::to_string(static_cast<long long>(o.memory_limit)) +
                                                        " bytes"
                                                  : std::string{}));
      return make_error("solver", "intra-op ILP: CBC found no solution within " + std::to_string(o.time_limit_s) +
                                      " s (" + std::to_string(g.nodes.size()) + " operators)");
    }
    std::vector<int> choice;
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      int best = 0;
      for (std::size_t a = 0; a < g.nodes[i].strategies.size(); ++a)
        if (x[s_off[i] + static_cast<int>(a)] > x[s_off[i] + best])
          best = static_cast<int>(a);
      choice.push_back(best);
    }
    auto plan = evaluate_choice(g, choice);
    plan.optimal = model.isProvenOptimal();
    return plan;
  } catch (const CoinError& e) {
    return make_error("solver", "intra-op ILP: CBC error: " + e.message());
  } catch (const std::exception& e) {
    return make_error("solver", std::string{"intra-op ILP: "} + e.what());
  }
}

} // namespace sy::policies::parallel
