#pragma once
// engine_stage_backend: the production stage_backend, over one gpu::stage_executor (the engine). Owned by
// its stage actor (shared_ptr); the backend (gpu::backend) must outlive it. Called from the stage actor only.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/stage_backend.hpp"
#include "gpu/engine.hpp"
#include "gpu/shard.hpp"

namespace sy::actors::internal {

class engine_stage_backend : public stage_backend {
public:
  struct model_slot {
    model_id id;
    gpu::shard_plan plan; // rank 0's plan (shapes of this stage)
  };

  /// `keep` keeps the devices alive for as long as the executor exists.
  engine_stage_backend(std::shared_ptr<gpu::backend> keep, std::unique_ptr<gpu::stage_executor> exec)
    : keep_(std::move(keep)), exec_(std::move(exec)) {}

  /// Registers a model's shards for this stage (one per rank).
  [[nodiscard]] status add_model(const std::string& name, model_id id,
                                 std::vector<std::shared_ptr<const gpu::host_shard>> shards);

  status health() const override;
  std::int64_t shard_bytes(const std::string& model) const override;
  status load(const std::string& model, done_fn done) override;
  status evict(const std::string& model, done_fn done) override;
  status forward(const std::string& model, const messages::tensor& input, int batch, int seq,
                 const std::string& out_kind, std::shared_ptr<messages::tensor> output, bool keep_on_device,
                 done_fn done) override;
  status step(const std::string& model, const std::vector<std::uint64_t>& seqs, const std::vector<std::int32_t>& counts,
              const messages::tensor& input, std::shared_ptr<messages::tensor> output, bool keep_on_device,
              done_fn done) override;
  void release(const std::string& model, const std::vector<std::uint64_t>& seqs) override;
  result<std::int64_t> swap_kv(const std::string& model, std::uint64_t seq, bool out) override;
  /// KV swaps done on this stage: out to the host, back in, and host copies dropped by a release (the
  /// sequence recomputes because some other stage could not swap, or it ended while out).
  std::int64_t kv_swaps_out() const noexcept { return swaps_out_.load(); }
  std::int64_t kv_swaps_in() const noexcept { return swaps_in_.load(); }
  std::int64_t kv_swaps_dropped() const noexcept { return swaps_dropped_.load(); }
  kv_usage kv() const override;
  std::vector<kv_usage> kv_by_rank() const override;

private:
  const model_slot* find(const std::string& model) const;
  std::shared_ptr<gpu::backend> keep_; // destroyed after exec_
  std::unique_ptr<gpu::stage_executor> exec_;
  std::map<std::string, model_slot> models_;
  std::atomic<std::int64_t> swaps_out_{0}, swaps_in_{0}, swaps_dropped_{0};
};

} // namespace sy::actors::internal
