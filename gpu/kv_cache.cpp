#include "gpu/kv_cache.hpp"

#include <algorithm>
#include <string>

namespace sy::gpu {

namespace {
std::string num(std::size_t v) {
  return std::to_string(v);
}
const std::vector<void*> no_table;
} // namespace

// --- kv_layout ------------------------------------------------------------------------------------------

std::size_t kv_layout::block_bytes(int block_tokens) const noexcept {
  return 2 * static_cast<std::size_t>(layers) * kv_heads * head_dim * block_tokens * dtype_size(type);
}

status kv_layout::check() const {
  if (layers <= 0 || kv_heads <= 0 || head_dim <= 0)
    return make_error("kv", "kv layout: layers, kv_heads and head_dim must be positive, found " +
                              std::to_string(layers) + ", " + std::to_string(kv_heads) + ", " +
                              std::to_string(head_dim));
  return {};
}

result<kv_layout> make_kv_layout(const model_spec& spec, int first_layer, int end_layer, int tp, dtype type) {
  if (first_layer < 0 || end_layer <= first_layer || end_layer > spec.layers)
    return make_error("kv", spec.name + ": kv layout of layers [" + std::to_string(first_layer) + ", " +
                              std::to_string(end_layer) + ") outside the model's " + std::to_string(spec.layers) +
                              " layers");
  int kv_heads = spec.kv_heads_or_heads();
  if (tp <= 0 || kv_heads % tp != 0)
    return make_error("kv", spec.name + ": tensor parallel degree " + std::to_string(tp) +
                              " does not divide the " + std::to_string(kv_heads) + " kv heads");
  kv_layout l{end_layer - first_layer, kv_heads / tp, spec.head_dim_or_default(), type};
  if (auto st = l.check(); !st)
    return st.err();
  return l;
}

// --- kv_pool --------------------------------------------------------------------------------------------

kv_pool::kv_pool(device& dev, kv_pool_options options) : dev_(dev), options_(options) {
  options_.block_tokens = std::max(1, options_.block_tokens);
  options_.slab_blocks = std::max(1, options_.slab_blocks);
}

kv_pool::~kv_pool() {
  std::lock_guard<std::mutex> lock{mutex_};
  while (!slabs_.empty())
    drop_slab(slabs_.begin()->first);
}

status kv_pool::add_slab(std::size_t block_bytes, int blocks) {
  std::size_t bytes = block_bytes * static_cast<std::size_t>(blocks);
  if (options_.max_bytes != 0 && reserved_ + bytes > options_.max_bytes)
    return make_error("memory", dev_.name() + ": kv pool cap of " + num(options_.max_bytes) +
                                  " bytes reached (holds " + num(reserved_) + ", a slab needs " + num(bytes) + ")");
  auto mem = dev_.allocate(bytes);
  if (!mem)
    return mem.err();
  slab s;
  s.memory = *mem;
  s.block_bytes = block_bytes;
  s.blocks = blocks;
  for (int i = blocks - 1; i >= 0; --i)
    s.free.push_back(static_cast<std::uint32_t>(i)); // pops block 0 first
  slabs_.emplace(next_slab_++, std::move(s));
  reserved_ += bytes;
  return {};
}

void kv_pool::drop_slab(std::uint32_t id) {
  auto it = slabs_.find(id);
  if (it == slabs_.end())
    return;
  reserved_ -= it->second.block_bytes * static_cast<std::size_t>(it->second.blocks);
  // Work enqueued on the compute stream may still read the slab's blocks: free after it.
  if (!dev_.free_after(it->second.memory, dev_.compute_stream()))
    dev_.free(it->second.memory);
  slabs_.erase(it);
}

result<std::vector<kv_block>> kv_pool::allocate(std::size_t block_bytes, int count, std::size_t leave_free) {
  if (block_bytes == 0 || count < 0)
    return make_error("kv", dev_.name() + ": kv pool allocation of " + std::to_string(count) + " blocks of " +
                              num(block_bytes) + " bytes");
  std::vector<kv_block> out;
  if (count == 0)
    return out;
  std::lock_guard<std::mutex> lock{mutex_};
  std::size_t have = 0;
  for (auto& [id, s] : slabs_)
    if (s.block_bytes == block_bytes)
      have += s.free.size();
  std::vector<std::uint32_t> added;
  auto rollback = [&] {
    for (auto id : added)
      drop_slab(id);
  };
  while (have < static_cast<std::size_t>(count)) {
    int missing = count - static_cast<int>(have);
    // A full slab when it fits with `leave_free` to spare, else exactly the missing blocks.
    const std::size_t room = dev_.memory_budget() - std::min(dev_.memory_budget(), dev_.memory_used());
    int want = std::max(missing, options_.slab_blocks);
    if (room < block_bytes * static_cast<std::size_t>(want) + leave_free)
      want = missing;
    status st = room < block_bytes * static_cast<std::size_t>(missing) + leave_free
                  ? status{make_error("memory", num(leave_free) + " bytes must stay free for the step")}
                  : add_slab(block_bytes, want);
    if (!st && want != missing)
      st = add_slab(block_bytes, missing);
    if (!st) {
      rollback();
      return make_error("memory", dev_.name() + ": no room for " + std::to_string(count) + " kv blocks of " +
                                    num(block_bytes) + " bytes (pool holds " + num(reserved_) + " bytes, " +
                                    num(used_blocks_) + " blocks in use; device uses " + num(dev_.memory_used()) +
                                    " of " + num(dev_.memory_budget()) + " bytes): " + st.err().message);
    }
    added.push_back(next_slab_ - 1);
    have += static_cast<std::size_t>(slabs_.rbegin()->second.blocks);
  }
  for (auto& [id, s] : slabs_) {
    if (s.block_bytes != block_bytes)
      continue;
    while (!s.free.empty() && out.size() < static_cast<std::size_t>(count)) {
      std::uint32_t i = s.free.back();
      s.free.pop_back();
      out.push_back(kv_block{static_cast<std::byte*>(s.memory.data) + i * block_bytes, id, i});
    }
    if (out.size() == static_cast<std::size_t>(count))
      break;
  }
  used_blocks_ += out.size();
  used_bytes_ += out.size() * block_bytes;
  return out;
}

void kv_pool::release(const std::vector<kv_block>& blocks) {
  std::lock_guard<std::mutex> lock{mutex_};
  for (const auto& b : blocks) {
    auto it = slabs_.find(b.slab);
    if (it == slabs_.end())
      continue;
    it->second.free.push_back(b.index);
    --used_blocks_;
    used_bytes_ -= it->second.block_bytes;
    if (it->second.free.size() == static_cast<std::size_t>(it->second.blocks))
      drop_slab(b.slab);
  }
}

kv_pool_usage kv_pool::usage() const {
  std::lock_guard<std::mutex> lock{mutex_};
  kv_pool_usage u;
  u.blocks_used = used_blocks_;
  u.bytes_used = used_bytes_;
  u.bytes_reserved = reserved_;
  u.slabs = slabs_.size();
  for (const auto& [id, s] : slabs_)
    u.blocks_free += s.free.size();
  return u;
}

// --- kv_cache -------------------------------------------------------------------------------------------

kv_cache::kv_cache(kv_pool& pool, kv_layout layout)
  : pool_(pool), layout_(layout), block_bytes_(layout.block_bytes(pool.block_tokens())) {}

kv_cache::~kv_cache() {
  for (auto& [id, s] : seqs_)
    pool_.release(s.blocks);
}

int kv_cache::blocks_needed(sequence_id seq, int tokens) const {
  int want = (std::max(tokens, 0) + block_tokens() - 1) / block_tokens();
  auto it = seqs_.find(seq);
  int have = it == seqs_.end() ? 0 : static_cast<int>(it->second.blocks.size());
  return std::max(0, want - have);
}

status kv_cache::reserve(sequence_id seq, int tokens, std::size_t leave_free) {
  int missing = blocks_needed(seq, tokens);
  if (missing == 0) {
    seqs_.try_emplace(seq);
    return {};
  }
  auto got = pool_.allocate(block_bytes_, missing, leave_free);
  if (!got)
    return got.err();
  auto& s = seqs_[seq];
  for (const auto& b : *got) {
    s.blocks.push_back(b);
    s.table.push_back(b.data);
  }
  return {};
}

status kv_cache::set_length(sequence_id seq, int tokens) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end())
    return make_error("kv", "set_length of unknown sequence " + std::to_string(seq.value));
  int cap = static_cast<int>(it->second.blocks.size()) * block_tokens();
  if (tokens < 0 || tokens > cap)
    return make_error("kv", "sequence " + std::to_string(seq.value) + ": length " + std::to_string(tokens) +
                              " outside its reserved capacity of " + std::to_string(cap) + " tokens");
  it->second.length = tokens;
  return {};
}

