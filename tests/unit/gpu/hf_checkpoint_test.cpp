// The Hugging Face checkpoint source on folders written here: config.json + safetensors files under the
// names transformers uses. (tests/reference/check_hf_models.py checks the same loader on folders that
// transformers itself saved, against transformers' outputs.)
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "gpu/hf_checkpoint.hpp"
#include "messages/json.hpp"

using namespace sy;
using namespace sy::gpu;

namespace {

struct raw_tensor {
  std::string dtype = "F32";
  std::vector<std::int64_t> shape;
  std::vector<float> values; // F32/F16/BF16 (converted on write); I64 writes zeros
};
using tensor_map = std::map<std::string, raw_tensor>;

std::string make_dir() {
  char tmpl[] = "/tmp/sy_hf_test_XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  return tmpl;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
  REQUIRE(out.good());
}

void write_st(const std::string& path, const tensor_map& ts) {
  auto header = json::value::make_object();
  std::string data;
  for (const auto& [name, t] : ts) {
    std::size_t n = 1;
    for (auto d : t.shape)
      n *= static_cast<std::size_t>(d);
    std::string bytes;
    for (std::size_t i = 0; i < n; ++i) {
      float v = i < t.values.size() ? t.values[i] : 0.0f;
      if (t.dtype == "F32") {
        bytes.append(reinterpret_cast<const char*>(&v), 4);
      } else if (t.dtype == "F16" || t.dtype == "BF16") {
        std::uint16_t h = t.dtype == "F16" ? f32_to_f16(v) : f32_to_bf16(v);
        bytes.append(reinterpret_cast<const char*>(&h), 2);
      } else { // I64
        std::int64_t x = static_cast<std::int64_t>(i);
        bytes.append(reinterpret_cast<const char*>(&x), 8);
      }
    }
    auto shape = json::value::make_array();
    for (auto d : t.shape)
      shape.push(json::value{d});
    auto offs = json::value::make_array();
    offs.push(json::value{static_cast<std::int64_t>(data.size())});
    offs.push(json::value{static_cast<std::int64_t>(data.size() + bytes.size())});
    auto e = json::value::make_object();
    e.set("dtype", t.dtype).set("shape", std::move(shape)).set("data_offsets", std::move(offs));
    header.set(name, std::move(e));
    data += bytes;
  }
  std::string text = json::write(header);
  std::uint64_t len = text.size();
  std::string file(reinterpret_cast<const char*>(&len), 8);
  write_text(path, file + text + data);
}

/// A tensor of `shape` whose every element is distinct: seed * 1000 + index (exact in f32 for small sizes).
raw_tensor tensor(std::vector<std::int64_t> shape, int seed, std::string dtype = "F32") {
  raw_tensor t;
  t.dtype = std::move(dtype);
  t.shape = std::move(shape);
  std::size_t n = 1;
  for (auto d : t.shape)
    n *= static_cast<std::size_t>(d);
  for (std::size_t i = 0; i < n; ++i)
    t.values.push_back(static_cast<float>(seed * 1000 + static_cast<int>(i)) * (t.dtype == "F32" ? 1.0f : 0.0f) +
                       (t.dtype == "F32" ? 0.0f : static_cast<float>(i % 64) * 0.25f));
  return t;
}

std::vector<float> read_all(const hf_checkpoint& ck, const std::string& name, dtype type = dtype::f32) {
  for (const auto& d : weight_tensors(ck.spec()))
    if (d.name == name) {
      auto s = tensor_slice::whole(d.shape);
      std::vector<std::byte> buf(static_cast<std::size_t>(s.elements()) * dtype_size(type));
      auto st = ck.source->read(d, s, type, buf.data());
      REQUIRE(st.ok());
      std::vector<float> r(static_cast<std::size_t>(s.elements()));
      for (std::size_t i = 0; i < r.size(); ++i) {
        if (type == dtype::f32) {
          std::memcpy(&r[i], buf.data() + 4 * i, 4);
        } else {
          std::uint16_t h;
          std::memcpy(&h, buf.data() + 2 * i, 2);
          r[i] = type == dtype::f16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
      }
      return r;
    }
  FAIL("no canonical tensor " << name);
  return {};
}

bool has(const std::string& text, const std::string& part) {
  if (text.find(part) == std::string::npos) {
    UNSCOPED_INFO("message: " << text << "\nexpected to contain: " << part);
    return false;
  }
  return true;
}

// --- GPT-2 ---------------------------------------------------------------------------------------------

const char* gpt2_config = R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": 2,
  "n_embd": 8, "n_head": 2, "vocab_size": 11, "n_positions": 16, "n_inner": null, "layer_norm_epsilon": 1e-05,
  "activation_function": "gelu_new", "attn_pdrop": 0.1, "torch_dtype": "float32", "bos_token_id": 10,
  "eos_token_id": 10})";

