// Whole models on the CUDA backend (loaded through open_devices, i.e. dlopen of libsy_cuda.so) against the
// cpu backend: tiny-gpt and tiny-bert in f32, f16 and bf16 with tp 1 (and tp 2, pp 2 when the machine has
// enough GPUs), and load / evict / reload with the device memory returning to its baseline.
// Label gpu; exits 77 (skipped) without a CUDA device.
#include <algorithm>

#include "cuda_test_util.hpp"
#include "gpu/pipeline.hpp"

using namespace sy;
using namespace sy::gpu;
using namespace sy::gpu::test;

namespace {

std::vector<std::int32_t> some_tokens(const model_spec& s, int batch, int seq) {
  std::vector<std::int32_t> t;
  for (int i = 0; i < batch * seq; ++i)
    t.push_back(static_cast<std::int32_t>((i * 7919 + 13) % s.vocab));
  return t;
}

result<std::vector<float>> run_model(backend& b, const model_spec& spec, const weight_set& w, int tp, int pp,
                                     const std::vector<std::int32_t>& tokens, int batch) {
  auto layout = even_layout(spec, tp, pp);
  if (!layout)
    return layout.err();
  auto p = pipeline::create(b, spec, *layout, w);
  if (!p)
    return p.err();
  if (auto st = (*p)->load(); !st)
    return st.err();
  return (*p)->run(tokens, batch);
}

/// Architecture options of issue 8 (shapes like Llama, BERT and post-LN OPT), every output kind, packed
/// variable-length sequences with token types: CUDA against the cpu backend.
void family_cases(backend& gpu, backend& cpu, int gpus, tally& t) {
  auto llama = preset("tiny-gpt").value();
  llama.name = "tiny-llama";
  llama.fam = family::llama;
  llama.kv_heads = llama.heads / 2;
  llama.norm = norm_kind::rms_norm;
  llama.norm_eps = 1e-6f;
  llama.ffn_act = ffn_kind::silu_gated;
  llama.positions = position_kind::rotary;
  llama.rope_theta = 500000;
  llama.rope_scaling = rope_scaling_spec{"llama3", 8, 1, 4, 64};
  llama.qkv_bias = llama.attn_out_bias = llama.ffn_bias = false;
  llama.tied_head = true;
  llama.head_bias = false;
  auto bert = preset("tiny-bert").value();
  bert.fam = family::bert;
  bert.pre_norm = false;
  bert.final_norm = false;
  bert.embed_norm = true;
  bert.type_vocab = 2;
  bert.ffn_act = ffn_kind::gelu_erf;
  bert.norm_eps = 1e-12f;
  auto opt = preset("tiny-gpt").value();
  opt.name = "tiny-opt-postln";
  opt.pre_norm = false;
  opt.final_norm = false;
  opt.ffn_act = ffn_kind::relu;
  opt.tied_head = true;
  opt.head_bias = false;
  for (const auto& base : {llama, bert, opt}) {
    auto w = generate_weights(base, 7);
    if (!t.require(w.ok() ? status{} : status{w.err()}, base.name + " weights"))
      continue;
    pipeline::run_options o;
    o.seq_lens = {9, 1, 33, 17};
    const int total = 60;
    auto tokens = some_tokens(base, 1, total);
    if (base.type_vocab > 0)
      for (int i = 0; i < total; ++i)
        o.token_types.push_back(i % 3 == 0 ? 1 : 0);
    const bool dec = base.kind == arch::decoder;
    std::vector<output_kind> kinds = dec ? std::vector<output_kind>{output_kind::logits_last, output_kind::logits_all,
                                                                    output_kind::hidden}
                                         : std::vector<output_kind>{output_kind::pooler, output_kind::cls,
                                                                    output_kind::mean, output_kind::mean_normalized,
                                                                    output_kind::hidden};
    for (auto kind : kinds) {
      o.out = kind;
      auto layout1 = even_layout(base, 1, 1).value();
      auto ref_p = pipeline::create(cpu, base, layout1, *w);
      if (!t.require(ref_p.ok() ? status{} : status{ref_p.err()}, base.name + " on cpu") || !(*ref_p)->load())
        continue;
      auto ref = (*ref_p)->run(tokens, o);
      if (!t.require(ref.ok() ? status{} : status{ref.err()}, base.name + " on cpu"))
        continue;
      for (dtype ty : {dtype::f32, dtype::f16, dtype::bf16})
        for (auto [tp, pp] : {std::pair{1, 1}, std::pair{2, 1}, std::pair{1, 2}}) {
          const std::string what = base.name + " " + std::string{to_string(kind)} + " " +
                                   std::string{to_string(ty)} + " tp=" + std::to_string(tp) + " pp=" + std::to_string(pp);
          if (tp * pp > gpus)
            continue;
          auto spec = base;
          spec.type = ty;
          auto layout = even_layout(spec, tp, pp);
          if (!t.require(layout.ok() ? status{} : status{layout.err()}, what))
            continue;
          auto p = pipeline::create(gpu, spec, *layout, *w);
          if (!t.require(p.ok() ? status{} : status{p.err()}, what) || !t.require((*p)->load(), what + " load"))
            continue;
          auto out = (*p)->run(tokens, o);
          if (!t.require(out.ok() ? status{} : status{out.err()}, what))
            continue;
          const double err = relative_error(*out, *ref);
          t.check(err <= 3 * tolerance(ty), what + " matches the cpu backend: relative error " + std::to_string(err));
        }
    }
  }
}

} // namespace

