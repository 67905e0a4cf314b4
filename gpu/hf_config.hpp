#pragma once
// Hugging Face config.json -> model_spec, for the families switchyard computes exactly (issue 8):
//   GPT-2  (GPT2LMHeadModel, GPT2Model): pre-LN, GELU-tanh, learned positions, tied head (Conv1D weights)
//   OPT    (OPTForCausalLM, OPTModel): ReLU, learned positions offset 2, do_layer_norm_before true/false
//   Llama  (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM): RMSNorm, rotary, SwiGLU, GQA
//   BERT   (BertModel, BertForMaskedLM, BertForPreTraining: the encoder): post-LN, embedding LayerNorm,
//          token types, GELU-erf, pooler when the checkpoint holds one
// Every value that would make the model compute something else than this spec (an architecture, a
// model_type, hidden_act, rope scaling type, sliding windows in use, biases the family does not have, ...)
// is an error naming the file, the key, the value found and what is supported. Keys that do not change
// what is computed (dropout, initializer_range, ...) are ignored. Value types; any thread.
#include <string>
#include <string_view>

#include "gpu/model_spec.hpp"
#include "messages/result.hpp"

namespace sy::gpu {

struct hf_config {
  model_spec spec;           // complete except `pooler` (BERT: decided by the checkpoint's tensors)
  std::string architecture;  // architectures[0], or model_type where architectures is absent
  std::string model_type;
  bool has_head_tensor = false; // the family keeps lm_head.weight (untied head) in the checkpoint
};

/// Parses config.json text; `origin` (the file's path) starts every message. `name` becomes spec.name.
result<hf_config> parse_hf_config(std::string_view text, const std::string& origin, const std::string& name);

} // namespace sy::gpu
