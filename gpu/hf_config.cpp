#include "gpu/hf_config.hpp"

#include <cmath>
#include <optional>

#include "messages/json.hpp"

namespace sy::gpu {

namespace {

/// Typed reads of config.json keys with messages "<file>: key 'k': expected ..., found ...".
class reader {
public:
  reader(const json::value& root, const std::string& origin) : root_(root), origin_(origin) {}

  error fail(const std::string& key, const std::string& expected, const std::string& found) const {
    return make_error("weights", origin_ + ": key '" + key + "': expected " + expected + ", found " + found);
  }
  const json::value* get(const std::string& key) const {
    const json::value* v = root_.get(key);
    return v && !v->is_null() ? v : nullptr;
  }
  static std::string show(const json::value& v) { return json::write(v); }

  result<int> integer(const std::string& key, std::optional<int> fallback = std::nullopt) const {
    const json::value* v = get(key);
    if (!v) {
      if (fallback)
        return *fallback;
      return make_error("weights", origin_ + ": missing key '" + key + "' (a positive integer)");
    }
    auto x = v->as_int64();
    if (!v->is_number() || !x || *x <= 0 || *x > (1 << 24))
      return fail(key, "a positive integer up to 16777216", show(*v));
    return static_cast<int>(*x);
  }
  result<double> number(const std::string& key, double fallback) const {
    const json::value* v = get(key);
    if (!v)
      return fallback;
    if (!v->is_number() || !(v->as_number() > 0) || !std::isfinite(v->as_number()))
      return fail(key, "a positive number", show(*v));
    return v->as_number();
  }
  result<bool> boolean(const std::string& key, bool fallback) const {
    const json::value* v = get(key);
    if (!v)
      return fallback;
    if (!v->is_bool())
      return fail(key, "true or false", show(*v));
    return v->as_bool();
  }
  result<std::string> string(const std::string& key, const std::string& fallback) const {
    const json::value* v = get(key);
    if (!v)
      return fallback;
    if (!v->is_string())
      return fail(key, "a string", show(*v));
    return v->as_string();
  }
  /// A boolean key that must have `required` (absent: `fallback`) for the model to compute what we do.
  status require_bool(const std::string& key, bool fallback, bool required, const std::string& why) const {
    auto b = boolean(key, fallback);
    if (!b)
      return b.err();
    if (*b != required)
      return fail(key, std::string{required ? "true" : "false"} + " (" + why + ")", *b ? "true" : "false");
    return {};
  }
  int token(const std::string& key) const {
    const json::value* v = get(key);
    auto x = v ? v->as_int64() : std::nullopt;
    return x && *x >= 0 && *x < (1 << 30) ? static_cast<int>(*x) : -1;
  }

private:
  const json::value& root_;
  std::string origin_;
};

#define SY_TRY(var, expr)                                                                                  \
  auto var##_r = (expr);                                                                                   \
  if (!var##_r)                                                                                            \
    return var##_r.err();                                                                                  \
  auto var = *var##_r

#define SY_CHECK(expr)                                                                                     \
  if (auto st_ = (expr); !st_)                                                                             \
    return st_.err()

/// activation_function / hidden_act -> ffn kind (non-gated).
result<ffn_kind> activation(const reader& r, const std::string& key, const std::string& fallback) {
  SY_TRY(a, r.string(key, fallback));
  if (a == "gelu_new" || a == "gelu_pytorch_tanh" || a == "gelu_fast")
    return ffn_kind::gelu_tanh;
  if (a == "gelu")
    return ffn_kind::gelu_erf;
  if (a == "relu")
    return ffn_kind::relu;
  return r.fail(key, "one of gelu (erf), gelu_new, gelu_pytorch_tanh, gelu_fast (tanh), relu", json::quote(a));
}

result<std::optional<dtype>> torch_dtype(const reader& r) {
  SY_TRY(t, r.string("torch_dtype", ""));
  if (t.empty())
    return std::optional<dtype>{};
  if (t == "float32")
    return std::optional<dtype>{dtype::f32};
  if (t == "float16")
    return std::optional<dtype>{dtype::f16};
  if (t == "bfloat16")
    return std::optional<dtype>{dtype::bf16};
  return r.fail("torch_dtype", "float32, float16 or bfloat16", json::quote(t));
}

status gpt2(const reader& r, hf_config& c) {
  model_spec& s = c.spec;
  s.fam = family::gpt2;
  s.kind = arch::decoder;
  SY_TRY(layers, r.integer("n_layer"));
  SY_TRY(hidden, r.integer("n_embd"));
  SY_TRY(heads, r.integer("n_head"));
  SY_TRY(vocab, r.integer("vocab_size"));
  SY_TRY(seq, r.integer("n_positions"));
  SY_TRY(inner, r.integer("n_inner", 4 * hidden));
  SY_TRY(eps, r.number("layer_norm_epsilon", 1e-5));
  SY_TRY(act, activation(r, "activation_function", "gelu_new"));
  SY_TRY(tied, r.boolean("tie_word_embeddings", true));
  SY_CHECK(r.require_bool("scale_attn_weights", true, true, "attention scaled by 1/sqrt(head_dim)"));
  SY_CHECK(r.require_bool("scale_attn_by_inverse_layer_idx", false, false, "no per-layer attention scaling"));
  SY_CHECK(r.require_bool("add_cross_attention", false, false, "no cross-attention"));
  s.layers = layers, s.hidden = hidden, s.heads = heads, s.vocab = vocab, s.max_seq = seq, s.ffn = inner;
  s.norm_eps = static_cast<float>(eps);
  s.ffn_act = act;
  s.tied_head = tied;
  s.head_bias = false;
  c.has_head_tensor = !tied;
  return {};
}

status opt(const reader& r, hf_config& c) {
  model_spec& s = c.spec;
  s.fam = family::opt;
  s.kind = arch::decoder;
  SY_TRY(layers, r.integer("num_hidden_layers"));
  SY_TRY(hidden, r.integer("hidden_size"));
  SY_TRY(heads, r.integer("num_attention_heads"));
  SY_TRY(ffn, r.integer("ffn_dim"));
  SY_TRY(vocab, r.integer("vocab_size"));
  SY_TRY(seq, r.integer("max_position_embeddings"));
  SY_TRY(act, activation(r, "activation_function", "relu"));
  SY_TRY(pre, r.boolean("do_layer_norm_before", true));
  SY_TRY(remove_final, r.boolean("_remove_final_layer_norm", false));
  SY_TRY(proj, r.integer("word_embed_proj_dim", hidden));
  SY_TRY(tied, r.boolean("tie_word_embeddings", true));
  if (proj != hidden)
    return r.fail("word_embed_proj_dim", "the hidden_size (" + std::to_string(hidden) +
                                           "): project_in/project_out embeddings are not supported",
                  std::to_string(proj));
  SY_CHECK(r.require_bool("layer_norm_elementwise_affine", true, true, "layer norms with weight and bias"));
  SY_CHECK(r.require_bool("enable_bias", true, true, "linear layers with biases"));
  s.layers = layers, s.hidden = hidden, s.heads = heads, s.vocab = vocab, s.max_seq = seq, s.ffn = ffn;
  s.ffn_act = act;
  s.norm_eps = 1e-5f; // nn.LayerNorm's default; OPT's config has no eps
  s.pre_norm = pre;
  s.final_norm = pre && !remove_final;
  s.tied_head = tied;
  s.head_bias = false;
  c.has_head_tensor = !tied;
  return {};
}

status rope_scaling(const reader& r, model_spec& s) {
  const json::value* v = r.get("rope_scaling");
  if (!v)
    return {};
  if (!v->is_object())
    return r.fail("rope_scaling", "null or an object", json::write(*v));
  const json::value* t = v->get("rope_type");
  if (!t || t->is_null())
    t = v->get("type");
  if (!t || !t->is_string())
    return r.fail("rope_scaling", "an object with rope_type (or type)", json::write(*v));
  std::string type = t->as_string();
  if (type == "default")
    return {};
  if (type != "linear" && type != "llama3")
    return r.fail("rope_scaling.rope_type", "default, linear or llama3 (dynamic, yarn, longrope are not supported)",
                  json::quote(type));
  rope_scaling_spec rs;
  rs.type = type;
  auto num = [&](const char* key, double& out, bool required) -> status {
    const json::value* x = v->get(key);
    if (!x || x->is_null()) {
      if (required)
        return make_error("weights", r.fail(std::string{"rope_scaling."} + key, "a positive number", "none").message);
      return {};
    }
    if (!x->is_number() || !(x->as_number() > 0))
      return r.fail(std::string{"rope_scaling."} + key, "a positive number", json::write(*x));
    out = x->as_number();
    return {};
  };
  SY_CHECK(num("factor", rs.factor, true));
  if (type == "llama3") {
    double orig = 0;
    SY_CHECK(num("low_freq_factor", rs.low_freq_factor, true));
    SY_CHECK(num("high_freq_factor", rs.high_freq_factor, true));
    SY_CHECK(num("original_max_position_embeddings", orig, true));
    rs.original_max_position_embeddings = static_cast<int>(orig);
  }
  s.rope_scaling = rs;
  return {};
}

status llama(const reader& r, hf_config& c, const std::string& model_type) {
  model_spec& s = c.spec;
  s.fam = family::llama;
  s.kind = arch::decoder;
  SY_TRY(layers, r.integer("num_hidden_layers"));
  SY_TRY(hidden, r.integer("hidden_size"));
  SY_TRY(heads, r.integer("num_attention_heads"));
  SY_TRY(kv, r.integer("num_key_value_heads", heads));
  SY_TRY(ffn, r.integer("intermediate_size"));
  SY_TRY(vocab, r.integer("vocab_size"));
  SY_TRY(seq, r.integer("max_position_embeddings"));
  SY_TRY(eps, r.number("rms_norm_eps", 1e-6));
  SY_TRY(theta, r.number("rope_theta", 10000.0));
  SY_TRY(act, r.string("hidden_act", "silu"));
  SY_TRY(tied, r.boolean("tie_word_embeddings", false));
  const bool qwen2 = model_type == "qwen2";
  SY_TRY(attn_bias, r.boolean("attention_bias", false));
  if (act != "silu")
    return r.fail("hidden_act", "silu (the SwiGLU MLP)", json::quote(act));
  if (qwen2 && attn_bias)
    return r.fail("attention_bias", "false or absent (Qwen2 has q/k/v biases only)", "true");
  SY_CHECK(r.require_bool("mlp_bias", false, false, "MLP without biases"));
  int head_dim = 0;
  if (r.get("head_dim")) {
    SY_TRY(hd, r.integer("head_dim"));
    head_dim = hd == hidden / heads && hidden % heads == 0 ? 0 : hd;
  }
  // Sliding-window attention: within the window it is plain causal attention, so the model is served with
  // max_seq = the window; beyond it a different model would be computed.
  if (model_type == "mistral") {
    if (const json::value* w = r.get("sliding_window")) {
      SY_TRY(win, r.integer("sliding_window"));
      (void)w;
      seq = std::min(seq, win);
    }
  }
  if (qwen2) {
    SY_TRY(use_sw, r.boolean("use_sliding_window", false));
    if (use_sw)
      return r.fail("use_sliding_window", "false (sliding-window attention is not supported)", "true");
  }
  s.layers = layers, s.hidden = hidden, s.heads = heads, s.kv_heads = kv == heads ? 0 : kv, s.ffn = ffn;
  s.vocab = vocab, s.max_seq = seq, s.head_dim = head_dim;
  s.norm = norm_kind::rms_norm;
  s.norm_eps = static_cast<float>(eps);
  s.ffn_act = ffn_kind::silu_gated;
  s.positions = position_kind::rotary;
  s.rope_theta = theta;
  SY_CHECK(rope_scaling(r, s));
  s.qkv_bias = qwen2 || attn_bias;
  s.attn_out_bias = attn_bias;
  s.ffn_bias = false;
  s.tied_head = tied;
  s.head_bias = false;
  c.has_head_tensor = !tied;
  return {};
}

status bert(const reader& r, hf_config& c) {
  model_spec& s = c.spec;
  s.fam = family::bert;
  s.kind = arch::encoder;
  SY_TRY(layers, r.integer("num_hidden_layers"));
  SY_TRY(hidden, r.integer("hidden_size"));
  SY_TRY(heads, r.integer("num_attention_heads"));
  SY_TRY(ffn, r.integer("intermediate_size"));
  SY_TRY(vocab, r.integer("vocab_size"));
  SY_TRY(seq, r.integer("max_position_embeddings"));
  SY_TRY(types, r.integer("type_vocab_size", 2));
  SY_TRY(eps, r.number("layer_norm_eps", 1e-12));
  SY_TRY(act, activation(r, "hidden_act", "gelu"));
  SY_TRY(pos, r.string("position_embedding_type", "absolute"));
  if (pos != "absolute")
    return r.fail("position_embedding_type", "absolute", json::quote(pos));
  SY_CHECK(r.require_bool("is_decoder", false, false, "an encoder"));
  SY_CHECK(r.require_bool("add_cross_attention", false, false, "no cross-attention"));
  s.layers = layers, s.hidden = hidden, s.heads = heads, s.ffn = ffn, s.vocab = vocab, s.max_seq = seq;
  s.type_vocab = types;
  s.norm_eps = static_cast<float>(eps);
  s.ffn_act = act;
  s.pre_norm = false;
  s.embed_norm = true;
  s.final_norm = false;
  s.pooler = true; // decided by the checkpoint (pooler.dense.* present or not)
  return {};
}

struct known_arch {
  const char* name;
  const char* model_type;
};
constexpr known_arch known[] = {
  {"GPT2LMHeadModel", "gpt2"},         {"GPT2Model", "gpt2"},          {"OPTForCausalLM", "opt"},
  {"OPTModel", "opt"},                 {"LlamaForCausalLM", "llama"},  {"MistralForCausalLM", "mistral"},
  {"Qwen2ForCausalLM", "qwen2"},       {"BertModel", "bert"},          {"BertForMaskedLM", "bert"},
  {"BertForPreTraining", "bert"},
};

std::string known_list() {
  std::string r;
  for (const auto& k : known)
    r += (r.empty() ? "" : ", ") + std::string{k.name};
  return r;
}

} // namespace

result<hf_config> parse_hf_config(std::string_view text, const std::string& origin, const std::string& name) {
  auto doc = json::parse(text);
  if (!doc)
    return make_error("weights", origin + ": " + doc.err().message);
  if (!doc->is_object())
    return make_error("weights", origin + ": expected a JSON object, found " + std::string{json::kind_name(doc->type())});
  reader r{*doc, origin};
  hf_config c;
  SY_TRY(model_type, r.string("model_type", ""));
  const char* types = "gpt2, opt, llama, mistral, qwen2, bert";
  if (model_type.empty())
    return make_error("weights", origin + ": missing key 'model_type' (one of " + std::string{types} + ")");
  if (model_type != "gpt2" && model_type != "opt" && model_type != "llama" && model_type != "mistral" &&
      model_type != "qwen2" && model_type != "bert")
    return r.fail("model_type", std::string{"one of "} + types, json::quote(model_type));
  c.model_type = model_type;
  c.architecture = model_type;
  if (const json::value* a = r.get("architectures")) {
    if (!a->is_array() || a->as_array().empty())
      return r.fail("architectures", "a non-empty array of class names", json::write(*a));
    for (const auto& x : a->as_array()) {
      bool ok = false;
      for (const auto& k : known)
        ok = ok || (x.is_string() && x.as_string() == k.name && model_type == k.model_type);
      if (!ok)
        return r.fail("architectures", "one of " + known_list() + " (matching model_type '" + model_type + "')",
                      json::write(x));
    }
    c.architecture = a->as_array()[0].as_string();
  }
  c.spec.name = name;
  status st;
  if (model_type == "gpt2")
    st = gpt2(r, c);
  else if (model_type == "opt")
    st = opt(r, c);
  else if (model_type == "bert")
    st = bert(r, c);
  else
    st = llama(r, c, model_type);
  if (!st)
    return st.err();
  SY_TRY(dt, torch_dtype(r));
  c.spec.type = dt.value_or(dtype::f32);
  c.spec.bos_token = r.token("bos_token_id");
  c.spec.eos_token = r.token("eos_token_id");
  if (auto v = c.spec.validate(); !v)
    return make_error("weights", origin + ": " + v.err().message);
  return c;
}

} // namespace sy::gpu
