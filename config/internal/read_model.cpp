#include "config/internal/read_model.hpp"

#include <cmath>
#include <optional>

#include "gpu/engine.hpp"
#include "gpu/hf_checkpoint.hpp"

namespace sy::config::internal {

namespace {
// Upper bounds keep every size computation of gpu::model_spec far from int64 overflow
// (12 * hidden^2 * layers and vocab * hidden stay below 1e16).
std::int64_t max_dim(const char* key) {
  std::string k = key;
  if (k == "layers" || k == "heads")
    return 4096;
  if (k == "hidden" || k == "ffn")
    return 1 << 18;
  return 1 << 24; // vocab, max_seq
}

int read_dim(yaml_reader& r, const YAML::Node& m, const std::string& path, const char* key, bool required,
             int fallback) {
  YAML::Node n = r.child(m, path, key);
  if (!yaml_reader::present(n)) {
    if (required)
      r.fail(n.IsDefined() ? n : m, at(path, key), "a positive integer (no preset given)", yaml_reader::describe(n));
    return fallback;
  }
  return static_cast<int>(
    r.as_int(n, at(path, key), 1, max_dim(key), "a positive integer up to " + std::to_string(max_dim(key))));
}
} // namespace

namespace {
void read_ms(yaml_reader& r, const YAML::Node& n, const std::string& path, const char* key,
             std::optional<std::chrono::microseconds>& into) {
  YAML::Node slo = r.child(n, path, key);
  if (yaml_reader::present(slo)) {
    double ms = r.as_number(slo, at(path, key), 0.0, "a positive number");
    if (ms > 1e9)
      r.fail(slo, at(path, key), "a positive number up to 1e9", yaml_reader::describe(slo));
    auto us = std::llround(ms * 1000.0);
    if (us <= 0)
      r.fail(slo, at(path, key), "a positive number of at least 0.001", yaml_reader::describe(slo));
    into = std::chrono::microseconds{us};
  }
}

void read_slo(yaml_reader& r, const YAML::Node& n, const std::string& path, model_config& m) {
  read_ms(r, n, path, "slo_ms", m.slo);
  read_ms(r, n, path, "ttft_ms", m.ttft);
  read_ms(r, n, path, "tpot_ms", m.tpot);
}

/// `output`: checked against the spec (an encoder has no logits, a decoder no pooler); default: the spec's.
void read_output(yaml_reader& r, const YAML::Node& n, const std::string& path, model_config& m) {
  YAML::Node o = r.child(n, path, "output");
  if (!yaml_reader::present(o)) {
    m.output = std::string{gpu::to_string(gpu::default_output(m.spec))};
    return;
  }
  std::string text = r.as_string(o, at(path, "output"), "an output kind");
  auto k = gpu::parse_output_kind(text);
  if (!k.ok())
    r.fail(o, at(path, "output"), "one of logits_last, logits_all, pooler, cls, mean, mean_normalized, hidden",
           quote(text));
  if (auto st = gpu::check_output_kind(m.spec, *k); !st.ok())
    r.fail(o, at(path, "output"), "an output this model computes", st.err().message);
  m.output = std::string{gpu::to_string(*k)};
}

/// `hf: DIR`: the architecture comes from the folder's config.json, the weights from its safetensors files.
model_config read_hf_model(yaml_reader& r, const YAML::Node& n, const std::string& path) {
  r.expect_map(n, path, {"name", "hf", "dtype", "slo_ms", "ttft_ms", "tpot_ms", "output"},
               "a Hugging Face model ({hf: DIR} with optional name, dtype, slo_ms, output; the folder's config.json gives "
               "the architecture)");
  YAML::Node hf = r.child(n, path, "hf");
  model_config m;
  m.weights.kind = weights_config::source::hf;
  m.weights.path = r.as_path(hf, at(path, "hf"));
  std::optional<gpu::dtype> type;
  YAML::Node dt = r.child(n, path, "dtype");
  if (yaml_reader::present(dt)) {
    std::string t = r.as_string(dt, at(path, "dtype"), "a dtype");
    auto d = gpu::parse_dtype(t);
    if (!d.ok())
      r.fail(dt, at(path, "dtype"), "a dtype (f32, f16, bf16)", quote(t));
    type = *d;
  }
  auto ck = gpu::open_hf_checkpoint(m.weights.path, type);
  if (!ck.ok())
    r.fail(hf, at(path, "hf"), "a Hugging Face model folder (config.json + model.safetensors or shards)",
           ck.err().message);
  m.spec = ck->spec();
  YAML::Node name = r.child(n, path, "name");
  m.name = yaml_reader::present(name) ? r.as_string(name, at(path, "name"), "a model name") : m.spec.name;
  m.spec.name = m.name;
  read_slo(r, n, path, m);
  read_output(r, n, path, m);
  return m;
}
} // namespace

model_config read_model(yaml_reader& r, const YAML::Node& n, const std::string& path) {
  if (n.IsMap() && n["hf"])
    return read_hf_model(r, n, path);
  r.expect_map(n, path,
               {"name", "preset", "arch", "layers", "hidden", "heads", "ffn", "vocab", "max_seq", "dtype",
                "weights", "slo_ms", "ttft_ms", "tpot_ms", "output"},
               "a model");
  model_config m;
  gpu::model_spec base;
  YAML::Node preset = r.child(n, path, "preset");
  bool has_preset = yaml_reader::present(preset);
  if (has_preset) {
    std::string name = r.as_string(preset, at(path, "preset"), "a preset name");
    auto p = gpu::preset(name);
    if (!p.ok()) {
      std::string hint = nearest(name, gpu::preset_names());
      r.fail(preset, at(path, "preset"), "a preset name (one of: " + join(gpu::preset_names()) + ")",
             quote(name) + (hint.empty() ? "" : " (did you mean " + quote(hint) + "?)"));
    }
    base = *p;
    m.preset = name;
  }
  YAML::Node name = r.child(n, path, "name");
  if (yaml_reader::present(name) || !has_preset)
    m.name = r.as_string(has_preset ? name : r.require(n, path, "name", "a model name (or a preset)"),
                         at(path, "name"), "a model name");
  else
    m.name = m.preset;

  gpu::model_spec& s = m.spec;
  s = base;
  s.name = m.name;
  YAML::Node a = r.child(n, path, "arch");
  if (yaml_reader::present(a)) {
    auto k = gpu::parse_arch(r.as_string(a, at(path, "arch"), "decoder or encoder"));
    if (!k.ok())
      r.fail(a, at(path, "arch"), "decoder or encoder (also gpt, opt, bert)", yaml_reader::describe(a));
    s.kind = *k;
  } else if (!has_preset) {
    r.fail(a.IsDefined() ? a : n, at(path, "arch"), "decoder or encoder (no preset given)", yaml_reader::describe(a));
  }
  bool req = !has_preset;
  s.layers = read_dim(r, n, path, "layers", req, s.layers);
  s.hidden = read_dim(r, n, path, "hidden", req, s.hidden);
  s.heads = read_dim(r, n, path, "heads", req, s.heads);
  s.ffn = read_dim(r, n, path, "ffn", false, has_preset && !yaml_reader::present(r.child(n, path, "hidden"))
                                                 ? s.ffn
                                                 : 4 * s.hidden);
  s.vocab = read_dim(r, n, path, "vocab", req, s.vocab);
  s.max_seq = read_dim(r, n, path, "max_seq", req, s.max_seq);
  if (s.hidden % s.heads != 0) {
    YAML::Node h = r.child(n, path, "heads");
    r.fail(h.IsDefined() ? h : n, at(path, "heads"),
           "a divisor of hidden (" + std::to_string(s.hidden) + ")", quote(std::to_string(s.heads)));
  }
  YAML::Node dt = r.child(n, path, "dtype");
  if (yaml_reader::present(dt)) {
    std::string t = r.as_string(dt, at(path, "dtype"), "a dtype");
    auto d = gpu::parse_dtype(t);
    if (!d.ok())
      r.fail(dt, at(path, "dtype"), "a dtype (f32, f16, bf16)", quote(t));
    s.type = *d;
  }
  if (auto st = s.validate(); !st.ok())
    r.fail(n, path, "a valid architecture", st.err().message);

  YAML::Node w = r.child(n, path, "weights");
  if (yaml_reader::present(w)) {
    std::string wp = at(path, "weights");
    r.expect_map(w, wp, {"seed", "safetensors"}, "weights ({seed: N} or {safetensors: path})");
    YAML::Node seed = r.child(w, wp, "seed");
    YAML::Node file = r.child(w, wp, "safetensors");
    if (seed.IsDefined() == file.IsDefined())
      r.fail(w, wp, "exactly one of seed, safetensors",
             seed.IsDefined() ? std::string{"both"} : std::string{"neither"});
    if (seed.IsDefined()) {
      m.weights.kind = weights_config::source::seed;
      m.weights.seed = static_cast<std::uint64_t>(
        r.as_int(seed, at(wp, "seed"), 0, std::numeric_limits<std::int64_t>::max(), "a non-negative integer"));
    } else {
      m.weights.kind = weights_config::source::safetensors;
      m.weights.path = r.as_path(file, at(wp, "safetensors"));
    }
  }
  read_slo(r, n, path, m);
  read_output(r, n, path, m);
  return m;
}

void emit_model(YAML::Emitter& out, const model_config& m) {
  const auto& s = m.spec;
  out << YAML::Key << "name" << YAML::Value << m.name;
  if (m.weights.kind == weights_config::source::hf) { // the architecture is the folder's config.json
    out << YAML::Key << "hf" << YAML::Value << m.weights.path;
    out << YAML::Key << "dtype" << YAML::Value << std::string{gpu::to_string(s.type)};
    if (m.slo)
      out << YAML::Key << "slo_ms" << YAML::Value << static_cast<double>(m.slo->count()) / 1000.0;
    out << YAML::Key << "output" << YAML::Value << m.output;
    return;
  }
  if (!m.preset.empty())
    out << YAML::Key << "preset" << YAML::Value << m.preset;
  out << YAML::Key << "arch" << YAML::Value << std::string{gpu::to_string(s.kind)};
  out << YAML::Key << "layers" << YAML::Value << s.layers;
  out << YAML::Key << "hidden" << YAML::Value << s.hidden;
  out << YAML::Key << "heads" << YAML::Value << s.heads;
  out << YAML::Key << "ffn" << YAML::Value << s.ffn;
  out << YAML::Key << "vocab" << YAML::Value << s.vocab;
  out << YAML::Key << "max_seq" << YAML::Value << s.max_seq;
  out << YAML::Key << "dtype" << YAML::Value << std::string{gpu::to_string(s.type)};
  out << YAML::Key << "weights" << YAML::Value << YAML::Flow << YAML::BeginMap;
  if (m.weights.kind == weights_config::source::seed)
    out << YAML::Key << "seed" << YAML::Value << m.weights.seed;
  else
    out << YAML::Key << "safetensors" << YAML::Value << m.weights.path;
  out << YAML::EndMap;
  if (m.slo) {
    double ms = static_cast<double>(m.slo->count()) / 1000.0;
    out << YAML::Key << "slo_ms" << YAML::Value << ms;
  }
  out << YAML::Key << "output" << YAML::Value << m.output;
}

} // namespace sy::config::internal
