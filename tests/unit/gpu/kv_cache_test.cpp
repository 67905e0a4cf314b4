// The paged KV cache (gpu/kv_cache.hpp): blocks from the device budget, exact accounting (every block back
// after free), weights and KV competing for the same bytes, swap-out/in through pinned host memory.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "gpu/backend.hpp"
#include "gpu/kv_cache.hpp"

using namespace sy;
using namespace sy::gpu;

namespace {

std::unique_ptr<backend> cpu_backend(std::size_t budget) {
  backend_options o;
  o.kind = backend_kind::cpu;
  o.devices = 1;
  o.budget_bytes = budget;
  o.cpu_threads = 1;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  return std::move(*b);
}

// 2 layers x 2 kv heads x head_dim 8, f32: 2*2*2*8*4 = 256 bytes per token slot row set; 16 tokens: 4 KiB.
const kv_layout small{2, 2, 8, dtype::f32};

} // namespace

TEST_CASE("a kv layout splits kv heads over tensor ranks and refuses a degree that does not divide them",
          "[gpu][kv]") {
  auto spec = preset("tiny-gpt");
  REQUIRE(spec.ok());
  spec->kv_heads = 2;
  auto l = make_kv_layout(*spec, 0, spec->layers, 2, dtype::f32);
  REQUIRE(l.ok());
  CHECK(l->kv_heads == 1);
  CHECK(l->layers == spec->layers);
  CHECK(l->head_dim == spec->head_dim_or_default());
  CHECK(l->block_bytes(16) == 2u * spec->layers * 1 * l->head_dim * 16 * 4);
  auto bad = make_kv_layout(*spec, 0, spec->layers, 4, dtype::f32);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message == spec->name + ": tensor parallel degree 4 does not divide the 2 kv heads");
  CHECK_FALSE(make_kv_layout(*spec, 1, 1, 1, dtype::f32).ok());
}

TEST_CASE("kv blocks are carved from the device budget and all come back after free", "[gpu][kv]") {
  auto b = cpu_backend(1 << 20);
  device& d = b->dev(0);
  kv_pool pool{d, kv_pool_options{16, 8, 0}};
  kv_cache cache{pool, small};
  CHECK(cache.block_bytes() == 4096);
  std::size_t before = d.memory_used();
  REQUIRE(cache.reserve(sequence_id{1}, 33).ok()); // 3 blocks, one slab of 8
  CHECK(cache.blocks_held() == 3);
  CHECK(cache.capacity(sequence_id{1}) == 48);
  CHECK(d.memory_used() == before + 8 * 4096);
  CHECK(pool.usage().blocks_used == 3);
  CHECK(pool.usage().blocks_free == 5);
  CHECK(cache.blocks_needed(sequence_id{1}, 48) == 0);
  CHECK(cache.blocks_needed(sequence_id{1}, 49) == 1);
  CHECK(cache.blocks_needed(sequence_id{2}, 1) == 1);
  REQUIRE(cache.set_length(sequence_id{1}, 33).ok());
  CHECK(cache.set_length(sequence_id{1}, 49).err().message ==
        "sequence 1: length 49 outside its reserved capacity of 48 tokens");
  CHECK(cache.table(sequence_id{1}).size() == 3);
  cache.free(sequence_id{1});
  REQUIRE(d.synchronize(d.compute_stream()).ok()); // the slab is freed stream-ordered
  CHECK(pool.usage().blocks_used == 0);
  CHECK(pool.usage().bytes_reserved == 0);
  CHECK(d.memory_used() == before);
}

TEST_CASE("random reserves and frees keep the pool's accounting exact", "[gpu][kv]") {
  auto b = cpu_backend(8 << 20);
  device& d = b->dev(0);
  std::size_t before = d.memory_used();
  {
    kv_pool pool{d, kv_pool_options{4, 5, 0}};
    kv_cache a{pool, small}, c{pool, kv_layout{1, 1, 4, dtype::f32}}; // two models, two block sizes
    std::mt19937 g{3};
    std::map<std::pair<int, std::uint64_t>, int> want; // (cache, seq) -> tokens reserved
    for (int op = 0; op < 400; ++op) {
      int which = std::uniform_int_distribution<int>{0, 1}(g);
      kv_cache& k = which == 0 ? a : c;
      sequence_id s{std::uniform_int_distribution<std::uint64_t>{0, 9}(g)};
      if (std::uniform_int_distribution<int>{0, 3}(g) == 0) {
        k.free(s);
        want.erase({which, s.value});
      } else {
        int tokens = want[{which, s.value}] + std::uniform_int_distribution<int>{0, 9}(g);
        REQUIRE(k.reserve(s, tokens).ok());
        want[{which, s.value}] = tokens;
      }
      std::size_t blocks = 0;
      for (auto& [key, tokens] : want)
        blocks += static_cast<std::size_t>((tokens + 3) / 4);
      REQUIRE(pool.usage().blocks_used == blocks);
      REQUIRE(a.blocks_held() + c.blocks_held() == blocks);
      REQUIRE(pool.usage().bytes_used == a.blocks_held() * a.block_bytes() + c.blocks_held() * c.block_bytes());
    }
  } // the caches give their blocks back, then the pool its slabs
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  CHECK(d.memory_used() == before);
}

