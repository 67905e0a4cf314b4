#include "policies/cost_model.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

namespace sy::policies {

// Datasheet numbers (SXM parts, dense fp16 tensor throughput, no sparsity):
//   V100-16GB SXM2: 125 TFLOP/s, HBM2 900 GB/s, PCIe 3.0 x16 16 GB/s, NVLink 2.0 300 GB/s total
//                   (150 GB/s per direction); NVIDIA Tesla V100 datasheet (2018). AlpaServe's testbed
//                   (AWS p3.16xlarge: 8 x V100 with NVLink, 25 Gbit/s between nodes).
//   A100-40GB SXM4: 312 TFLOP/s, HBM2 1555 GB/s, PCIe 4.0 x16 32 GB/s, NVLink 3 600 GB/s total (300 per
//                   direction); NVIDIA A100 datasheet (2020); 200 Gbit/s InfiniBand per GPU (DGX A100).
//   H100-80GB SXM5: 989 TFLOP/s, HBM3 3.35 TB/s, PCIe 5.0 x16 64 GB/s, NVLink 4 900 GB/s total (450 per
//                   direction); NVIDIA H100 datasheet (2022); 400 Gbit/s InfiniBand per GPU (DGX H100).
// Achievable efficiency (defaults, refit by calibrate()): 50% of peak FLOP/s for transformer layers at
// 2048 tokens (AlpaServe's published single-V100 test profiles, bert-1.3b 0.099 s and bert-2.6b 0.148 s in
// alpa_serve/profiling.py, imply 47% and 63% of the V100 peak at that length), 80% of HBM and PCIe bandwidth, 70% of NVLink bandwidth for NCCL all-reduce, and
// ~10 us collective latency inside a node (NCCL small-message latency), 30 us across nodes.
namespace {
constexpr double T = 1e12, G = 1e9;
constexpr std::int64_t GiB = std::int64_t{1} << 30;
const std::vector<hardware_spec>& all_hardware() {
  static const std::vector<hardware_spec> hw = {
    {"V100-16GB", 125 * T, 900 * G, 16 * G, 150 * G, 10e-6, 25 * G / 8, 30e-6, 16 * GiB, 8},
    {"A100-40GB", 312 * T, 1555 * G, 32 * G, 300 * G, 8e-6, 200 * G / 8, 20e-6, 40 * GiB, 8},
    {"H100-80GB", 989 * T, 3350 * G, 64 * G, 450 * G, 6e-6, 400 * G / 8, 15e-6, 80 * GiB, 8},
  };
  return hw;
}
} // namespace

result<hardware_spec> hardware(std::string_view name) {
  for (const auto& h : all_hardware())
    if (h.name == name)
      return h;
  std::string known;
  for (const auto& h : all_hardware())
    known += (known.empty() ? "" : ", ") + h.name;
  return make_error("config", "unknown hardware '" + std::string{name} + "', known: " + known);
}

std::vector<std::string> hardware_names() {
  std::vector<std::string> r;
  for (const auto& h : all_hardware())
    r.push_back(h.name);
  return r;
}

std::vector<parallel_config> default_configs() {
  std::vector<parallel_config> r;
  for (int op : {1, 2, 4, 8})
    for (int pp : {1, 2, 4, 8, 16})
      if (op * pp <= 64)
        r.push_back({op, pp});
  return r;
}

cost_model::cost_model(hardware_spec hw, cost_model_options opt) : hw_(std::move(hw)), opt_(opt) {}

int cost_model::seq(const gpu::model_spec& m) const {
  return std::max(1, std::min(opt_.seq_len, m.max_seq));
}

double cost_model::layer_seconds(const gpu::model_spec& m, int op, int batch) const {
  double S = seq(m), b = batch, h = m.hidden, f = m.ffn, n = op;
  double fin = m.ffn_act == gpu::ffn_kind::silu_gated ? 2 * f : f; // SwiGLU: gate|up
  double ds = static_cast<double>(gpu::dtype_size(m.type));
  double flops = b * m.layer_flops(static_cast<int>(S)) / n;
  double bytes = static_cast<double>(m.layer_params()) / n * ds + b * S * (12 * h + (fin + f) / n) * ds;
  double t = std::max(flops / (hw_.peak_flops * hw_.flops_eff), bytes / (hw_.hbm_bw * hw_.mem_eff)) +
             hw_.layer_overhead_s;
  if (op > 1) {
    double msg = b * S * h * ds;
    t += 2 * (hw_.link_latency_s + 2 * (n - 1) / n * msg / (hw_.link_bw * hw_.link_eff));
  }
  return t;
}

double cost_model::stage_seconds(const gpu::model_spec& m, parallel_config c, int batch, int stage, int begin,
                                 int end) const {
  double S = seq(m), b = batch, h = m.hidden;
  double ds = static_cast<double>(gpu::dtype_size(m.type));
  double mem = hw_.hbm_bw * hw_.mem_eff;
  double t = (end - begin) * layer_seconds(m, c.op, batch) + hw_.stage_overhead_s;
  if (stage == 0) { // token (+ position, + token type) embedding rows read, sum written (+ embedding norm)
    double rows = 2 + (m.positions == gpu::position_kind::learned ? 1 : 0) + (m.type_vocab > 0 ? 1 : 0) +
                  (m.embed_norm ? 2 : 0);
    t += rows * b * S * h * ds / mem + hw_.layer_overhead_s / 4;
  }
  if (stage == c.pp - 1) {
    double norm = m.final_norm ? 2 * b * S * h * ds / mem : 0.0;
    double head = m.kind == gpu::arch::decoder
                      ? std::max(2 * b * m.vocab * h / (hw_.peak_flops * hw_.flops_eff), m.vocab * h * ds / mem)
                      : (m.pooler ? h * h * ds / mem : 0.0);
    t += norm + head + hw_.layer_overhead_s / 4;
  }
  if (stage > 0) {
    double msg = b * S * h * ds;
    bool cross = c.gpus() > hw_.gpus_per_node && (stage * c.op) % hw_.gpus_per_node == 0;
    t += cross ? hw_.net_latency_s + msg / (hw_.net_bw * hw_.link_eff)
               : hw_.link_latency_s + msg / (hw_.link_bw * hw_.link_eff);
  }
  return t;
}

std::int64_t cost_model::stage_weight_bytes(const gpu::model_spec& m, parallel_config c, int stage, int begin,
                                            int end) const {
  auto ds = static_cast<std::int64_t>(gpu::dtype_size(m.type));
  std::int64_t params = (end - begin) * m.layer_params() / c.op;
  if (stage == 0)
    params += m.embedding_params();
  if (stage == c.pp - 1) {
    params += m.head_params();
    if (m.kind == gpu::arch::decoder && m.tied_head && stage > 0) // its slice of the embedding, as head.tied
      params += std::int64_t{m.vocab} * m.hidden / c.op;
  }
  return params * ds;
}

result<parallel::stage_split> cost_model::split(const gpu::model_spec& m, parallel_config c) const {
  parallel::inter_op_problem p;
  p.layers = m.layers;
  p.pp = c.pp;
  p.cost = [&](int s, int b, int e) { return stage_seconds(m, c, 1, s, b, e); };
  p.memory = [&](int s, int b, int e) { return static_cast<double>(stage_weight_bytes(m, c, s, b, e)); };
  p.memory_limit = static_cast<double>(opt_.memory_limit > 0 ? opt_.memory_limit : hw_.memory_bytes);
  auto r = parallel::split_min_max(p);
  if (!r)
    return make_error(r.err().category, "model '" + m.name + "' (op " + std::to_string(c.op) + ", pp " +
                                            std::to_string(c.pp) + "): " + r.err().message);
  return r;
}

result<profile_entry> cost_model::profile(const gpu::model_spec& m, parallel_config c) const {
  if (auto st = m.validate(); !st)
    return st.err();
  auto where = "model '" + m.name + "' (op " + std::to_string(c.op) + ", pp " + std::to_string(c.pp) + ")";
  if (c.op < 1 || c.pp < 1 || c.pp > m.layers)
    return make_error("parallel", where + ": need 1 <= pp <= layers (" + std::to_string(m.layers) + ") and op >= 1");
  if (m.heads % c.op != 0 || m.kv_heads_or_heads() % c.op != 0 || m.ffn % c.op != 0)
    return make_error("parallel", where + ": tensor degree must divide heads (" + std::to_string(m.heads) +
                                      "), kv heads (" + std::to_string(m.kv_heads_or_heads()) + ") and ffn (" +
                                      std::to_string(m.ffn) + ")");
  auto sp = split(m, c);
  if (!sp)
    return sp.err();
  const auto& bd = sp->boundaries;
  double S = seq(m), h = m.hidden, f = m.ffn;
  double fin = m.ffn_act == gpu::ffn_kind::silu_gated ? 2 * f : f;
  double qkv = static_cast<double>(m.heads + 2 * m.kv_heads_or_heads()) * m.head_dim_or_default();
  double ds = static_cast<double>(gpu::dtype_size(m.type));
  profile_entry e;
  e.model = m.name;
  e.config = c;
  for (int bs : profile_batch_sizes) {
    std::vector<double> lat;
    std::vector<std::int64_t> act;
    for (int k = 0; k < c.pp; ++k) {
      lat.push_back(stage_seconds(m, c, bs, k, bd[k], bd[k + 1]));
      double a = bs * S * (2 * h + qkv / c.op + fin / c.op) * ds + bs * (m.heads / c.op) * S * S * ds;
      act.push_back(static_cast<std::int64_t>(a));
    }
    e.stage_latency.push_back(std::move(lat));
    e.act_bytes.push_back(std::move(act));
  }
  for (int k = 0; k < c.pp; ++k) {
    auto w = stage_weight_bytes(m, c, k, bd[k], bd[k + 1]);
    e.weight_bytes.push_back(static_cast<double>(w));
    e.load_seconds.push_back(static_cast<double>(w) / (hw_.pcie_bw * hw_.pcie_eff));
  }
  if (m.kind == gpu::arch::decoder) {
    // Generation step costs (profile_entry: gen_step_s + prefill_s_per_token * P + decode_s_per_seq * D +
    // decode_s_per_ctx * C per stage): a step reads the stage's weights once (memory-bound fixed part, plus the
    // overheads); each token (prefill or decode) costs its matmul FLOPs and its all-reduce / stage-boundary
    // bytes; a decoding sequence also samples (the vocabulary projection, last stage) and reads its KV.
    const double mem = hw_.hbm_bw * hw_.mem_eff, fl = hw_.peak_flops * hw_.flops_eff, n = c.op;
    const double link = hw_.link_bw * hw_.link_eff;
    const double kv_per_layer = 2.0 * (m.kv_heads_or_heads() / c.op) * m.head_dim_or_default() * ds;
    for (int k = 0; k < c.pp; ++k) {
      const double L = bd[k + 1] - bd[k];
      const bool last = k == c.pp - 1;
      double fixed = e.weight_bytes[static_cast<std::size_t>(k)] / mem + L * hw_.layer_overhead_s + hw_.stage_overhead_s +
                     (k == 0 ? hw_.layer_overhead_s / 4 : 0.0) + (last ? hw_.layer_overhead_s / 4 : 0.0);
      double per_token = L * 2.0 * static_cast<double>(m.layer_params()) / n / fl;
      if (c.op > 1) {
        fixed += 2 * L * hw_.link_latency_s;
        per_token += 2 * L * 2 * (n - 1) / n * h * ds / link;
      }
      if (k > 0) {
        fixed += hw_.link_latency_s;
        per_token += h * ds / link;
      }
      e.gen_step_s.push_back(fixed);
      e.prefill_s_per_token.push_back(per_token);
      e.decode_s_per_seq.push_back(per_token + (last ? 2.0 * m.vocab * h / fl : 0.0));
      e.kv_bytes_per_token.push_back(L * kv_per_layer);
      e.decode_s_per_ctx.push_back(L * kv_per_layer / mem +
                                   L * 4.0 * (m.heads / c.op) * m.head_dim_or_default() / fl);
    }
  }
  if (auto st = e.validate(); !st)
    return st.err();
  return e;
}

result<profile_db> cost_model::profile_all(const std::vector<gpu::model_spec>& models,
                                           const std::vector<parallel_config>& configs) const {
  profile_db db;
  for (const auto& m : models) {
    if (auto st = m.validate(); !st)
      return st.err();
    for (auto c : configs) {
      if (c.pp > m.layers || m.heads % c.op != 0 || m.kv_heads_or_heads() % c.op != 0 || m.ffn % c.op != 0)
        continue;
      auto e = profile(m, c);
      if (!e) {
        if (e.err().category == "memory")
          continue; // does not fit this hardware: placement cannot use it
        return e.err();
      }
      db.put(std::move(*e));
    }
  }
  return db;
}

namespace {

const gpu::model_spec* find_spec(const std::vector<gpu::model_spec>& models, const std::string& name) {
  for (const auto& m : models)
    if (m.name == name)
      return &m;
  return nullptr;
}

} // namespace

std::vector<double> cost_model::relative_errors(const profile_db& measured,
                                                const std::vector<gpu::model_spec>& models) const {
  std::vector<double> out;
  for (const auto& [key, me] : measured.entries()) {
    const auto* spec = find_spec(models, key.first);
    if (!spec)
      continue;
    auto pe = profile(*spec, key.second);
    if (!pe)
      continue;
    for (std::size_t b = 0; b < me.stage_latency.size() && b < pe->stage_latency.size(); ++b)
      for (std::size_t k = 0; k < me.stage_latency[b].size() && k < pe->stage_latency[b].size(); ++k) {
        double m = me.stage_latency[b][k];
        if (m > 0)
          out.push_back((pe->stage_latency[b][k] - m) / m);
      }
  }
  return out;
}

double cost_model::rms_relative_error(const profile_db& measured, const std::vector<gpu::model_spec>& models) const {
  auto r = relative_errors(measured, models);
  double sum = 0;
  for (double x : r)
    sum += x * x;
  return r.empty() ? 0 : std::sqrt(sum / static_cast<double>(r.size()));
}

namespace {
// Solves the n x n system A x = b (Gaussian elimination with partial pivoting); false when singular.
bool solve(std::vector<std::vector<double>> A, std::vector<double> b, std::vector<double>& x) {
  std::size_t n = b.size();
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::fabs(A[r][c]) > std::fabs(A[p][c]))
        p = r;
    if (std::fabs(A[p][c]) < 1e-300)
      return false;
    std::swap(A[p], A[c]);
    std::swap(b[p], b[c]);
    for (std::size_t r = c + 1; r < n; ++r) {
      double f = A[r][c] / A[c][c];
      for (std::size_t k = c; k < n; ++k)
        A[r][k] -= f * A[c][k];
      b[r] -= f * b[c];
    }
  }
  x.assign(n, 0);
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t k = i + 1; k < n; ++k)
      s -= A[i][k] * x[k];
    x[i] = s / A[i][i];
  }
  return true;
}
} // namespace