tensor_map gpt2_tensors(const std::string& p = "transformer.") {
  tensor_map m;
  int seed = 1;
  m[p + "wte.weight"] = tensor({11, 8}, seed++);
  m[p + "wpe.weight"] = tensor({16, 8}, seed++);
  for (int i = 0; i < 2; ++i) {
    std::string b = p + "h." + std::to_string(i) + ".";
    m[b + "ln_1.weight"] = tensor({8}, seed++);
    m[b + "ln_1.bias"] = tensor({8}, seed++);
    m[b + "attn.c_attn.weight"] = tensor({8, 24}, seed++);
    m[b + "attn.c_attn.bias"] = tensor({24}, seed++);
    m[b + "attn.c_proj.weight"] = tensor({8, 8}, seed++);
    m[b + "attn.c_proj.bias"] = tensor({8}, seed++);
    m[b + "ln_2.weight"] = tensor({8}, seed++);
    m[b + "ln_2.bias"] = tensor({8}, seed++);
    m[b + "mlp.c_fc.weight"] = tensor({8, 32}, seed++);
    m[b + "mlp.c_fc.bias"] = tensor({32}, seed++);
    m[b + "mlp.c_proj.weight"] = tensor({32, 8}, seed++);
    m[b + "mlp.c_proj.bias"] = tensor({8}, seed++);
  }
  m[p + "ln_f.weight"] = tensor({8}, seed++);
  m[p + "ln_f.bias"] = tensor({8}, seed++);
  return m;
}

std::string folder(const std::string& config, const tensor_map& ts) {
  auto dir = make_dir();
  write_text(dir + "/config.json", config);
  write_st(dir + "/model.safetensors", ts);
  return dir;
}

std::string open_error(const std::string& dir) {
  auto ck = open_hf_checkpoint(dir);
  REQUIRE_FALSE(ck.ok());
  return ck.err().message;
}

} // namespace

TEST_CASE("a GPT-2 folder opens as the spec its config.json describes, with a tied head and Conv1D weights as they are",
          "[gpu][hf]") {
  auto ts = gpt2_tensors();
  ts["transformer.h.0.attn.bias"] = tensor({1, 1, 16, 16}, 99); // an old checkpoint's mask buffer: skipped
  auto dir = folder(gpt2_config, ts);
  auto ck = open_hf_checkpoint(dir);
  REQUIRE(ck.ok());
  const auto& s = ck->spec();
  CHECK(s.fam == family::gpt2);
  CHECK(s.kind == arch::decoder);
  CHECK(s.layers == 2);
  CHECK(s.hidden == 8);
  CHECK(s.heads == 2);
  CHECK(s.ffn == 32);
  CHECK(s.vocab == 11);
  CHECK(s.max_seq == 16);
  CHECK(s.ffn_act == ffn_kind::gelu_tanh);
  CHECK(s.tied_head);
  CHECK_FALSE(s.head_bias);
  CHECK(s.eos_token == 10);
  CHECK_FALSE(ck->has_tokenizer);
  CHECK(ck->files.size() == 1);
  REQUIRE(ck->source->check(s).ok());
  CHECK(read_all(*ck, "tok_emb") == ts["transformer.wte.weight"].values);
  CHECK(read_all(*ck, "layers.1.attn.qkv.weight") == ts["transformer.h.1.attn.c_attn.weight"].values);
  CHECK(read_all(*ck, "layers.0.ffn.out.bias") == ts["transformer.h.0.mlp.c_proj.bias"].values);
  CHECK(read_all(*ck, "ln_f.bias") == ts["transformer.ln_f.bias"].values);
}

