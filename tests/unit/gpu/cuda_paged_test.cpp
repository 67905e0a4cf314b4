// The CUDA paged KV kernels (kv_append + paged_attention, gpu/cuda/paged_attention.cu) against the cpu
// backend's ops on the same steps: whole prompts, mixed prefill/decode batches, GQA, several head sizes,
// in f32, f16 and bf16, with the blocks from a kv_pool on each device. Label gpu; exits 77 (skipped)
// without a CUDA device.
#include <algorithm>
#include <memory>
#include <random>

#include "cuda_test_util.hpp"
#include "gpu/backend.hpp"
#include "gpu/cuda_plugin.hpp"
#include "gpu/kv_cache.hpp"

using namespace sy;
using namespace sy::gpu;
using namespace sy::gpu::test;

namespace {

struct scenario {
  std::string name;
  int heads, kv_heads, head_dim, layers, block_tokens;
  std::vector<std::vector<int>> chunks; // per sequence, tokens per step (0 = sits out)
};

/// Synchronous upload of raw bytes (ints, block addresses).
result<void*> raw_upload(device& d, const void* host, std::size_t bytes) {
  auto b = d.allocate(std::max<std::size_t>(bytes, 1));
  if (!b)
    return b.err();
  if (auto st = d.copy_to_device(b->data, host, bytes, d.compute_stream()); !st)
    return st.err();
  if (auto st = d.synchronize(d.compute_stream()); !st)
    return st.err();
  return b->data;
}

/// Runs the scenario's steps on `d` in `type`; returns every step's attention output rows, concatenated.
result<std::vector<float>> run(device& d, dtype type, const scenario& sc, unsigned seed) {
  std::mt19937 g{seed};
  kv_pool pool{d, kv_pool_options{sc.block_tokens, 64, 0}};
  kv_cache cache{pool, kv_layout{sc.layers, sc.kv_heads, sc.head_dim, type}};
  const int qw = sc.heads * sc.head_dim, kw = sc.kv_heads * sc.head_dim;
  std::vector<int> done(sc.chunks.size(), 0);
  std::size_t steps = 0;
  for (const auto& c : sc.chunks)
    steps = std::max(steps, c.size());
  std::vector<float> all;
  for (std::size_t step = 0; step < steps; ++step) {
    std::vector<int> members, query_start{0}, context;
    for (std::size_t s = 0; s < sc.chunks.size(); ++s) {
      int n = step < sc.chunks[s].size() ? sc.chunks[s][step] : 0;
      if (n == 0)
        continue;
      if (auto st = cache.reserve(sequence_id{s}, done[s] + n); !st)
        return st.err();
      members.push_back(static_cast<int>(s));
      query_start.push_back(query_start.back() + n);
      done[s] += n;
      context.push_back(done[s]);
    }
    if (members.empty())
      continue;
    const int tokens = query_start.back();
    const int max_context = *std::max_element(context.begin(), context.end());
    const int max_blocks = (max_context + sc.block_tokens - 1) / sc.block_tokens;
    std::vector<void*> tables(members.size() * max_blocks, nullptr);
    for (std::size_t i = 0; i < members.size(); ++i) {
      const auto& t = cache.table(sequence_id{static_cast<std::uint64_t>(members[i])});
      std::copy(t.begin(), t.begin() + max_blocks, tables.begin() + i * max_blocks);
    }
    auto tb = raw_upload(d, tables.data(), tables.size() * sizeof(void*));
    auto qs = raw_upload(d, query_start.data(), query_start.size() * 4);
    auto cl = raw_upload(d, context.data(), context.size() * 4);
    auto q = upload(d, random_values(static_cast<std::size_t>(tokens) * qw, 1.0f, g()), type);
    auto k = upload(d, random_values(static_cast<std::size_t>(tokens) * kw, 1.0f, g()), type);
    auto v = upload(d, random_values(static_cast<std::size_t>(tokens) * kw, 1.0f, g()), type);
    auto out = d.allocate(static_cast<std::size_t>(tokens) * qw * dtype_size(type));
    if (!tb || !qs || !cl || !q || !k || !v || !out)
      return make_error("test", "upload failed");
    paged_kv kv;
    kv.block_tables = static_cast<void* const*>(*tb);
    kv.query_start = static_cast<const std::int32_t*>(*qs);
    kv.context_lens = static_cast<const std::int32_t*>(*cl);
    kv.seqs = static_cast<int>(members.size());
    kv.tokens = tokens;
    kv.max_blocks = max_blocks;
    kv.max_context = max_context;
    kv.layers = sc.layers;
    kv.kv_heads = sc.kv_heads;
    kv.head_dim = sc.head_dim;
    kv.block_tokens = sc.block_tokens;
    for (int layer = 0; layer < sc.layers; ++layer) {
      kv.layer = layer;
      kv_append_params ap;
      ap.kv = kv;
      ap.k = k->data;
      ap.v = v->data;
      ap.type = type;
      if (auto st = d.kv_append(ap, d.compute_stream()); !st)
        return st.err();
      paged_attention_params pp;
      pp.kv = kv;
      pp.q = q->data;
      pp.out = out->data;
      pp.heads = sc.heads;
      pp.type = type;
      if (auto st = d.paged_attention(pp, d.compute_stream()); !st)
        return st.err();
      auto rows = download(d, out->data, static_cast<std::size_t>(tokens) * qw, type);
      if (!rows)
        return rows.err();
      all.insert(all.end(), rows->begin(), rows->end());
    }
    for (std::size_t i = 0; i < members.size(); ++i)
      if (auto st = cache.set_length(sequence_id{static_cast<std::uint64_t>(members[i])}, context[i]); !st)
        return st.err();
  }
  if (auto st = d.health(); !st)
    return st.err();
  return all;
}

} // namespace

