#include "gpu/internal/hf_names.hpp"

namespace sy::gpu::internal {

namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}
bool ends_with(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

/// Splits a canonical name "layers.{i}.rest" into (i, rest); i = -1 for a non-layer tensor.
std::pair<int, std::string> split_layer(const std::string& name) {
  if (!starts_with(name, "layers."))
    return {-1, name};
  auto dot = name.find('.', 7);
  return {std::stoi(name.substr(7, dot - 7)), name.substr(dot + 1)};
}

std::string suffix_of(const std::string& rest) { // "ln1.weight" -> "weight"
  return rest.substr(rest.rfind('.') + 1);
}

} // namespace

std::vector<std::string> hf_prefixes(family f) {
  switch (f) {
    case family::gpt2: return {"transformer.", ""};
    case family::opt: return {"model.decoder.", "decoder."};
    case family::llama: return {"model.", ""};
    case family::bert: return {"bert.", ""};
    case family::native: break;
  }
  return {""};
}

std::string hf_embedding_name(family f) {
  switch (f) {
    case family::gpt2: return "wte.weight";
    case family::opt:
    case family::llama: return "embed_tokens.weight";
    case family::bert: return "embeddings.word_embeddings.weight";
    case family::native: break;
  }
  return "tok_emb";
}

std::vector<hf_part> hf_names::parts(const model_spec& spec, const tensor_desc& t) const {
  const std::int64_t h = spec.hidden, d = spec.head_dim_or_default(), f = spec.ffn;
  const std::int64_t qw = spec.heads * d, kw = spec.kv_heads_or_heads() * d;
  const std::string& p = prefix;
  auto [layer, rest] = split_layer(t.name);
  const std::string suffix = suffix_of(rest);
  const bool is_weight = suffix == "weight";
  const std::int64_t cols = t.shape.back();
  auto whole = [&](const std::string& n) { return std::vector<hf_part>{{n, cols, false, 0}}; };
  auto linear = [&](const std::string& n) { // nn.Linear: weight transposed, bias as it is
    return std::vector<hf_part>{{n + "." + suffix, cols, is_weight, 0}};
  };
  auto fused = [&](const std::vector<std::pair<std::string, std::int64_t>>& srcs) {
    std::vector<hf_part> r;
    for (const auto& [n, w] : srcs)
      r.push_back({n + "." + suffix, w, is_weight, 0});
    return r;
  };
  const std::string L = std::to_string(layer);
  switch (spec.fam) {
    case family::gpt2: {
      if (t.name == "tok_emb")
        return whole(p + "wte.weight");
      if (t.name == "pos_emb")
        return whole(p + "wpe.weight");
      if (t.name == "head.weight")
        return {{"lm_head.weight", cols, true, 0}};
      if (layer < 0) // ln_f.*
        return whole(p + t.name);
      const std::string b = p + "h." + L + ".";
      static const std::pair<const char*, const char*> map[] = {
        {"ln1", "ln_1"}, {"ln2", "ln_2"}, {"attn.qkv", "attn.c_attn"}, {"attn.out", "attn.c_proj"},
        {"ffn.in", "mlp.c_fc"}, {"ffn.out", "mlp.c_proj"}};
      for (auto [ours, theirs] : map)
        if (rest == std::string{ours} + "." + suffix)
          return whole(b + theirs + "." + suffix); // Conv1D: already [in, out]
      break;
    }
    case family::opt: {
      if (t.name == "tok_emb")
        return whole(p + "embed_tokens.weight");
      if (t.name == "pos_emb")
        return {{p + "embed_positions.weight", cols, false, 2}};
      if (t.name == "head.weight")
        return {{"lm_head.weight", cols, true, 0}};
      if (layer < 0) // ln_f.*
        return whole(p + "final_layer_norm." + suffix);
      const std::string b = p + "layers." + L + ".";
      if (starts_with(rest, "ln1."))
        return whole(b + "self_attn_layer_norm." + suffix);
      if (starts_with(rest, "ln2."))
        return whole(b + "final_layer_norm." + suffix);
      if (starts_with(rest, "attn.qkv."))
        return fused({{b + "self_attn.q_proj", qw}, {b + "self_attn.k_proj", kw}, {b + "self_attn.v_proj", kw}});
      if (starts_with(rest, "attn.out."))
        return linear(b + "self_attn.out_proj");
      if (starts_with(rest, "ffn.in."))
        return linear(b + "fc1");
      if (starts_with(rest, "ffn.out."))
        return linear(b + "fc2");
      break;
    }
    case family::llama: {
      if (t.name == "tok_emb")
        return whole(p + "embed_tokens.weight");
      if (t.name == "head.weight")
        return {{"lm_head.weight", cols, true, 0}};
      if (t.name == "ln_f.weight")
        return whole(p + "norm.weight");
      const std::string b = p + "layers." + L + ".";
      if (rest == "ln1.weight")
        return whole(b + "input_layernorm.weight");
      if (rest == "ln2.weight")
        return whole(b + "post_attention_layernorm.weight");
      if (starts_with(rest, "attn.qkv."))
        return fused({{b + "self_attn.q_proj", qw}, {b + "self_attn.k_proj", kw}, {b + "self_attn.v_proj", kw}});
      if (starts_with(rest, "attn.out."))
        return linear(b + "self_attn.o_proj");
      if (rest == "ffn.in.weight")
        return fused({{b + "mlp.gate_proj", f}, {b + "mlp.up_proj", f}});
      if (rest == "ffn.out.weight")
        return linear(b + "mlp.down_proj");
      break;
    }
    case family::bert: {
      if (t.name == "tok_emb")
        return whole(p + "embeddings.word_embeddings.weight");
      if (t.name == "pos_emb")
        return whole(p + "embeddings.position_embeddings.weight");
      if (t.name == "tok_type_emb")
        return whole(p + "embeddings.token_type_embeddings.weight");
      if (starts_with(t.name, "emb_ln."))
        return whole(p + "embeddings.LayerNorm." + suffix);
      if (starts_with(t.name, "pool."))
        return linear(p + "pooler.dense");
      const std::string b = p + "encoder.layer." + L + ".";
      if (starts_with(rest, "ln1."))
        return whole(b + "attention.output.LayerNorm." + suffix);
      if (starts_with(rest, "ln2."))
        return whole(b + "output.LayerNorm." + suffix);
      if (starts_with(rest, "attn.qkv."))
        return fused({{b + "attention.self.query", qw}, {b + "attention.self.key", kw},
                      {b + "attention.self.value", kw}});
      if (starts_with(rest, "attn.out."))
        return linear(b + "attention.output.dense");
      if (starts_with(rest, "ffn.in."))
        return linear(b + "intermediate.dense");
      if (starts_with(rest, "ffn.out."))
        return linear(b + "output.dense");
      break;
    }
    case family::native: return whole(t.name);
  }
  (void)h;
  return {};
}

bool hf_names::ignorable(const model_spec& spec, const std::string& n) const {
  if (n == "lm_head.weight" && spec.tied_head)
    return true; // transformers ties it to the embedding on load
  switch (spec.fam) {
    case family::bert: return starts_with(n, "cls.");
    case family::gpt2: return ends_with(n, ".attn.bias") || ends_with(n, ".attn.masked_bias");
    case family::llama: return ends_with(n, ".rotary_emb.inv_freq");
    default: return false;
  }
}

} // namespace sy::gpu::internal
