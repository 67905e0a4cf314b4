#pragma once
// Where each canonical tensor (gpu/weights.hpp) of a Hugging Face family lives in its checkpoint: a list of
// parts concatenated along the canonical columns, each an HF tensor read as it is (GPT-2's Conv1D,
// embeddings, norms, biases), transposed (torch nn.Linear weights [out, in]) or from a row offset (OPT's
// positions start at row 2). Private to gpu/ (hf_checkpoint.cpp and its test).
#include <cstdint>
#include <string>
#include <vector>

#include "gpu/model_spec.hpp"
#include "gpu/weights.hpp"

namespace sy::gpu::internal {

struct hf_part {
  std::string name;            // full HF tensor name (prefix included)
  std::int64_t width = 0;      // canonical columns this part covers
  bool transpose = false;      // HF tensor is [width, rows]; else [rows + row_offset, width] (or [width])
  std::int64_t row_offset = 0;
};

struct hf_names {
  std::string prefix;          // the body prefix found in the checkpoint ("transformer.", "model.", "bert.", "")
  /// The parts of canonical tensor `t` (never empty for a tensor of weight_tensors(spec)).
  std::vector<hf_part> parts(const model_spec& spec, const tensor_desc& t) const;
  /// Names the checkpoint may hold that the model does not use and that do not change what it computes
  /// (BERT's MLM/NSP heads cls.*, a tied lm_head.weight, GPT-2's attention mask buffers, rotary inv_freq).
  bool ignorable(const model_spec& spec, const std::string& hf_name) const;
};

/// The body prefixes a family's checkpoints use, most common first, and the tensor that identifies them.
std::vector<std::string> hf_prefixes(family f);
std::string hf_embedding_name(family f); // without prefix: "wte.weight", "embed_tokens.weight", ...

} // namespace sy::gpu::internal