result<cost_model> cost_model::calibrate(const profile_db& measured, const std::vector<gpu::model_spec>& models) const {
  bool any = false;
  double num = 0, den = 0; // closed-form pcie fit: u = 1/pcie_eff minimizing sum (a_i u / l_i - 1)^2
  for (const auto& [key, me] : measured.entries()) {
    if (!find_spec(models, key.first))
      continue;
    any = true;
    for (std::size_t k = 0; k < me.load_seconds.size() && k < me.weight_bytes.size(); ++k)
      if (me.load_seconds[k] > 0 && me.weight_bytes[k] > 0) {
        double r = static_cast<double>(me.weight_bytes[k]) / hw_.pcie_bw / me.load_seconds[k];
        num += r;
        den += r * r;
      }
  }
  if (!any)
    return make_error("profile", "calibrate: no measured entry names a known model");
  // Levenberg-Marquardt on u = (1/flops_eff, 1/mem_eff, 1/link_eff, layer_overhead_s, stage_overhead_s):
  // inside one
  // regime of max(compute, memory) the latencies are linear in u, so the finite-difference Jacobian is exact
  // and a few damped Gauss-Newton steps converge; regime changes are handled by re-linearizing.
  auto with = [&](const std::vector<double>& u) {
    hardware_spec h = hw_;
    h.flops_eff = 1 / u[0];
    h.mem_eff = 1 / u[1];
    h.link_eff = 1 / u[2];
    h.layer_overhead_s = u[3];
    h.stage_overhead_s = u[4];
    return cost_model{h, opt_};
  };
  // Efficiencies stay in [0.2, 1.2] of the datasheet peaks (beyond that the fit explains framework overheads
  // with implausible hardware numbers); overheads are >= 0.
  const std::vector<double> lo = {1 / 1.2, 1 / 1.2, 1 / 1.2, 0, 0};
  const std::vector<double> hi = {5, 5, 5, 1, 1};
  auto clamp = [&](std::vector<double> u) {
    for (std::size_t i = 0; i < u.size(); ++i)
      u[i] = std::min(std::max(u[i], lo[i]), hi[i]);
    return u;
  };
  auto sq = [](const std::vector<double>& r) {
    double s = 0;
    for (double x : r)
      s += x * x;
    return s;
  };
  std::vector<double> u = {1 / hw_.flops_eff, 1 / hw_.mem_eff, 1 / hw_.link_eff, hw_.layer_overhead_s,
                           hw_.stage_overhead_s};
  // A weak prior keeps parameters the data cannot tell apart near the datasheet defaults: each parameter
  // adds a residual w*ln(u/u0) (efficiencies) or w*overhead/1ms, i.e. halving an efficiency costs as much as
  // a 3.5% error on one measured latency.
  const auto u0 = u;
  auto residuals = [&](const std::vector<double>& x) {
    auto r = with(x).relative_errors(measured, models);
    constexpr double w = 0.05;
    for (std::size_t i = 0; i < 3; ++i)
      r.push_back(w * std::log(x[i] / u0[i]));
    r.push_back(w * (x[3] - u0[3]) / 1e-3);
    r.push_back(w * (x[4] - u0[4]) / 1e-3);
    return r;
  };
  auto r = residuals(u);
  double f = sq(r), lambda = 1e-3;
  for (int it = 0; it < 60 && f > 1e-20; ++it) {
    std::size_t n = u.size(), m = r.size();
    std::vector<std::vector<double>> J(m, std::vector<double>(n));
    for (std::size_t j = 0; j < n; ++j) {
      auto up = u;
      double h = std::max(1e-6 * std::fabs(u[j]), j >= 3 ? 1e-9 : 1e-7);
      up[j] += h;
      auto rp = residuals(up);
      for (std::size_t i = 0; i < m && i < rp.size(); ++i)
        J[i][j] = (rp[i] - r[i]) / h;
    }
    std::vector<std::vector<double>> A(n, std::vector<double>(n, 0));
    std::vector<double> g(n, 0);
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t a = 0; a < n; ++a) {
        g[a] -= J[i][a] * r[i];
        for (std::size_t b = 0; b < n; ++b)
          A[a][b] += J[i][a] * J[i][b];
      }
    bool improved = false;
    for (int tries = 0; tries < 12 && !improved; ++tries) {
      auto D = A;
      for (std::size_t a = 0; a < n; ++a)
        D[a][a] += lambda * (A[a][a] > 0 ? A[a][a] : 1);
      std::vector<double> step;
      if (!solve(D, g, step)) {
        lambda *= 10;
        continue;
      }
      std::vector<double> cand(n);
      for (std::size_t a = 0; a < n; ++a)
        cand[a] = u[a] + step[a];
      cand = clamp(cand);
      auto rc = residuals(cand);
      double fc = sq(rc);
      if (fc < f) {
        improved = true;
        u = cand;
        r = std::move(rc);
        f = fc;
        lambda = std::max(lambda / 10, 1e-9);
      } else {
        lambda *= 10;
      }
    }
    if (!improved)
      break;
  }
  cost_model out = with(u);
  if (den > 0)
    out.hw_.pcie_eff = den / num; // u = num/den minimizes it, pcie_eff = 1/u
  return out;
}

} // namespace sy::policies