int main() {
  if (int rc = skip_without_device(); rc != 0)
    return rc;
  tally t;
  auto count = cuda::probe_devices();
  const int gpus = std::min(*count, 4);
  auto gpu = open_devices(backend_kind::cuda, gpus, std::size_t{2} << 30);
  if (!gpu) {
    std::printf("FAIL open_devices(cuda, %d): %s\n", gpus, gpu.err().to_string().c_str());
    return 1;
  }
  auto cpu = open_devices(backend_kind::cpu, 4, std::size_t{1} << 30);
  if (!cpu) {
    std::printf("FAIL open_devices(cpu): %s\n", cpu.err().to_string().c_str());
    return 1;
  }
  std::printf("%s\n", (*gpu)->describe().c_str());

  for (const char* name : {"tiny-gpt", "tiny-bert"}) {
    auto base = preset(name).value();
    auto w = generate_weights(base, 42);
    if (!t.require(w.ok() ? status{} : status{w.err()}, std::string{name} + " weights"))
      continue;
    const int batch = 3, seq = 40;
    auto tokens = some_tokens(base, batch, seq);
    auto ref = run_model(**cpu, base, *w, 1, 1, tokens, batch);
    if (!t.require(ref.ok() ? status{} : status{ref.err()}, std::string{name} + " on cpu"))
      continue;
    for (dtype ty : {dtype::f32, dtype::f16, dtype::bf16}) {
      auto spec = base;
      spec.type = ty;
      for (auto [tp, pp] : {std::pair{1, 1}, std::pair{2, 1}, std::pair{1, 2}, std::pair{2, 2}}) {
        const std::string what = std::string{name} + " " + std::string{to_string(ty)} + " tp=" +
                                  std::to_string(tp) + " pp=" + std::to_string(pp);
        if (tp * pp > gpus) {
          std::printf("skip %s: needs %d GPUs, %d present\n", what.c_str(), tp * pp, gpus);
          continue;
        }
        auto out = run_model(**gpu, spec, *w, tp, pp, tokens, batch);
        if (!t.require(out.ok() ? status{} : status{out.err()}, what))
          continue;
        const double err = relative_error(*out, *ref);
        // Whole-model tolerance: a few roundings per layer on top of the per-op tolerance.
        t.check(err <= 3 * tolerance(ty), what + " matches the cpu backend: relative error " + std::to_string(err));
      }
    }
  }

  family_cases(**gpu, **cpu, gpus, t);

  // Load, run, evict (memory back to the baseline), reload, run again: same output.
  {
    auto spec = preset("tiny-gpt").value();
    spec.type = dtype::f16;
    auto w = generate_weights(spec, 7).value();
    auto layout = even_layout(spec, 1, 1).value();
    device& d = (*gpu)->dev(0);
    const std::size_t before = d.memory_used();
    auto p = pipeline::create(**gpu, spec, layout, w);
    if (t.require(p.ok() ? status{} : status{p.err()}, "pipeline::create")) {
      auto tokens = some_tokens(spec, 2, 16);
      bool ok = t.require((*p)->load(), "load");
      t.check(ok && d.memory_used() >= before + (*p)->shard_bytes(), "a loaded shard counts against the budget");
      auto first = (*p)->run(tokens, 2);
      ok = ok && t.require((*p)->evict(), "evict");
      t.check(ok && d.memory_used() == before, "evict returns the device memory to its baseline");
      ok = ok && t.require((*p)->load(), "reload");
      auto second = (*p)->run(tokens, 2);
      t.check(ok && first.ok() && second.ok() && *first == *second, "a reloaded model computes the same output");
      (void)(*p)->evict();
    }
  }
  for (int i = 0; i < (*gpu)->device_count(); ++i)
    t.check((*gpu)->dev(i).health().ok(), (*gpu)->dev(i).name() + " is healthy");
  return t.exit_code();
}
