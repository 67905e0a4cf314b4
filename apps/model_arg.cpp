#include "apps/model_arg.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sys/stat.h>

#include <yaml-cpp/yaml.h>

#include "gpu/hf_checkpoint.hpp"

namespace sy::apps {

namespace {
bool ends_with(const std::string& s, const std::string& x) {
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}
bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

constexpr const char* spec_keys =
  "name, arch, layers, hidden, heads, ffn, vocab, max_seq, dtype, family, kv_heads, head_dim, norm, pre_norm, "
  "norm_eps, ffn_act, positions, rope_theta, rope_scaling, qkv_bias, attn_out_bias, ffn_bias, tied_head, head_bias, "
  "type_vocab, embed_norm, final_norm, pooler, bos_token, eos_token";

/// The architecture-option keys of a spec file (named like the model_spec fields). Returns false when
/// `key` is none of them; throws YAML::Exception on a value of the wrong type; sets `bad` to a message
/// for a value of the right type that is not accepted.
bool parse_option(gpu::model_spec& s, const std::string& key, const YAML::Node& v, std::string& bad) {
  auto named = [&](auto parsed, auto& field) {
    if (!parsed)
      bad = parsed.err().message;
    else
      field = *parsed;
  };
  if (key == "family") named(gpu::parse_family(v.as<std::string>()), s.fam);
  else if (key == "kv_heads") s.kv_heads = v.as<int>();
  else if (key == "head_dim") s.head_dim = v.as<int>();
  else if (key == "norm") named(gpu::parse_norm_kind(v.as<std::string>()), s.norm);
  else if (key == "pre_norm") s.pre_norm = v.as<bool>();
  else if (key == "norm_eps") s.norm_eps = v.as<float>();
  else if (key == "ffn_act") named(gpu::parse_ffn_kind(v.as<std::string>()), s.ffn_act);
  else if (key == "positions") named(gpu::parse_position_kind(v.as<std::string>()), s.positions);
  else if (key == "rope_theta") s.rope_theta = v.as<double>();
  else if (key == "qkv_bias") s.qkv_bias = v.as<bool>();
  else if (key == "attn_out_bias") s.attn_out_bias = v.as<bool>();
  else if (key == "ffn_bias") s.ffn_bias = v.as<bool>();
  else if (key == "tied_head") s.tied_head = v.as<bool>();
  else if (key == "head_bias") s.head_bias = v.as<bool>();
  else if (key == "type_vocab") s.type_vocab = v.as<int>();
  else if (key == "embed_norm") s.embed_norm = v.as<bool>();
  else if (key == "final_norm") s.final_norm = v.as<bool>();
  else if (key == "pooler") s.pooler = v.as<bool>();
  else if (key == "bos_token") s.bos_token = v.as<int>();
  else if (key == "eos_token") s.eos_token = v.as<int>();
  else if (key == "rope_scaling") {
    if (v.IsNull()) {
      s.rope_scaling.reset();
      return true;
    }
    if (!v.IsMap()) {
      bad = "expected a mapping with type (linear|llama3), factor, low_freq_factor, high_freq_factor, "
            "original_max_position_embeddings";
      return true;
    }
    gpu::rope_scaling_spec r;
    for (const auto& f : v) {
      const std::string k = f.first.as<std::string>();
      if (k == "type" || k == "rope_type") r.type = f.second.as<std::string>();
      else if (k == "factor") r.factor = f.second.as<double>();
      else if (k == "low_freq_factor") r.low_freq_factor = f.second.as<double>();
      else if (k == "high_freq_factor") r.high_freq_factor = f.second.as<double>();
      else if (k == "original_max_position_embeddings") r.original_max_position_embeddings = f.second.as<int>();
      else {
        bad = "unknown rope_scaling key '" + k + "', expected type, factor, low_freq_factor, high_freq_factor, "
              "original_max_position_embeddings";
        return true;
      }
    }
    s.rope_scaling = r;
  } else
    return false;
  return true;
}

std::string expected_kind(const std::string& key) {
  static const char* strings[] = {"name", "arch", "dtype", "family", "norm", "ffn_act", "positions"};
  static const char* bools[] = {"pre_norm", "qkv_bias", "attn_out_bias", "ffn_bias", "tied_head",
                                "head_bias", "embed_norm", "final_norm", "pooler"};
  for (const char* k : strings)
    if (key == k)
      return "a string";
  for (const char* k : bools)
    if (key == k)
      return "true or false";
  if (key == "norm_eps" || key == "rope_theta")
    return "a number";
  if (key == "rope_scaling")
    return "a rope_scaling mapping of numbers (type a string)";
  return "an integer";
}
} // namespace

result<gpu::model_spec> load_model_arg(const std::string& arg) {
  if (gpu::is_hf_folder(arg)) {
    auto ck = gpu::open_hf_checkpoint(arg);
    if (!ck)
      return ck.err();
    return ck->spec();
  }
  if (!ends_with(arg, ".yaml") && !ends_with(arg, ".yml") && !is_file(arg))
    return gpu::preset(arg);
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(arg);
  } catch (const YAML::BadFile&) {
    return make_error("spec", arg + ": cannot open: " + std::strerror(errno));
  } catch (const YAML::Exception& e) {
    return make_error("spec", arg + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                                ": " + e.msg);
  }
  if (!doc.IsMap())
    return make_error("spec", arg + ": expected a mapping of model spec fields");
  gpu::model_spec s;
  s.name = arg;
  auto where = [&](const YAML::Node& n, const std::string& key) {
    return arg + ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1) + ": key '" +
           key + "'";
  };
  int ffn = 0;
  for (const auto& kv : doc) {
    std::string key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    try {
      if (key == "name") {
        s.name = v.as<std::string>();
      } else if (key == "arch") {
        auto a = gpu::parse_arch(v.as<std::string>());
        if (!a)
          return make_error("spec", where(v, key) + ": " + a.err().message);
        s.kind = *a;
      } else if (key == "dtype") {
        auto t = gpu::parse_dtype(v.as<std::string>());
        if (!t)
          return make_error("spec", where(v, key) + ": " + t.err().message);
        s.type = *t;
      } else if (key == "layers") {
        s.layers = v.as<int>();
      } else if (key == "hidden") {
        s.hidden = v.as<int>();
      } else if (key == "heads") {
        s.heads = v.as<int>();
      } else if (key == "ffn") {
        ffn = v.as<int>();
      } else if (key == "vocab") {
        s.vocab = v.as<int>();
      } else if (key == "max_seq") {
        s.max_seq = v.as<int>();
      } else {
        std::string bad;
        if (!parse_option(s, key, v, bad))
          return make_error("spec", where(kv.first, key) + ": unknown key, expected one of " + spec_keys);
        if (!bad.empty())
          return make_error("spec", where(v, key) + ": " + bad);
      }
    } catch (const YAML::Exception&) {
      return make_error("spec", where(v, key) + ": expected " + expected_kind(key) + ", found '" +
                                  (v.IsScalar() ? v.Scalar() : std::string{"a non-scalar"}) + "'");
    }
  }
  s.ffn = ffn ? ffn : 4 * s.hidden;
  if (auto st = s.validate(); !st)
    return make_error("spec", arg + ": " + st.err().message);
  return s;
}