int main() {
  if (int rc = skip_without_device(); rc != 0)
    return rc;
  tally t;
  backend_options o;
  o.kind = backend_kind::cuda;
  o.devices = 1;
  o.budget_bytes = std::size_t{1} << 30;
  char err[512] = {0};
  std::unique_ptr<backend> gpu{sy_cuda_create_backend(SY_CUDA_PLUGIN_ABI, &o, err, sizeof err)};
  if (!gpu) {
    std::printf("FAIL cuda backend: %s\n", err);
    return 1;
  }
  backend_options co;
  co.kind = backend_kind::cpu;
  co.devices = 1;
  co.cpu_threads = 1;
  co.budget_bytes = std::size_t{1} << 30;
  auto cpu = make_cpu_backend(co);
  if (!cpu) {
    std::printf("FAIL cpu backend: %s\n", cpu.err().to_string().c_str());
    return 1;
  }
  std::vector<scenario> scenarios{
    {"whole prompts, MHA, d 64", 4, 4, 64, 2, 16, {{1}, {17}, {40}, {5}}},
    {"mixed prefill and decode, d 32", 4, 4, 32, 2, 4, {{6, 1, 1, 1}, {0, 3, 1, 1}, {5, 5, 2, 1}, {1, 1, 1, 1}}},
    {"GQA 8/2, d 128", 8, 2, 128, 1, 16, {{33, 1, 1}, {2, 2, 2}, {1, 1, 1}}},
    {"MQA 4/1, d 80, blocks of 3", 4, 1, 80, 2, 3, {{7, 1}, {1, 1}, {10, 1}}},
    {"long decode, d 256", 2, 2, 256, 1, 16, {{300, 1, 1}}},
  };
  for (const auto& sc : scenarios) {
    auto ref = run((*cpu)->dev(0), dtype::f32, sc, 1);
    if (!t.require(ref.ok() ? status{} : status{ref.err()}, sc.name + " on cpu"))
      continue;
    for (dtype ty : {dtype::f32, dtype::f16, dtype::bf16}) {
      const std::string what = sc.name + " " + std::string{to_string(ty)};
      auto got = run(gpu->dev(0), ty, sc, 1);
      if (!t.require(got.ok() ? status{} : status{got.err()}, what))
        continue;
      const double e = relative_error(*got, *ref);
      t.check(e <= tolerance(ty), what + ": relative error " + std::to_string(e) + " (tolerance " +
                                    std::to_string(tolerance(ty)) + ")");
    }
  }
  return t.exit_code();
}