TEST_CASE("a GPT2Model folder without the transformer. prefix and with tokenizer.json opens too", "[gpu][hf]") {
  std::string cfg = gpt2_config;
  cfg.replace(cfg.find("GPT2LMHeadModel"), 15, "GPT2Model");
  auto dir = folder(cfg, gpt2_tensors(""));
  write_text(dir + "/tokenizer.json", "{}");
  auto ck = open_hf_checkpoint(dir);
  REQUIRE(ck.ok());
  CHECK(ck->has_tokenizer);
  CHECK(ck->config.architecture == "GPT2Model");
  CHECK(read_all(*ck, "pos_emb") == gpt2_tensors("")["wpe.weight"].values);
}

TEST_CASE("a sharded checkpoint is read through model.safetensors.index.json", "[gpu][hf]") {
  auto ts = gpt2_tensors();
  tensor_map a, b;
  std::string index = R"({"metadata": {"total_size": 1}, "weight_map": {)";
  bool first = true;
  for (const auto& [name, t] : ts) {
    bool in_a = name.find("h.1.") == std::string::npos;
    (in_a ? a : b)[name] = t;
    index += std::string{first ? "" : ", "} + "\"" + name + "\": \"" +
             (in_a ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors") + "\"";
    first = false;
  }
  index += "}}";
  auto dir = make_dir();
  write_text(dir + "/config.json", gpt2_config);
  write_st(dir + "/model-00001-of-00002.safetensors", a);
  write_st(dir + "/model-00002-of-00002.safetensors", b);
  write_text(dir + "/model.safetensors.index.json", index);
  auto ck = open_hf_checkpoint(dir);
  REQUIRE(ck.ok());
  CHECK(ck->files.size() == 2);
  CHECK(read_all(*ck, "layers.1.ffn.in.weight") == ts["transformer.h.1.mlp.c_fc.weight"].values);
  CHECK(read_all(*ck, "layers.0.ln1.weight") == ts["transformer.h.0.ln_1.weight"].values);

  // An index that names the wrong file for a tensor is refused.
  std::string bad = index;
  auto at = bad.find("\"transformer.h.1.ln_2.bias\": \"model-00002");
  REQUIRE(at != std::string::npos);
  bad.replace(bad.find("model-00002", at), 11, "model-00001");
  write_text(dir + "/model.safetensors.index.json", bad);
  CHECK(has(open_error(dir), "weight_map names tensor 'transformer.h.1.ln_2.bias' in model-00001-of-00002.safetensors"));
}

// --- Llama family ------------------------------------------------------------------------------------

namespace {
const char* llama_config = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1, "num_attention_heads": 4,
  "num_key_value_heads": 2, "vocab_size": 10, "max_position_embeddings": 32, "rms_norm_eps": 1e-06,
  "rope_theta": 500000.0, "rope_scaling": null, "hidden_act": "silu", "tie_word_embeddings": false,
  "attention_bias": false, "pretraining_tp": 1, "torch_dtype": "float32"})";

