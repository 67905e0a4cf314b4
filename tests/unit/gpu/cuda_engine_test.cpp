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