TEST_CASE("weights and kv blocks compete for the same device bytes", "[gpu][kv]") {
  auto b = cpu_backend(64 * 4096);
  device& d = b->dev(0);
  kv_pool pool{d, kv_pool_options{16, 8, 0}};
  kv_cache cache{pool, small};
  auto weights = d.allocate(60 * 4096); // a resident shard leaves room for 4 blocks
  REQUIRE(weights.ok());
  REQUIRE(cache.reserve(sequence_id{1}, 64).ok()); // 4 blocks: the full slab of 8 does not fit, 4 do
  auto more = cache.reserve(sequence_id{2}, 1);
  REQUIRE_FALSE(more.ok());
  CHECK(more.err().category == "memory");
  CHECK_THAT(more.err().message, Catch::StartsWith("cpu:0: no room for 1 kv blocks of 4096 bytes"));
  CHECK_FALSE(cache.contains(sequence_id{2}));
  CHECK(pool.usage().blocks_used == 4);
  d.free(*weights); // the shard is evicted: its bytes serve KV now
  REQUIRE(cache.reserve(sequence_id{2}, 16 * 20).ok());
  CHECK(cache.blocks_held() == 24);
}

TEST_CASE("the pool's byte cap limits kv below the device budget", "[gpu][kv]") {
  auto b = cpu_backend(1 << 20);
  kv_pool pool{b->dev(0), kv_pool_options{16, 2, 4 * 4096}};
  kv_cache cache{pool, small};
  REQUIRE(cache.reserve(sequence_id{1}, 64).ok());
  auto st = cache.reserve(sequence_id{2}, 1);
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.err().message, Catch::Contains("kv pool cap of 16384 bytes reached"));
}

TEST_CASE("a swapped-out sequence comes back with the same contents and frees its blocks meanwhile",
          "[gpu][kv]") {
  auto b = cpu_backend(1 << 20);
  device& d = b->dev(0);
  kv_pool pool{d, kv_pool_options{4, 4, 0}};
  kv_cache cache{pool, small}; // 2 * 2 * 2 * 4 * 8 floats = 1 KiB per block
  REQUIRE(cache.reserve(sequence_id{7}, 10).ok());
  REQUIRE(cache.set_length(sequence_id{7}, 10).ok());
  std::vector<std::vector<float>> written;
  for (void* block : cache.table(sequence_id{7})) {
    std::vector<float> v(cache.block_bytes() / 4);
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = static_cast<float>(written.size() * 1000 + i);
    REQUIRE(d.copy_to_device(block, v.data(), cache.block_bytes(), d.compute_stream()).ok());
    written.push_back(std::move(v));
  }
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  auto host = b->allocate_pinned(cache.swap_bytes(sequence_id{7}));
  REQUIRE(host.ok());
  CHECK(cache.swap_bytes(sequence_id{7}) == 3 * cache.block_bytes());
  auto out = cache.swap_out(sequence_id{7}, std::move(*host));
  REQUIRE(out.ok());
  CHECK_FALSE(cache.contains(sequence_id{7}));
  CHECK(pool.usage().blocks_used == 0);
  // Another sequence takes (and overwrites) the freed blocks meanwhile.
  REQUIRE(cache.reserve(sequence_id{8}, 12).ok());
  std::vector<float> junk(cache.block_bytes() / 4, -1.0f);
  for (void* block : cache.table(sequence_id{8}))
    REQUIRE(d.copy_to_device(block, junk.data(), cache.block_bytes(), d.compute_stream()).ok());
  REQUIRE(cache.swap_in(sequence_id{7}, *out).ok());
  REQUIRE(d.synchronize(d.compute_stream()).ok());
  CHECK(cache.length(sequence_id{7}) == 10);
  REQUIRE(cache.table(sequence_id{7}).size() == 3);
  for (std::size_t k = 0; k < 3; ++k) {
    std::vector<float> back(cache.block_bytes() / 4);
    REQUIRE(d.copy_to_host(back.data(), cache.table(sequence_id{7})[k], cache.block_bytes(), d.compute_stream()).ok());
    REQUIRE(d.synchronize(d.compute_stream()).ok());
    CHECK(back == written[k]);
  }
  CHECK(cache.swap_in(sequence_id{7}, *out).err().message == "swap_in of sequence 7, which is resident");
  auto small_host = b->allocate_pinned(16);
  REQUIRE(small_host.ok());
  CHECK(cache.swap_out(sequence_id{7}, std::move(*small_host)).err().message ==
        "swap_out of sequence 7: host buffer of 16 bytes, needs 3072");
}