tensor_map llama_tensors(const std::string& dtype = "F32") {
  tensor_map m;
  int seed = 1;
  m["model.embed_tokens.weight"] = tensor({10, 8}, seed++, dtype);
  std::string b = "model.layers.0.";
  m[b + "input_layernorm.weight"] = tensor({8}, seed++, dtype);
  m[b + "self_attn.q_proj.weight"] = tensor({8, 8}, seed++, dtype);
  m[b + "self_attn.k_proj.weight"] = tensor({4, 8}, seed++, dtype);
  m[b + "self_attn.v_proj.weight"] = tensor({4, 8}, seed++, dtype);
  m[b + "self_attn.o_proj.weight"] = tensor({8, 8}, seed++, dtype);
  m[b + "post_attention_layernorm.weight"] = tensor({8}, seed++, dtype);
  m[b + "mlp.gate_proj.weight"] = tensor({12, 8}, seed++, dtype);
  m[b + "mlp.up_proj.weight"] = tensor({12, 8}, seed++, dtype);
  m[b + "mlp.down_proj.weight"] = tensor({8, 12}, seed++, dtype);
  m["model.norm.weight"] = tensor({8}, seed++, dtype);
  m["lm_head.weight"] = tensor({10, 8}, seed++, dtype);
  return m;
}

/// element (r, c) of a torch [out, in] tensor read as our [in, out]
float t_at(const raw_tensor& t, std::int64_t r, std::int64_t c) {
  return t.values[static_cast<std::size_t>(c * t.shape[1] + r)];
}
} // namespace

TEST_CASE("a Llama folder fuses transposed q|k|v (GQA) and gate|up, and reads any slice in any dtype", "[gpu][hf]") {
  auto ts = llama_tensors();
  auto dir = folder(llama_config, ts);
  auto ck = open_hf_checkpoint(dir);
  REQUIRE(ck.ok());
  const auto& s = ck->spec();
  CHECK(s.fam == family::llama);
  CHECK(s.norm == norm_kind::rms_norm);
  CHECK(s.positions == position_kind::rotary);
  CHECK(s.ffn_act == ffn_kind::silu_gated);
  CHECK(s.kv_heads == 2);
  CHECK(s.rope_theta == 500000.0);
  CHECK(s.norm_eps == 1e-6f);
  CHECK_FALSE(s.qkv_bias);
  CHECK_FALSE(s.tied_head);
  auto qkv = read_all(*ck, "layers.0.attn.qkv.weight"); // [8, 8 + 4 + 4]
  const auto& q = ts["model.layers.0.self_attn.q_proj.weight"];
  const auto& k = ts["model.layers.0.self_attn.k_proj.weight"];
  const auto& v = ts["model.layers.0.self_attn.v_proj.weight"];
  bool qkv_ok = true;
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 16; ++c) {
      float want = c < 8 ? t_at(q, r, c) : c < 12 ? t_at(k, r, c - 8) : t_at(v, r, c - 12);
      qkv_ok = qkv_ok && qkv[static_cast<std::size_t>(r * 16 + c)] == want;
    }
  CHECK(qkv_ok);
  auto ffn_in = read_all(*ck, "layers.0.ffn.in.weight"); // [8, 24] gate | up
  const auto& g = ts["model.layers.0.mlp.gate_proj.weight"];
  const auto& u = ts["model.layers.0.mlp.up_proj.weight"];
  bool ffn_ok = true;
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 24; ++c)
      ffn_ok = ffn_ok && ffn_in[static_cast<std::size_t>(r * 24 + c)] == (c < 12 ? t_at(g, r, c) : t_at(u, r, c - 12));
  CHECK(ffn_ok);
  auto head = read_all(*ck, "head.weight"); // [8, 10]
  CHECK(head[3 * 10 + 7] == t_at(ts["lm_head.weight"], 3, 7));

  // A tensor-parallel slice: rows [2, 5), columns of q head 1, kv head 0's k, v column 13..14.
  tensor_desc d{"layers.0.attn.qkv.weight", {8, 16}};
  tensor_slice sl;
  sl.row_begin = 2;
  sl.row_end = 5;
  sl.cols = {{2, 2}, {8, 2}, {13, 2}};
  std::vector<float> got(static_cast<std::size_t>(sl.elements()));
  REQUIRE(ck->source->read(d, sl, dtype::f32, reinterpret_cast<std::byte*>(got.data())).ok());
  for (int r = 2; r < 5; ++r) {
    const std::size_t row = static_cast<std::size_t>(r - 2) * 6;
    CHECK(got[row + 0] == t_at(q, r, 2));
    CHECK(got[row + 1] == t_at(q, r, 3));
    CHECK(got[row + 2] == t_at(k, r, 0));
    CHECK(got[row + 3] == t_at(k, r, 1));
    CHECK(got[row + 4] == t_at(v, r, 1));
    CHECK(got[row + 5] == t_at(v, r, 2));
  }
  // Narrowing to bf16 rounds each value to nearest even.
  auto down_bf16 = read_all(*ck, "layers.0.ffn.out.weight", dtype::bf16);
  const auto& dn = ts["model.layers.0.mlp.down_proj.weight"];
  CHECK(down_bf16[5 * 8 + 3] == bf16_to_f32(f32_to_bf16(t_at(dn, 5, 3))));
}

