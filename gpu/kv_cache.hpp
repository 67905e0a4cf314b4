#pragma once
// The paged KV cache of generation (issue 10 §1, DESIGN.md §10), in two pieces:
//
// - kv_pool: ONE per device, shared by every model resident on it. It hands out fixed-size blocks, each
//   `block_tokens` tokens of one sequence for all layers of one (model, stage, tensor rank), carved out of
//   the device's budgeted memory (device::allocate) in slabs of up to `slab_blocks` blocks. So weights,
//   activations and KV compete for the same bytes: a slab is only allocated when the budget has room, and
//   a slab whose blocks are all back is returned to the device at once (stream-ordered on the compute
//   stream), so an evicted model's KV or a finished sequence frees bytes for a shard load.
//   Blocks of different layouts have different sizes; slabs are per block size.
// - kv_cache: ONE per (model, stage, tensor rank): its layout ([layers][K, V][kv_heads][block_tokens]
//   [head_dim], gpu/ops.hpp) and, per sequence, its block table and length. The owner of the (model,
//   stage) (the stage executor, one owner thread) owns it; tensor parallelism gives each rank its own
//   kv_cache over the rank's kv heads (kv_heads / tp).
//
// Stream order: every KV op (kv_append, paged_attention) and every swap copy of a cache runs on its
// device's compute stream. Blocks freed by free()/swap_out() go back to the pool at once; a later user of
// such a block writes it only through ops enqueued after that point on the same stream, so the
// reuse is ordered after every earlier read. Slabs are released with device::free_after(compute stream).
//
// Threads: kv_pool is thread-safe (a mutex); kv_cache is used by one owner thread.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "gpu/device.hpp"
#include "gpu/model_spec.hpp"
#include "messages/ids.hpp"
#include "messages/result.hpp"

namespace sy::gpu {

/// A generating sequence, as the KV cache and the sampler see it.
using sequence_id = strong_id<struct sequence_tag, std::uint64_t>;

/// The KV shape of one (model, stage, tensor rank).
struct kv_layout {
  int layers = 0;   // layers of the stage
  int kv_heads = 0; // kv heads on this rank
  int head_dim = 0;
  dtype type = dtype::f32;
  /// Bytes of one block of `block_tokens` tokens: 2 * layers * kv_heads * block_tokens * head_dim elements.
  std::size_t block_bytes(int block_tokens) const noexcept;
  [[nodiscard]] status check() const;
};

/// The layout of stage layers [first_layer, end_layer) on one of `tp` ranks (kv heads split evenly; an
/// error naming kv_heads and tp when tp does not divide them).
result<kv_layout> make_kv_layout(const model_spec& spec, int first_layer, int end_layer, int tp, dtype type);

struct kv_pool_options {
  int block_tokens = 16;
  int slab_blocks = 64;      // blocks per device allocation; fewer when the budget has less room
  std::size_t max_bytes = 0; // cap on the pool's device bytes; 0 = only the device budget limits it
};

/// One block: its base address in device memory and the slab it came from.
struct kv_block {
  void* data = nullptr;
  std::uint32_t slab = 0;
  std::uint32_t index = 0;
};

struct kv_pool_usage {
  std::size_t blocks_used = 0;    // handed out
  std::size_t blocks_free = 0;    // in held slabs, not handed out
  std::size_t bytes_reserved = 0; // device bytes the pool's slabs hold
  std::size_t bytes_used = 0;     // bytes of the handed-out blocks
  std::size_t slabs = 0;
};

class kv_pool {
public:
  explicit kv_pool(device& dev, kv_pool_options options = {});
  /// Releases every slab (blocks still handed out are lost to their holders; hold no cache past the pool).
  ~kv_pool();
  kv_pool(const kv_pool&) = delete;
  kv_pool& operator=(const kv_pool&) = delete;

  device& dev() const noexcept { return dev_; }
  int block_tokens() const noexcept { return options_.block_tokens; }