bool kv_cache::contains(sequence_id seq) const {
  return seqs_.count(seq) != 0;
}

int kv_cache::length(sequence_id seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.length;
}

int kv_cache::capacity(sequence_id seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : static_cast<int>(it->second.blocks.size()) * block_tokens();
}

const std::vector<void*>& kv_cache::table(sequence_id seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? no_table : it->second.table;
}

void kv_cache::free(sequence_id seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end())
    return;
  pool_.release(it->second.blocks);
  seqs_.erase(it);
}

std::size_t kv_cache::blocks_held() const noexcept {
  std::size_t n = 0;
  for (const auto& [id, s] : seqs_)
    n += s.blocks.size();
  return n;
}

std::size_t kv_cache::swap_bytes(sequence_id seq) const {
  int blocks = (length(seq) + block_tokens() - 1) / block_tokens();
  return static_cast<std::size_t>(blocks) * block_bytes_;
}

result<kv_swapped> kv_cache::swap_out(sequence_id seq, pinned_buffer host) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end())
    return make_error("kv", "swap_out of unknown sequence " + std::to_string(seq.value));
  std::size_t need = swap_bytes(seq);
  if (host.size() < need)
    return make_error("kv", "swap_out of sequence " + std::to_string(seq.value) + ": host buffer of " +
                              num(host.size()) + " bytes, needs " + num(need));
  device& d = pool_.dev();
  int blocks = static_cast<int>(need / block_bytes_);
  for (int b = 0; b < blocks; ++b)
    if (auto st = d.copy_to_host(host.data() + static_cast<std::size_t>(b) * block_bytes_, it->second.table[b],
                                 block_bytes_, d.compute_stream());
        !st)
      return st.err(); // earlier copies of this call may be enqueued; the sequence is kept
  kv_swapped out{std::move(host), it->second.length, blocks};
  free(seq);
  return out;
}

status kv_cache::swap_in(sequence_id seq, const kv_swapped& from) {
  if (contains(seq))
    return make_error("kv", "swap_in of sequence " + std::to_string(seq.value) + ", which is resident");
  if (from.data.size() < static_cast<std::size_t>(from.blocks) * block_bytes_ ||
      from.tokens > from.blocks * block_tokens())
    return make_error("kv", "swap_in of sequence " + std::to_string(seq.value) + ": the swapped data (" +
                              num(from.data.size()) + " bytes, " + std::to_string(from.blocks) + " blocks, " +
                              std::to_string(from.tokens) + " tokens) does not match this cache's blocks of " +
                              num(block_bytes_) + " bytes");
  if (auto st = reserve(seq, std::max(from.tokens, 1)); !st) {
    seqs_.erase(seq);
    return st;
  }
  device& d = pool_.dev();
  auto& s = seqs_[seq];
  for (int b = 0; b < from.blocks; ++b)
    if (auto st = d.copy_to_device(s.table[b], from.data.data() + static_cast<std::size_t>(b) * block_bytes_,
                                   block_bytes_, d.compute_stream());
        !st) {
      free(seq);
      return st;
    }
  s.length = from.tokens;
  return {};
}

} // namespace sy::gpu