TEST_CASE("F16 and BF16 checkpoint files are widened exactly", "[gpu][hf]") {
  for (std::string dt : {"F16", "BF16"}) {
    auto ts = llama_tensors(dt);
    auto dir = folder(llama_config, ts);
    auto ck = open_hf_checkpoint(dir);
    REQUIRE(ck.ok());
    auto emb = read_all(*ck, "tok_emb");
    CHECK(emb == ts["model.embed_tokens.weight"].values); // the values are exact in both formats
    auto o = read_all(*ck, "layers.0.attn.out.weight", dtype::f16);
    CHECK(o[1 * 8 + 6] == t_at(ts["model.layers.0.self_attn.o_proj.weight"], 1, 6));
  }
}

TEST_CASE("Qwen2 keeps q/k/v biases, Mistral's sliding window bounds max_seq, a tied Llama head has no copy",
          "[gpu][hf]") {
  std::string qwen = llama_config;
  qwen.replace(qwen.find("\"LlamaForCausalLM\""), 18, "\"Qwen2ForCausalLM\"");
  qwen.replace(qwen.find("\"llama\""), 7, "\"qwen2\"");
  auto ts = llama_tensors();
  ts["model.layers.0.self_attn.q_proj.bias"] = tensor({8}, 50);
  ts["model.layers.0.self_attn.k_proj.bias"] = tensor({4}, 51);
  ts["model.layers.0.self_attn.v_proj.bias"] = tensor({4}, 52);
  auto ck = open_hf_checkpoint(folder(qwen, ts));
  REQUIRE(ck.ok());
  CHECK(ck->spec().qkv_bias);
  CHECK_FALSE(ck->spec().attn_out_bias);
  auto bias = read_all(*ck, "layers.0.attn.qkv.bias");
  CHECK(bias[9] == ts["model.layers.0.self_attn.k_proj.bias"].values[1]);

  std::string mistral = llama_config;
  mistral.replace(mistral.find("\"LlamaForCausalLM\""), 18, "\"MistralForCausalLM\"");
  mistral.replace(mistral.find("\"llama\""), 7, "\"mistral\", \"sliding_window\": 16");
  auto m = open_hf_checkpoint(folder(mistral, llama_tensors()));
  REQUIRE(m.ok());
  CHECK(m->spec().max_seq == 16);

  std::string tied = llama_config;
  tied.replace(tied.find("\"tie_word_embeddings\": false"), 28, "\"tie_word_embeddings\": true");
  auto no_head = llama_tensors();
  no_head.erase("lm_head.weight");
  auto t = open_hf_checkpoint(folder(tied, no_head));
  REQUIRE(t.ok());
  CHECK(t->spec().tied_head);
  for (const auto& d : weight_tensors(t->spec()))
    CHECK(d.name != "head.weight");
}