  /// `count` blocks of `block_bytes` each, all or nothing. Error "memory" (the pool unchanged) when the
  /// device budget or max_bytes has no room, or new slabs would leave less than `leave_free` bytes of the
  /// budget (e.g. the workspace of the step the blocks are for): the message says blocks requested, block
  /// bytes, the pool's bytes and the device's used and budget bytes.
  result<std::vector<kv_block>> allocate(std::size_t block_bytes, int count, std::size_t leave_free = 0);
  /// Gives blocks back (each exactly once). Slabs left with no block in use go back to the device.
  void release(const std::vector<kv_block>& blocks);
  kv_pool_usage usage() const;

private:
  struct slab {
    device_buffer memory;
    std::size_t block_bytes = 0;
    int blocks = 0;
    std::vector<std::uint32_t> free; // indices of free blocks (LIFO)
  };
  status add_slab(std::size_t block_bytes, int blocks); // with mutex_ held
  void drop_slab(std::uint32_t id);                      // with mutex_ held

  device& dev_;
  kv_pool_options options_;
  mutable std::mutex mutex_;
  std::map<std::uint32_t, slab> slabs_; // by id: allocation order, so block choice is deterministic
  std::uint32_t next_slab_ = 1;
  std::size_t reserved_ = 0, used_blocks_ = 0, used_bytes_ = 0;
};

/// A sequence's KV copied out to pinned host memory (swap_out); restore it with swap_in. `data` is
/// readable (and may be freed) once the device's compute stream has passed the swap.
struct kv_swapped {
  pinned_buffer data; // blocks * block_bytes
  int tokens = 0;
  int blocks = 0;
};

class kv_cache {
public:
  kv_cache(kv_pool& pool, kv_layout layout);
  /// Gives every sequence's blocks back to the pool.
  ~kv_cache();
  kv_cache(const kv_cache&) = delete;
  kv_cache& operator=(const kv_cache&) = delete;

  const kv_layout& layout() const noexcept { return layout_; }
  kv_pool& pool() const noexcept { return pool_; }
  int block_tokens() const noexcept { return pool_.block_tokens(); }
  std::size_t block_bytes() const noexcept { return block_bytes_; }

  /// Blocks `seq` still needs to hold `tokens` tokens in total (0 when it has them; a new sequence counts
  /// from 0). For admission.
  int blocks_needed(sequence_id seq, int tokens) const;
  /// Makes room for `tokens` tokens in total (creating the sequence if new): allocates the missing blocks
  /// from the pool, all or nothing (error "memory", nothing changed); see kv_pool::allocate for leave_free.
  status reserve(sequence_id seq, int tokens, std::size_t leave_free = 0);
  /// The sequence now holds `tokens` valid tokens (after a step's kv_append). Error when it is unknown or
  /// `tokens` exceeds its reserved capacity.
  status set_length(sequence_id seq, int tokens);
  bool contains(sequence_id seq) const;
  int length(sequence_id seq) const;   // 0 if unknown
  int capacity(sequence_id seq) const; // reserved tokens, 0 if unknown
  /// Block base addresses of `seq` in position order (empty if unknown): its row of a step's block table.
  const std::vector<void*>& table(sequence_id seq) const;
  /// Gives the sequence's blocks back to the pool and forgets it (no-op if unknown).
  void free(sequence_id seq);
  std::size_t sequences() const noexcept { return seqs_.size(); }
  std::size_t blocks_held() const noexcept;

  /// Bytes swap_out needs for `seq` (its blocks that hold valid tokens).
  std::size_t swap_bytes(sequence_id seq) const;
  /// Copies the sequence's valid blocks into `host` (at least swap_bytes) on the compute stream, then frees
  /// it as free() does. Error (nothing enqueued) if unknown or `host` is too small.
  result<kv_swapped> swap_out(sequence_id seq, pinned_buffer host);
  /// Re-creates a swapped-out sequence (must be unknown now): allocates its blocks (error "memory", nothing
  /// changed) and copies them in on the compute stream. `from` must stay alive until the stream has passed
  /// the copies.
  status swap_in(sequence_id seq, const kv_swapped& from);

private:
  struct sequence {
    std::vector<kv_block> blocks;
    std::vector<void*> table;
    int length = 0;
  };

  kv_pool& pool_;
  kv_layout layout_;
  std::size_t block_bytes_;
  std::unordered_map<sequence_id, sequence> seqs_;
};

} // namespace sy::gpu
