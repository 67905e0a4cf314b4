#pragma once
// A Hugging Face model folder as a model source (issue 8): config.json -> model_spec (gpu/hf_config.hpp),
// and model.safetensors or the shards named by model.safetensors.index.json -> a tensor_source that reads
// each canonical tensor's slice straight from the memory-mapped files into the shard buffer (transposing
// nn.Linear weights, fusing q|k|v and gate|up, OPT's position offset, converting F32/F16/BF16 to the shard
// dtype). Nothing is copied before build_host_shard asks for it, so a model close to host memory loads.
// A tied head is read from the embedding; there is no second copy.
//
// Refused with a message naming the file and the tensor: a tensor the model needs that is missing or has
// the wrong shape or a non-float dtype, a float tensor the model would not use (it would compute another
// model; BERT's cls.* heads, a tied lm_head.weight and mask/rotary buffers are skipped), a shard index
// naming a tensor its file does not hold. Non-float tensors (position_ids, masks) are skipped.
//
// The source keeps the files mapped for its lifetime; read() is const and thread-safe.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpu/hf_config.hpp"
#include "gpu/tensor_source.hpp"

namespace sy::gpu {

struct hf_checkpoint {
  std::string dir;
  hf_config config;                   // config.spec: the model (BERT's pooler decided by the files)
  bool has_tokenizer = false;         // dir/tokenizer.json exists
  std::vector<std::string> files;     // the safetensors files read
  std::uint64_t file_bytes = 0;       // their total size
  std::shared_ptr<const tensor_source> source;
  const model_spec& spec() const noexcept { return config.spec; }
};

/// True when `path` is a directory holding a config.json.
bool is_hf_folder(const std::string& path);

/// Opens the folder: parses config.json, maps the safetensors files, parses their headers and checks that
/// they hold exactly the model's tensors (reads no tensor data). `type` overrides the device dtype
/// (default: config.json's torch_dtype, else f32). spec.name is the folder's base name.
result<hf_checkpoint> open_hf_checkpoint(const std::string& dir, std::optional<dtype> type = std::nullopt);

} // namespace sy::gpu