// --- OPT and BERT ------------------------------------------------------------------------------------------

namespace {
std::string opt_config(bool pre) {
  return std::string{R"({"architectures": ["OPTForCausalLM"], "model_type": "opt", "hidden_size": 8,
    "ffn_dim": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 12,
    "max_position_embeddings": 6, "word_embed_proj_dim": 8, "activation_function": "relu",
    "enable_bias": true, "layer_norm_elementwise_affine": true, "do_layer_norm_before": )"} +
         (pre ? "true" : "false") + "}";
}
tensor_map opt_tensors(bool final_norm) {
  tensor_map m;
  int seed = 1;
  std::string p = "model.decoder.";
  m[p + "embed_tokens.weight"] = tensor({12, 8}, seed++);
  m[p + "embed_positions.weight"] = tensor({8, 8}, seed++);
  std::string b = p + "layers.0.";
  for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    m[b + "self_attn." + n + ".weight"] = tensor({8, 8}, seed++);
    m[b + "self_attn." + n + ".bias"] = tensor({8}, seed++);
  }
  for (const char* n : {"self_attn_layer_norm", "final_layer_norm"}) {
    m[b + n + ".weight"] = tensor({8}, seed++);
    m[b + n + ".bias"] = tensor({8}, seed++);
  }
  m[b + "fc1.weight"] = tensor({16, 8}, seed++);
  m[b + "fc1.bias"] = tensor({16}, seed++);
  m[b + "fc2.weight"] = tensor({8, 16}, seed++);
  m[b + "fc2.bias"] = tensor({8}, seed++);
  if (final_norm) {
    m[p + "final_layer_norm.weight"] = tensor({8}, seed++);
    m[p + "final_layer_norm.bias"] = tensor({8}, seed++);
  }
  m["lm_head.weight"] = m[p + "embed_tokens.weight"];
  return m;
}

tensor_map bert_tensors(const std::string& p, bool pooler) {
  tensor_map m;
  int seed = 1;
  m[p + "embeddings.word_embeddings.weight"] = tensor({20, 8}, seed++);
  m[p + "embeddings.position_embeddings.weight"] = tensor({10, 8}, seed++);
  m[p + "embeddings.token_type_embeddings.weight"] = tensor({2, 8}, seed++);
  m[p + "embeddings.LayerNorm.weight"] = tensor({8}, seed++);
  m[p + "embeddings.LayerNorm.bias"] = tensor({8}, seed++);
  m[p + "embeddings.position_ids"] = tensor({1, 10}, 0, "I64");
  std::string b = p + "encoder.layer.0.";
  for (const char* n : {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"}) {
    m[b + n + ".weight"] = tensor({8, 8}, seed++);
    m[b + n + ".bias"] = tensor({8}, seed++);
  }
  for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"}) {
    m[b + n + ".weight"] = tensor({8}, seed++);
    m[b + n + ".bias"] = tensor({8}, seed++);
  }
  m[b + "intermediate.dense.weight"] = tensor({32, 8}, seed++);
  m[b + "intermediate.dense.bias"] = tensor({32}, seed++);
  m[b + "output.dense.weight"] = tensor({8, 32}, seed++);
  m[b + "output.dense.bias"] = tensor({8}, seed++);
  if (pooler) {
    m[p + "pooler.dense.weight"] = tensor({8, 8}, seed++);
    m[p + "pooler.dense.bias"] = tensor({8}, seed++);
  }
  return m;
}

const char* bert_config = R"({"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 8,
  "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "vocab_size": 20,
  "max_position_embeddings": 10, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
  "position_embedding_type": "absolute", "hidden_dropout_prob": 0.1})";
} // namespace

