#pragma once
// pipeline: a whole model, sharded by a parallel_layout over consecutive devices of one backend (stage s,
// rank r on device first_device + s * tp + r), run synchronously. For the command-line tools, the tests
// and the benchmark, NOT for actors (it blocks the calling thread). Activations pass from stage to stage
// on the devices (device_activation handles), or through host memory when asked. One thread uses a
// pipeline at a time.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gpu/engine.hpp"
#include "gpu/tensor_source.hpp"
#include "gpu/weights.hpp"

namespace sy::gpu {

class pipeline {
public:
  /// Builds the host shards of every (stage, rank) and a stage_executor per stage. Needs
  /// layout.stages() * layout.tp devices from first_device on.
  static result<std::unique_ptr<pipeline>> create(backend& b, const model_spec& spec,
                                                  const parallel_layout& layout, const weight_set& weights,
                                                  int first_device = 0);
  /// The same, reading each shard's slices from `source` (checked here once against the spec).
  static result<std::unique_ptr<pipeline>> create(backend& b, const model_spec& spec,
                                                  const parallel_layout& layout, const tensor_source& source,
                                                  int first_device = 0);
  ~pipeline();

  /// Loads every shard and waits.
  status load();
  /// Evicts every shard and waits.
  status evict();
  /// How activations travel between stages.
  enum class handoff { device, host };
  /// One forward pass of `batch` sequences of tokens.size()/batch tokens each; waits. Returns
  /// [batch, out_dim] f32 row-major. With `stage_seconds`: the wall seconds of each stage's forward
  /// (enqueue to done), resized to the number of stages.
  result<std::vector<float>> run(const std::vector<std::int32_t>& tokens, int batch,
                                 std::vector<double>* stage_seconds = nullptr, handoff h = handoff::device);
  /// What a run may say besides the tokens (issue 8).
  struct run_options {
    int batch = 1;                           // sequences of equal length (when seq_lens is empty)
    std::vector<int> seq_lens;               // variable-length sequences, packed in `tokens` (sum = size)
    std::vector<std::int32_t> token_types;   // empty, or one per token (encoders with token types)
    std::optional<output_kind> out;          // default: default_output(spec)
  };
  /// One forward pass as `o` says; waits. Returns [output_rows, output_width] f32 row-major (engine.hpp).
  result<std::vector<float>> run(const std::vector<std::int32_t>& tokens, const run_options& o,
                                 std::vector<double>* stage_seconds = nullptr, handoff h = handoff::device);

  int out_dim() const noexcept;
  const model_spec& spec() const noexcept;
  stage_executor& stage(int s);
  int stages() const noexcept;
  /// The id the model has in every stage's executor (shard_bytes, workspace_bytes, load, evict).
  model_id id() const noexcept;
  /// Seconds of the last load() (host->device copies of all shards, all stages in parallel).
  double last_load_seconds() const noexcept;
  /// Total bytes of all shards.
  std::size_t shard_bytes() const noexcept;

private:
  struct impl;
  explicit pipeline(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace sy::gpu
