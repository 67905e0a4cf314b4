#include <catch2/catch.hpp>

#include "gpu/model_spec.hpp"
#include "policies/cost_model.hpp"

using namespace sy::policies;

namespace {
sy::gpu::model_spec spec(const char* name) {
  return sy::gpu::preset(name).value();
}
cost_model v100() {
  return cost_model{hardware("V100-16GB").value()};
}
} // namespace

TEST_CASE("named hardware is known and unknown names are errors") {
  for (const auto& n : hardware_names()) {
    auto h = hardware(n);
    REQUIRE(h.ok());
    CHECK(h->peak_flops > 1e14);
    CHECK(h->hbm_bw > h->link_bw);
    CHECK(h->link_bw > h->pcie_bw);
  }
  auto bad = hardware("K80");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("V100-16GB") != std::string::npos);
}

TEST_CASE("bert-1.3b on one V100 takes on the order of 0.1-0.2 s at batch 1") {
  auto e = v100().profile(spec("bert-1.3b"), {1, 1});
  REQUIRE(e.ok());
  CHECK(e->total_latency(0) > 0.08);
  CHECK(e->total_latency(0) < 0.25);
  // larger batches take longer, sub-linearly at most linearly
  CHECK(e->total_latency(4) > e->total_latency(0));
  CHECK(e->total_latency(4) <= 16.5 * e->total_latency(0));
  // weights: the whole model on one GPU
  CHECK(e->max_weight_bytes() == spec("bert-1.3b").weight_bytes());
}

TEST_CASE("tensor and pipeline parallelism shrink per-GPU weights and stage latency") {
  auto m = spec("bert-2.6b");
  auto cm = v100();
  auto one = cm.profile(m, {1, 1}).value();
  auto op4 = cm.profile(m, {4, 1}).value();
  auto pp4 = cm.profile(m, {1, 4}).value();
  CHECK(op4.total_latency(0) < one.total_latency(0));
  CHECK(op4.total_latency(0) > one.total_latency(0) / 4); // all-reduces cost something
  CHECK(op4.max_weight_bytes() < one.max_weight_bytes() / 2);
  // pipeline: each stage ~1/4, the sum a bit more than the single GPU (activation transfers)
  for (double s : pp4.stage_latency[0])
    CHECK(s < one.total_latency(0) / 3);
  CHECK(pp4.total_latency(0) >= one.total_latency(0));
  CHECK(pp4.total_latency(0) < one.total_latency(0) * 1.1);
  std::int64_t sum = 0;
  for (auto w : pp4.weight_bytes)
    sum += w;
  CHECK(sum == one.weight_bytes[0]);
  for (std::size_t k = 0; k < pp4.load_seconds.size(); ++k)
    CHECK(pp4.load_seconds[k] ==
          Approx(pp4.weight_bytes[k] / (cm.hardware().pcie_bw * cm.hardware().pcie_eff)));
}

TEST_CASE("profile_all covers every fitting config and skips those that do not fit") {
  std::vector<sy::gpu::model_spec> ms = {spec("bert-1.3b"), spec("bert-6.7b"), spec("bert-103.5b")};
  auto db = v100().profile_all(ms);
  REQUIRE(db.ok());
  for (const auto& [key, e] : db->entries())
    CHECK(e.validate().ok());
  CHECK(db->find("bert-1.3b", {1, 1}) != nullptr);
  CHECK(db->find("bert-1.3b", {8, 8}) != nullptr);
  CHECK(db->find("bert-6.7b", {1, 1}) != nullptr);     // 13.4 GB fits 16 GiB
  CHECK(db->find("bert-103.5b", {1, 1}) == nullptr);   // 207 GB does not
  CHECK(db->find("bert-103.5b", {4, 16}) != nullptr);
  CHECK(db->configs("bert-1.3b").size() == default_configs().size());
}

TEST_CASE("an invalid config is a precise error") {
  auto r = v100().profile(spec("bert-1.3b"), {3, 1});
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().message.find("heads") != std::string::npos);
  auto r2 = v100().profile(spec("tiny-gpt"), {1, 8});
  CHECK_FALSE(r2.ok());
}

