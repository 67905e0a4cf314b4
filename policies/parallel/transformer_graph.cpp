// transformer_layer_graph (policies/parallel/intra_op.hpp): the operator graph of one transformer layer.
#include <algorithm>

#include "policies/cost_model.hpp"
#include "policies/parallel/intra_op.hpp"

namespace sy::policies::parallel {

namespace {

enum class layout { R, C };

struct strat {
  sharding_strategy s;
  layout in, out;
};

struct builder {
  const gpu::model_spec& m;
  double T, n, ds;
  const hardware_spec& hw;
  op_graph g;
  std::vector<std::vector<strat>> layouts; // [node][strategy]
  std::vector<double> out_bytes;           // [node] full output tensor bytes

  double alpha() const { return hw.link_latency_s; }
  double beta() const { return 1 / (hw.link_bw * hw.link_eff); }
  double all_reduce(double bytes) const { return n > 1 ? alpha() + beta() * 2 * (n - 1) / n * bytes : 0; }
  double all_gather(double bytes) const { return n > 1 ? alpha() + beta() * (n - 1) / n * bytes : 0; }
  double compute(double flops, double bytes) const {
    return std::max(flops / (hw.peak_flops * hw.flops_eff), bytes / (hw.hbm_bw * hw.mem_eff));
  }

  int add(std::string name, std::vector<strat> ss, double width) {
    op_node node{std::move(name), {}};
    for (auto& s : ss) {
      s.s.activation_bytes = T * width * ds / (s.out == layout::C ? n : 1);
      node.strategies.push_back(s.s);
    }
    g.nodes.push_back(std::move(node));
    layouts.push_back(std::move(ss));
    out_bytes.push_back(T * width * ds);
    return static_cast<int>(g.nodes.size()) - 1;
  }

  void edge(int from, int to) {
    op_edge e{from, to, {}};
    for (const auto& a : layouts[static_cast<std::size_t>(from)]) {
      std::vector<double> row;
      for (const auto& b : layouts[static_cast<std::size_t>(to)])
        row.push_back(a.out == layout::C && b.in == layout::R ? all_gather(out_bytes[static_cast<std::size_t>(from)])
                                                              : 0); // same layout or R -> C (local slice)
      e.reshard_s.push_back(std::move(row));
    }
    g.edges.push_back(std::move(e));
  }

  // Y[T, out] = X[T, in] W[in, out] + b
  std::vector<strat> matmul(double in, double out) const {
    double flops = 2 * T * in * out, w = (in * out + out) * ds, act = T * (in + out) * ds;
    return {
      {{"replicated", compute(flops, w + act), 0, w}, layout::R, layout::R},
      {{"column", compute(flops / n, (w + T * out * ds) / n + T * in * ds), 0, w / n}, layout::R, layout::C},
      {{"row", compute(flops / n, w / n + T * in * ds / n + T * out * ds), all_reduce(T * out * ds),
        (in * out / n + out) * ds},
       layout::C, layout::R},
    };
  }

  std::vector<strat> elementwise(double width, double reads, bool column, double params) const {
    double bytes = T * width * ds * (reads + 1);
    std::vector<strat> r = {{{"replicated", compute(T * width * 8, bytes), 0, params * ds}, layout::R, layout::R}};
    if (column)
      r.push_back({{"column", compute(T * width * 8 / n, bytes / n), 0, params * ds / n}, layout::C, layout::C});
    return r;
  }
};

} // namespace

op_graph transformer_layer_graph(const gpu::model_spec& m, int tokens, int degree, const hardware_spec& hw) {
  builder b{m, static_cast<double>(tokens), static_cast<double>(std::max(degree, 1)),
            static_cast<double>(gpu::dtype_size(m.type)), hw, {}, {}, {}};
  double h = m.hidden, f = m.ffn, T = b.T;
  double attn_flops = 4 * T * T * h, attn_bytes = (3 * T * h + T * T * m.heads + T * h) * b.ds;
  std::vector<strat> attention = {
    {{"replicated", b.compute(attn_flops, attn_bytes), 0, 0}, layout::R, layout::R},
    {{"heads", b.compute(attn_flops / b.n, attn_bytes / b.n), 0, 0}, layout::C, layout::C},
  };
  int x = b.add("input", {{{"replicated", 0, 0, 0}, layout::R, layout::R}}, h);
  int ln1 = b.add("ln1", b.elementwise(h, 1, false, 2 * h), h);
  int qkv = b.add("qkv", b.matmul(h, 3 * h), 3 * h);
  int att = b.add("attention", attention, h);
  int ao = b.add("attn_out", b.matmul(h, h), h);
  int add1 = b.add("add1", b.elementwise(h, 2, false, 0), h);
  int ln2 = b.add("ln2", b.elementwise(h, 1, false, 2 * h), h);
  int fi = b.add("ffn_in", b.matmul(h, f), f);
  int gelu = b.add("gelu", b.elementwise(f, 1, true, 0), f);
  int fo = b.add("ffn_out", b.matmul(f, h), h);
  int add2 = b.add("add2", b.elementwise(h, 2, false, 0), h);
  b.edge(x, ln1);
  b.edge(ln1, qkv);
  b.edge(qkv, att);
  b.edge(att, ao);
  b.edge(ao, add1);
  b.edge(x, add1);
  b.edge(add1, ln2);
  b.edge(ln2, fi);
  b.edge(fi, gelu);
  b.edge(gelu, fo);
  b.edge(fo, add2);
  b.edge(add1, add2);
  return b.g;
}

} // namespace sy::policies::parallel