TEST_CASE("OPT reads positions from row 2 and is post-LN without a final norm when do_layer_norm_before is false",
          "[gpu][hf]") {
  auto ts = opt_tensors(true);
  auto ck = open_hf_checkpoint(folder(opt_config(true), ts));
  REQUIRE(ck.ok());
  CHECK(ck->spec().ffn_act == ffn_kind::relu);
  CHECK(ck->spec().pre_norm);
  CHECK(ck->spec().final_norm);
  CHECK(ck->spec().tied_head); // lm_head.weight in the file is skipped: transformers ties it
  auto pos = read_all(*ck, "pos_emb");
  const auto& full = ts["model.decoder.embed_positions.weight"].values;
  CHECK(pos == std::vector<float>(full.begin() + 16, full.end()));

  auto post = open_hf_checkpoint(folder(opt_config(false), opt_tensors(false)));
  REQUIRE(post.ok());
  CHECK_FALSE(post->spec().pre_norm);
  CHECK_FALSE(post->spec().final_norm);
}

TEST_CASE("a BERT folder skips position_ids and the MLM head, maps post-LN norms and finds its pooler", "[gpu][hf]") {
  auto ts = bert_tensors("", true);
  auto ck = open_hf_checkpoint(folder(bert_config, ts));
  REQUIRE(ck.ok());
  const auto& s = ck->spec();
  CHECK(s.kind == arch::encoder);
  CHECK(s.ffn_act == ffn_kind::gelu_erf);
  CHECK(s.norm_eps == 1e-12f);
  CHECK_FALSE(s.pre_norm);
  CHECK(s.embed_norm);
  CHECK_FALSE(s.final_norm);
  CHECK(s.type_vocab == 2);
  CHECK(s.pooler);
  CHECK(read_all(*ck, "layers.0.ln1.weight") == ts["encoder.layer.0.attention.output.LayerNorm.weight"].values);
  CHECK(read_all(*ck, "layers.0.ln2.bias") == ts["encoder.layer.0.output.LayerNorm.bias"].values);
  CHECK(read_all(*ck, "tok_type_emb") == ts["embeddings.token_type_embeddings.weight"].values);
  auto pool = read_all(*ck, "pool.weight");
  CHECK(pool[2 * 8 + 5] == t_at(ts["pooler.dense.weight"], 2, 5));

  std::string mlm = bert_config;
  mlm.replace(mlm.find("BertModel"), 9, "BertForMaskedLM");
  auto m = bert_tensors("bert.", false);
  m["cls.predictions.bias"] = tensor({20}, 90);
  m["cls.predictions.transform.dense.weight"] = tensor({8, 8}, 91);
  auto ck2 = open_hf_checkpoint(folder(mlm, m));
  REQUIRE(ck2.ok());
  CHECK_FALSE(ck2->spec().pooler);
}

// --- refusals ----------------------------------------------------------------------------------------------

TEST_CASE("an unsupported model_type or architecture is refused naming the file, the key and what is supported",
          "[gpu][hf]") {
  auto dir = folder(R"({"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox"})", {});
  auto m = open_error(dir);
  CHECK(has(m, dir + "/config.json: key 'model_type': expected one of gpt2, opt, llama, mistral, qwen2, bert, found \"gpt_neox\""));
  std::string cls = bert_config;
  cls.replace(cls.find("BertModel"), 9, "BertForSequenceClassification");
  CHECK(has(open_error(folder(cls, bert_tensors("bert.", true))),
            "key 'architectures': expected one of GPT2LMHeadModel"));
}