TEST_CASE("calibration recovers a machine's efficiency from its measured entries") {
  auto truth_hw = hardware("A100-40GB").value();
  truth_hw.flops_eff = 0.23;
  truth_hw.link_eff = 0.45;
  truth_hw.layer_overhead_s = 2e-4;
  truth_hw.pcie_eff = 0.6;
  std::vector<sy::gpu::model_spec> ms = {spec("bert-1.3b"), spec("gpt-100m")};
  std::vector<parallel_config> cs = {{1, 1}, {2, 1}, {4, 2}, {1, 4}};
  cost_model truth{truth_hw};
  auto measured_r = truth.profile_all(ms, cs);
  REQUIRE(measured_r.ok());
  const profile_db& measured = *measured_r;
  auto start = cost_model{hardware("A100-40GB").value()};
  double before = start.rms_relative_error(measured, ms);
  auto fitted = start.calibrate(measured, ms);
  REQUIRE(fitted.ok());
  double after = fitted->rms_relative_error(measured, ms);
  CHECK(before > 0.1);
  CHECK(after < 0.02);
  CHECK(fitted->hardware().pcie_eff == Approx(0.6).epsilon(1e-6));
  CHECK_FALSE(start.calibrate(profile_db{}, ms).ok());
}

namespace {
// A batch-1-only measured entry (other batch sizes 0 = not measured, which calibrate ignores).
profile_entry measured_entry(const char* model, int pp, std::vector<double> lat) {
  profile_entry e;
  e.model = model;
  e.config = {1, pp};
  for (std::size_t b = 0; b < profile_batch_sizes.size(); ++b) {
    e.stage_latency.push_back(b == 0 ? lat : std::vector<double>(static_cast<std::size_t>(pp), 0));
    e.act_bytes.emplace_back(static_cast<std::size_t>(pp), 0);
  }
  e.weight_bytes.assign(static_cast<std::size_t>(pp), 0);
  e.load_seconds.assign(static_cast<std::size_t>(pp), 0);
  return e;
}
} // namespace

TEST_CASE("calibrating on AlpaServe's published V100 BERT stage latencies improves the fit") {
  // Single-V100 test profiles published with AlpaServe (alpa_serve/profiling.py, load_test_prof_result).
  profile_db measured;
  measured.put(measured_entry("bert-1.3b", 1, {0.099}));
  measured.put(measured_entry("bert-1.3b", 2, {0.051, 0.052}));
  measured.put(measured_entry("bert-1.3b", 4, {0.028, 0.027, 0.027, 0.029}));
  measured.put(measured_entry("bert-1.3b", 8, {0.015, 0.014, 0.014, 0.014, 0.014, 0.014, 0.014, 0.016}));
  measured.put(measured_entry("bert-2.6b", 1, {0.148}));
  measured.put(measured_entry("bert-2.6b", 2, {0.075, 0.076}));
  std::vector<sy::gpu::model_spec> ms = {spec("bert-1.3b"), spec("bert-2.6b")};
  auto cm = v100();
  double before = cm.rms_relative_error(measured, ms);
  auto fitted = cm.calibrate(measured, ms);
  REQUIRE(fitted.ok());
  double after = fitted->rms_relative_error(measured, ms);
  CHECK(after < before);
  CHECK(after < 0.08);
  CHECK(fitted->hardware().pcie_eff == cm.hardware().pcie_eff); // no load times measured: unchanged
  auto e = fitted->profile(spec("bert-1.3b"), {1, 1});
  REQUIRE(e.ok());
  CHECK(e->total_latency(0) == Approx(0.099).epsilon(0.08));
}

TEST_CASE("the cost model gives decoders generation costs and encoders none") {
  auto opt = v100().profile(spec("opt-1.3b"), {1, 2});
  REQUIRE(opt.ok());
  REQUIRE(opt->has_generation());
  for (std::size_t k = 0; k < 2; ++k) {
    CHECK(opt->gen_step_s[k] > 0);
    CHECK(opt->prefill_s_per_token[k] > 0);
    CHECK(opt->decode_s_per_ctx[k] > 0);
    CHECK(opt->kv_bytes_per_token[k] == Approx(12 * 2 * 2048 * 2)); // 12 layers x K,V x hidden x fp16
  }
  CHECK(opt->decode_s_per_seq[1] > opt->decode_s_per_seq[0]); // the last stage samples (vocabulary projection)
  // A decode step of one sequence is memory-bound: about the stage's weights over the memory bandwidth.
  auto hw = hardware("V100-16GB").value();
  CHECK(opt->gen_step_s[0] >= opt->weight_bytes[0] / (hw.hbm_bw * hw.mem_eff));
  // Tensor parallelism halves the KV a GPU keeps per token.
  auto tp = v100().profile(spec("opt-1.3b"), {2, 1});
  REQUIRE(tp.ok());
  CHECK(tp->kv_bytes_per_token[0] == Approx(24 * 2 * 1024 * 2));
  auto enc = v100().profile(spec("bert-1.3b"), {1, 1});
  REQUIRE(enc.ok());
  CHECK_FALSE(enc->has_generation());
}
