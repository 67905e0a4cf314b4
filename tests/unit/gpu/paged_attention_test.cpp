// The paged KV ops of the cpu backend (kv_append, paged_attention) against the dense attention op on the
// same data: random block layouts (blocks from a kv_pool, handed to sequences in shuffled order), mixed
// step batches of prefill chunks and decode tokens, grouped-query attention.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "gpu/backend.hpp"
#include "gpu/kv_cache.hpp"

using namespace sy;
using namespace sy::gpu;

namespace {

std::unique_ptr<backend> cpu_backend(std::size_t budget = 64 << 20) {
  backend_options o;
  o.kind = backend_kind::cpu;
  o.devices = 1;
  o.budget_bytes = budget;
  o.cpu_threads = 1;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  return std::move(*b);
}

std::vector<float> random_vec(std::size_t n, std::mt19937& g) {
  std::uniform_real_distribution<float> u{-1, 1};
  std::vector<float> v(n);
  for (auto& x : v)
    x = u(g);
  return v;
}

/// Device memory of `bytes` bytes (freed by the device at the end of the test).
void* device_bytes(device& d, std::size_t bytes) {
  auto buf = d.allocate(bytes);
  REQUIRE(buf.ok());
  return buf->data;
}

template <class T>
T* upload(device& d, const std::vector<T>& v) {
  auto* p = static_cast<T*>(device_bytes(d, std::max<std::size_t>(1, v.size()) * sizeof(T)));
  REQUIRE(d.copy_to_device(p, v.data(), v.size() * sizeof(T), d.compute_stream()).ok());
  REQUIRE(d.synchronize(d.compute_stream()).ok()); // v may be a temporary
  return p;
}

std::vector<float> download(device& d, const float* p, std::size_t n) {
  std::vector<float> out(n);
  REQUIRE(d.copy_to_host(out.data(), p, n * sizeof(float), d.compute_stream()).ok());
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  return out;
}

struct shape {
  int heads, kv_heads, head_dim, layers, block_tokens;
};

/// One sequence's full q [len, heads*d], k and v [len, kv_heads*d] for one layer.
struct sequence_data {
  int len;
  std::vector<float> q, k, v;
};

/// Dense causal attention of one sequence with the dense op; GQA by repeating each kv head for its group.
std::vector<float> dense_reference(device& d, const shape& sh, const sequence_data& s) {
  int group = sh.heads / sh.kv_heads, w = sh.heads * sh.head_dim;
  std::vector<float> k(static_cast<std::size_t>(s.len) * w), v(k.size());
  for (int t = 0; t < s.len; ++t)
    for (int h = 0; h < sh.heads; ++h)
      for (int c = 0; c < sh.head_dim; ++c) {
        std::size_t src = static_cast<std::size_t>(t) * sh.kv_heads * sh.head_dim + (h / group) * sh.head_dim + c;
        k[static_cast<std::size_t>(t) * w + h * sh.head_dim + c] = s.k[src];
        v[static_cast<std::size_t>(t) * w + h * sh.head_dim + c] = s.v[src];
      }
  attention_params p;
  p.q = upload(d, s.q);
  p.k = upload(d, k);
  p.v = upload(d, v);
  p.out = device_bytes(d, s.q.size() * sizeof(float));
  p.batch = 1;
  p.seq = s.len;
  p.heads = sh.heads;
  p.head_dim = sh.head_dim;
  p.causal = true;
  REQUIRE(d.attention(p, d.compute_stream()).ok());
  return download(d, static_cast<float*>(p.out), s.q.size());
}

/// Runs sequences through steps: in each step every unfinished sequence contributes its next chunk
/// (chunks[s][step], 0 = sits this step out), all in one batch: kv_append, then paged_attention. Returns
/// each sequence's attention output rows in position order. Blocks come from `cache` (reserved per step),
/// after `scramble` blocks were taken and given back in shuffled order so tables are not contiguous.
std::vector<std::vector<float>> run_paged(device& d, const shape& sh, int layer, kv_cache& cache,
                                          const std::vector<sequence_data>& seqs,
                                          const std::vector<std::vector<int>>& chunks) {
  int qw = sh.heads * sh.head_dim, kw = sh.kv_heads * sh.head_dim;
  std::vector<std::vector<float>> out(seqs.size());
  std::vector<int> done(seqs.size(), 0);
  std::size_t steps = 0;
  for (const auto& c : chunks)
    steps = std::max(steps, c.size());
  for (std::size_t step = 0; step < steps; ++step) {
    std::vector<int> members, query_start{0}, context;
    std::vector<float> q, k, v;
    for (std::size_t s = 0; s < seqs.size(); ++s) {
      int n = step < chunks[s].size() ? chunks[s][step] : 0;
      if (n == 0)
        continue;
      int from = done[s];
      members.push_back(static_cast<int>(s));
      REQUIRE(cache.reserve(sequence_id{s}, from + n).ok());
      q.insert(q.end(), seqs[s].q.begin() + from * qw, seqs[s].q.begin() + (from + n) * qw);
      k.insert(k.end(), seqs[s].k.begin() + from * kw, seqs[s].k.begin() + (from + n) * kw);
      v.insert(v.end(), seqs[s].v.begin() + from * kw, seqs[s].v.begin() + (from + n) * kw);
      query_start.push_back(query_start.back() + n);
      context.push_back(from + n);
      done[s] += n;
    }
    if (members.empty())
      continue;
    int max_context = *std::max_element(context.begin(), context.end());
    int max_blocks = (max_context + sh.block_tokens - 1) / sh.block_tokens;
    std::vector<void*> tables(members.size() * max_blocks, nullptr);
    for (std::size_t i = 0; i < members.size(); ++i) {
      const auto& t = cache.table(sequence_id{static_cast<std::uint64_t>(members[i])});
      std::copy(t.begin(), t.begin() + std::min<std::size_t>(t.size(), max_blocks), tables.begin() + i * max_blocks);
    }
    paged_kv kv;
    kv.block_tables = upload(d, tables);
    kv.query_start = upload(d, query_start);
    kv.context_lens = upload(d, context);
    kv.seqs = static_cast<int>(members.size());
    kv.tokens = query_start.back();
    kv.max_blocks = max_blocks;
    kv.max_context = max_context;
    kv.layers = sh.layers;
    kv.layer = layer;
    kv.kv_heads = sh.kv_heads;
    kv.head_dim = sh.head_dim;
    kv.block_tokens = sh.block_tokens;
    kv_append_params ap;
    ap.kv = kv;
    ap.k = upload(d, k);
    ap.v = upload(d, v);
    REQUIRE(d.kv_append(ap, d.compute_stream()).ok());
    paged_attention_params pp;
    pp.kv = kv;
    pp.q = upload(d, q);
    pp.out = device_bytes(d, q.size() * sizeof(float));
    pp.heads = sh.heads;
    REQUIRE(pp.check().ok());
    REQUIRE(d.paged_attention(pp, d.compute_stream()).ok());
    auto rows = download(d, static_cast<float*>(pp.out), q.size());
    for (std::size_t i = 0; i < members.size(); ++i) {
      int s = members[i];
      out[s].insert(out[s].end(), rows.begin() + query_start[i] * qw, rows.begin() + query_start[i + 1] * qw);
    }
    for (std::size_t i = 0; i < members.size(); ++i)
      REQUIRE(cache.set_length(sequence_id{static_cast<std::uint64_t>(members[i])}, context[i]).ok());
  }
  REQUIRE(d.health().ok());
  return out;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

std::vector<sequence_data> random_sequences(const shape& sh, const std::vector<int>& lens, std::mt19937& g) {
  std::vector<sequence_data> out;
  for (int len : lens)
    out.push_back({len, random_vec(static_cast<std::size_t>(len) * sh.heads * sh.head_dim, g),
                   random_vec(static_cast<std::size_t>(len) * sh.kv_heads * sh.head_dim, g),
                   random_vec(static_cast<std::size_t>(len) * sh.kv_heads * sh.head_dim, g)});
  return out;
}

/// Takes `n` + 1 blocks of the cache's size from the pool and gives `n` back shuffled, so that the next
/// allocations come out in a random order (the pool hands out the most recently freed block first). The
/// block it returns keeps the slab alive (a slab with no block in use goes back to the device).
kv_block scramble_pool(kv_cache& cache, int n, std::mt19937& g) {
  auto blocks = cache.pool().allocate(cache.block_bytes(), n + 1);
  REQUIRE(blocks.ok());
  kv_block keep = blocks->back();
  blocks->pop_back();
  std::shuffle(blocks->begin(), blocks->end(), g);
  cache.pool().release(*blocks);
  return keep;
}

void check_against_dense(const shape& sh, const std::vector<int>& lens,
                         const std::vector<std::vector<int>>& chunks, unsigned seed) {
  auto b = cpu_backend();
  device& d = b->dev(0);
  std::mt19937 g{seed};
  kv_pool pool{d, kv_pool_options{sh.block_tokens, 256, 0}};
  kv_cache cache{pool, kv_layout{sh.layers, sh.kv_heads, sh.head_dim, dtype::f32}};
  auto seqs = random_sequences(sh, lens, g);
  kv_block keep = scramble_pool(cache, 200, g);
  int layer = sh.layers - 1; // the last layer's rows: offsets within a block are exercised
  auto paged = run_paged(d, sh, layer, cache, seqs, chunks);
  for (std::size_t s = 0; s < seqs.size(); ++s) {
    auto ref = dense_reference(d, sh, seqs[s]);
    INFO("sequence " << s << " of length " << seqs[s].len);
    CHECK(max_abs_diff(paged[s], ref) < 1e-5);
  }
  cache.pool().release({keep});
}

} // namespace

TEST_CASE("paged attention over shuffled blocks equals dense causal attention for whole prompts",
          "[gpu][kv]") {
  shape sh{4, 4, 16, 3, 4};
  std::vector<int> lens{1, 3, 4, 9, 17};
  std::vector<std::vector<int>> chunks;
  for (int len : lens)
    chunks.push_back({len});
  check_against_dense(sh, lens, chunks, 1);
}

TEST_CASE("a mixed batch of prefill chunks and decode tokens attends as the dense op on the whole sequence",
          "[gpu][kv]") {
  shape sh{4, 4, 8, 2, 4};
  // Sequence 0: prefill 6 then decode; 1: joins late (sits out step 0) with a 3-token chunk, then decodes;
  // 2: chunked prefill 5 + 5 + 2 then decode; 3: one decode token per step from the start.
  std::vector<std::vector<int>> chunks{{6, 1, 1, 1, 1}, {0, 3, 1, 1}, {5, 5, 2, 1, 1, 1}, {1, 1, 1, 1, 1, 1}};
  std::vector<int> lens;
  for (const auto& c : chunks) {
    int n = 0;
    for (int x : c)
      n += x;
    lens.push_back(n);
  }
  check_against_dense(sh, lens, chunks, 2);
}

TEST_CASE("grouped-query paged attention shares each kv head among its group of query heads", "[gpu][kv]") {
  for (int kv_heads : {1, 2}) {
    shape sh{4, kv_heads, 8, 2, 3};
    std::vector<std::vector<int>> chunks{{7, 1, 1}, {2, 2, 2}, {1, 1, 1}};
    check_against_dense(sh, {9, 6, 3}, chunks, 10 + kv_heads);
  }
}

TEST_CASE("random block sizes, lengths and chunkings agree with dense attention", "[gpu][kv]") {
  std::mt19937 g{7};
  for (int trial = 0; trial < 6; ++trial) {
    int kv_heads = std::uniform_int_distribution<int>{1, 3}(g);
    shape sh{kv_heads * std::uniform_int_distribution<int>{1, 2}(g), kv_heads, 4 * std::uniform_int_distribution<int>{1, 4}(g),
             std::uniform_int_distribution<int>{1, 3}(g), std::uniform_int_distribution<int>{1, 8}(g)};
    int n = std::uniform_int_distribution<int>{1, 5}(g);
    std::vector<std::vector<int>> chunks(n);
    std::vector<int> lens;
    for (auto& c : chunks) {
      int steps = std::uniform_int_distribution<int>{1, 6}(g), len = 0;
      for (int s = 0; s < steps; ++s) {
        int x = std::uniform_int_distribution<int>{0, 6}(g);
        if (s == 0 && x == 0)
          x = 1;
        c.push_back(x);
        len += x;
      }
      lens.push_back(len);
    }
    INFO("trial " << trial);
    check_against_dense(sh, lens, chunks, 100 + trial);
  }
}

TEST_CASE("paged op parameters are checked on the host with precise messages", "[gpu][kv]") {
  int dummy = 0;
  void* table[1] = {&dummy};
  std::int32_t qs[2] = {0, 1}, ctx[1] = {1};
  paged_attention_params p;
  p.kv.block_tables = table;
  p.kv.query_start = qs;
  p.kv.context_lens = ctx;
  p.kv.seqs = 1;
  p.kv.tokens = 1;
  p.kv.max_blocks = 1;
  p.kv.max_context = 1;
  p.kv.layers = 1;
  p.kv.kv_heads = 2;
  p.kv.head_dim = 4;
  p.kv.block_tokens = 4;
  p.q = &dummy;
  p.out = &ctx;
  p.heads = 4;
  REQUIRE(p.check().ok());
  auto bad = p;
  bad.heads = 3;
  CHECK(bad.check().err().message == "paged_attention: heads must be a positive multiple of kv_heads 2, found 3");
  bad = p;
  bad.kv.max_context = 9;
  CHECK(bad.check().err().message ==
        "paged_attention: max_blocks 1 cannot hold max_context 9 tokens in blocks of 4 (needs 3)");
  bad = p;
  bad.kv.layer = 1;
  CHECK(bad.check().err().message == "paged_attention: layer must be in [0, layers), found layer 1 of 1");
  kv_append_params a;
  a.kv = p.kv;
  a.k = &dummy;
  a.v = &dummy;
  a.k_stride = 7;
  CHECK(a.check().err().message == "kv_append: a stride (7) is smaller than kv_heads * head_dim (8)");
}

TEST_CASE("a context longer than the block table makes the cpu device unhealthy with a precise reason",
          "[gpu][kv]") {
  auto b = cpu_backend();
  device& d = b->dev(0);
  std::vector<float> q(8, 0.5f), out(8);
  std::vector<void*> table{device_bytes(d, 2 * 4 * 4 * 4)};
  paged_attention_params p;
  p.kv.block_tables = upload(d, table);
  p.kv.query_start = upload(d, std::vector<std::int32_t>{0, 1});
  p.kv.context_lens = upload(d, std::vector<std::int32_t>{5}); // capacity is 4
  p.kv.seqs = 1;
  p.kv.tokens = 1;
  p.kv.max_blocks = 1;
  p.kv.max_context = 4;
  p.kv.layers = 1;
  p.kv.kv_heads = 2;
  p.kv.head_dim = 4;
  p.kv.block_tokens = 4;
  p.q = upload(d, q);
  p.out = device_bytes(d, 32);
  p.heads = 2;
  REQUIRE(d.paged_attention(p, d.compute_stream()).ok());
  (void)d.synchronize(d.compute_stream());
  REQUIRE_FALSE(d.health().ok());
  CHECK_THAT(d.health().err().message,
             Catch::Contains("paged_attention: sequence 0 has rows [0, 1) of 1 and context 5 (max_context 4"));
}