TEST_CASE("option values that would compute another model are refused with the key and the value", "[gpu][hf]") {
  std::string act = bert_config;
  act.replace(act.find("\"gelu\""), 6, "\"swish\"");
  CHECK(has(open_error(folder(act, bert_tensors("", true))), "key 'hidden_act': expected one of gelu (erf)"));
  CHECK(has(open_error(folder(act, bert_tensors("", true))), "found \"swish\""));

  std::string rope = llama_config;
  rope.replace(rope.find("\"rope_scaling\": null"), 20, R"("rope_scaling": {"type": "dynamic", "factor": 2.0})");
  CHECK(has(open_error(folder(rope, llama_tensors())),
            "key 'rope_scaling.rope_type': expected default, linear or llama3 (dynamic, yarn, longrope are not supported), found \"dynamic\""));

  std::string proj = opt_config(true);
  proj.replace(proj.find("\"word_embed_proj_dim\": 8"), 24, "\"word_embed_proj_dim\": 4");
  CHECK(has(open_error(folder(proj, opt_tensors(true))),
            "key 'word_embed_proj_dim': expected the hidden_size (8): project_in/project_out embeddings are not supported, found 4"));

  std::string sw = llama_config;
  sw.replace(sw.find("\"LlamaForCausalLM\""), 18, "\"Qwen2ForCausalLM\"");
  sw.replace(sw.find("\"llama\""), 7, "\"qwen2\", \"use_sliding_window\": true");
  CHECK(has(open_error(folder(sw, llama_tensors())), "key 'use_sliding_window'"));

  std::string idx = gpt2_config;
  idx.replace(idx.find("\"n_inner\": null"), 15, "\"scale_attn_by_inverse_layer_idx\": true");
  CHECK(has(open_error(folder(idx, gpt2_tensors())), "key 'scale_attn_by_inverse_layer_idx': expected false"));

  std::string layers = gpt2_config;
  layers.replace(layers.find("\"n_layer\": 2"), 12, "\"n_layer\": \"two\"");
  CHECK(has(open_error(folder(layers, gpt2_tensors())), "key 'n_layer': expected a positive integer"));
}

TEST_CASE("missing, misshapen, non-float and unused tensors are refused naming the file and the tensor", "[gpu][hf]") {
  auto missing = gpt2_tensors();
  missing.erase("transformer.h.1.ln_2.bias");
  auto dir = folder(gpt2_config, missing);
  CHECK(has(open_error(dir), dir + "/model.safetensors: missing tensor 'transformer.h.1.ln_2.bias' (model tensor 'layers.1.ln2.bias')"));

  auto shape = gpt2_tensors();
  shape["transformer.h.0.attn.c_attn.weight"] = tensor({24, 8}, 5);
  dir = folder(gpt2_config, shape);
  CHECK(has(open_error(dir), dir + "/model.safetensors: tensor 'transformer.h.0.attn.c_attn.weight' has shape [24, 8], expected [8, 24]"));

  auto ints = gpt2_tensors();
  ints["transformer.wpe.weight"] = tensor({16, 8}, 0, "I64");
  CHECK(has(open_error(folder(gpt2_config, ints)), "tensor 'transformer.wpe.weight': dtype I64 where a float tensor"));

  auto extra = llama_tensors();
  extra["model.layers.0.self_attn.q_proj.bias"] = tensor({8}, 70);
  dir = folder(llama_config, extra);
  CHECK(has(open_error(dir), dir + "/model.safetensors: tensor 'model.layers.0.self_attn.q_proj.bias' (F32 [8]) is not used by the LlamaForCausalLM model"));

  auto untied = gpt2_tensors();
  untied["lm_head.weight"] = tensor({11, 8}, 80);
  std::string cfg = gpt2_config;
  cfg.replace(cfg.find("\"n_inner\": null"), 15, "\"tie_word_embeddings\": false");
  auto ck = open_hf_checkpoint(folder(cfg, untied));
  REQUIRE(ck.ok()); // an untied GPT-2 head is read, transposed
  CHECK(read_all(*ck, "head.weight")[2 * 11 + 9] == t_at(untied["lm_head.weight"], 2, 9));

  auto none = make_dir();
  write_text(none + "/config.json", gpt2_config);
  write_text(none + "/pytorch_model.bin", "x");
  CHECK(has(open_error(none), none + ": no model.safetensors or model.safetensors.index.json (pytorch_model.bin is not read"));
  CHECK(has(open_error(none + "/nothing"), "not a directory"));
}