namespace {

/// "1,2,3" -> {1, 2, 3}; errors name `option` and the bad element.
result<std::vector<std::int32_t>> parse_int_list(const std::string& text, const char* option) {
  std::vector<std::int32_t> r;
  std::size_t pos = 0;
  int index = 0;
  while (pos <= text.size()) {
    auto comma = text.find(',', pos);
    std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || errno == ERANGE || v < 0 || v > INT32_MAX)
      return make_error("args", std::string(option) + ": element " + std::to_string(index) + " '" + item +
                                  "' is not a non-negative integer");
    r.push_back(static_cast<std::int32_t>(v));
    ++index;
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return r;
}

} // namespace

result<std::vector<std::int32_t>> parse_tokens(const std::string& text) { return parse_int_list(text, "--tokens"); }

result<std::vector<std::size_t>> split_sequences(std::size_t tokens, const std::string& lengths, int batch) {
  std::vector<std::size_t> lens;
  if (lengths.empty()) {
    if (batch <= 0 || tokens % static_cast<std::size_t>(batch) != 0)
      return make_error("args", "--tokens: " + std::to_string(tokens) + " tokens do not form " +
                                  std::to_string(batch) + " sequences of equal length");
    lens.assign(static_cast<std::size_t>(batch), tokens / static_cast<std::size_t>(batch));
    return lens;
  }
  auto l = parse_int_list(lengths, "--lengths");
  if (!l)
    return l.err();
  std::size_t sum = 0;
  for (std::size_t i = 0; i < l->size(); ++i) {
    if ((*l)[i] <= 0)
      return make_error("args", "--lengths: element " + std::to_string(i) + " is 0; every sequence needs a token");
    sum += static_cast<std::size_t>((*l)[i]);
    lens.push_back(static_cast<std::size_t>((*l)[i]));
  }
  if (sum != tokens)
    return make_error("args", "--lengths add up to " + std::to_string(sum) + ", but --tokens has " +
                                std::to_string(tokens) + " tokens");
  return lens;
}

namespace {

status write_npy_bytes(const std::string& path, const char* descr, const void* data, std::size_t bytes,
                       const std::vector<std::size_t>& shape) {
  std::string dims;
  for (auto d : shape)
    dims += std::to_string(d) + ", ";
  if (shape.size() > 1)
    dims.erase(dims.size() - 2); // "(2, 3)" but "(5,)"
  else
    dims.pop_back();
  std::string header = std::string{"{'descr': '"} + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  std::size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  if (!out)
    return make_error("output", path + ": cannot open for writing: " + std::strerror(errno));
  out.write("\x93NUMPY\x01\x00", 8);
  unsigned short len = static_cast<unsigned short>(header.size());
  char l[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(l, 2);
  out << header;
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out)
    return make_error("output", path + ": write failed");
  return {};
}

} // namespace

status write_npy(const std::string& path, const std::vector<float>& data, const std::vector<std::size_t>& shape) {
  return write_npy_bytes(path, "<f4", data.data(), data.size() * sizeof(float), shape);
}

status write_npy(const std::string& path, const std::vector<std::int64_t>& data,
                 const std::vector<std::size_t>& shape) {
  return write_npy_bytes(path, "<i8", data.data(), data.size() * sizeof(std::int64_t), shape);
}

std::string weights_arg(const std::string& model, const std::string& weights) {
  return weights.empty() && gpu::is_hf_folder(model) ? model : weights;
}

result<loaded_engine> open_engine(const gpu::model_spec& spec, const gpu::parallel_layout& layout,
                                  const engine_args& a) {
  // The weights: a Hugging Face folder (read from its files straight into the shards), else a safetensors
  // file of our own names, else seeded.
  std::optional<gpu::hf_checkpoint> hf;
  std::optional<gpu::weight_set> own;
  if (gpu::is_hf_folder(a.weights)) {
    auto ck = gpu::open_hf_checkpoint(a.weights, spec.type);
    if (!ck)
      return ck.err();
    if (auto st = ck->source->check(spec); !st)
      return st.err();
    hf = std::move(*ck);
  } else {
    auto weights = a.weights.empty() ? gpu::generate_weights(spec, static_cast<std::uint64_t>(a.seed))
                                     : gpu::load_weights(a.weights, spec);
    if (!weights)
      return weights.err();
    own = std::move(*weights);
  }
  gpu::backend_options bo;
  bo.kind = a.kind;
  bo.devices = layout.tp * layout.stages();
  bo.budget_bytes = static_cast<std::size_t>(a.budget_mib) << 20;
  bo.cpu_threads = a.threads;
  loaded_engine e;
  auto b = gpu::open_devices(bo);
  if (!b)
    return b.err();
  e.devices = std::move(*b);
  auto p = hf ? gpu::pipeline::create(*e.devices, spec, layout, *hf->source)
              : gpu::pipeline::create(*e.devices, spec, layout, *own);
  if (!p)
    return p.err();
  e.model = std::move(*p);
  if (auto st = e.model->load(); !st)
    return st.err();
  return e;
}

} // namespace sy::apps
