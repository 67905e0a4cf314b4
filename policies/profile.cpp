#include "policies/profile.hpp"

#include "config/cluster_config.hpp"
#include "gpu/sim/sim_backend.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <msgpack.hpp>

#include "messages/json.hpp"

namespace sy::policies {

using json_value = json::value;

// ---------------------------------------------------------------------------------------------------------
// profile_entry

namespace {

std::string entry_name(const profile_entry& e) {
  return "profile entry (model '" + e.model + "', op " + std::to_string(e.config.op) + ", pp " +
         std::to_string(e.config.pp) + ")";
}

template <class T>
status check_values(const profile_entry& e, const std::string& field, const std::vector<T>& v, std::size_t n,
                    const std::string& index_prefix) {
  if (v.size() != n)
    return make_error("profile", entry_name(e) + ": " + field + index_prefix + " has " + std::to_string(v.size()) +
                                     " values, expected " + std::to_string(n) + " (one per stage)");
  for (std::size_t k = 0; k < v.size(); ++k) {
    double x = static_cast<double>(v[k]);
    if (!std::isfinite(x) || x < 0) {
      std::ostringstream os;
      os << v[k];
      return make_error("profile", entry_name(e) + ": " + field + index_prefix + "[" + std::to_string(k) +
                                       "] must be a finite non-negative number, found " + os.str());
    }
  }
  return {};
}

} // namespace

status profile_entry::validate() const {
  if (model.empty())
    return make_error("profile", "profile entry: model name is empty");
  if (config.op < 1 || config.pp < 1)
    return make_error("profile", entry_name(*this) + ": op and pp must be >= 1");
  auto pp = static_cast<std::size_t>(config.pp);
  auto nb = stage_latency.size();
  if (nb < 1 || nb > profile_batch_sizes.size())
    return make_error("profile", entry_name(*this) + ": stage_latency has " + std::to_string(nb) +
                                     " rows, expected 1 to " + std::to_string(profile_batch_sizes.size()) +
                                     " (batch sizes 1,2,4,8,16, a prefix)");
  if (act_bytes.size() != nb)
    return make_error("profile", entry_name(*this) + ": act_bytes has " + std::to_string(act_bytes.size()) +
                                     " rows, expected " + std::to_string(nb) + " (as many as stage_latency)");
  for (std::size_t b = 0; b < nb; ++b) {
    auto idx = "[" + std::to_string(b) + "]";
    if (auto st = check_values(*this, "stage_latency", stage_latency[b], pp, idx); !st)
      return st;
    if (auto st = check_values(*this, "act_bytes", act_bytes[b], pp, idx); !st)
      return st;
  }
  if (auto st = check_values(*this, "weight_bytes", weight_bytes, pp, ""); !st)
    return st;
  if (!load_seconds.empty()) // else not measured
    if (auto st = check_values(*this, "load_seconds", load_seconds, pp, ""); !st)
      return st;
  const std::pair<const char*, const std::vector<double>*> gen[] = {
    {"gen_step_s", &gen_step_s}, {"prefill_s_per_token", &prefill_s_per_token},
    {"decode_s_per_seq", &decode_s_per_seq}, {"decode_s_per_ctx", &decode_s_per_ctx},
    {"kv_bytes_per_token", &kv_bytes_per_token}};
  for (auto [name, x] : {std::pair{"gen_hop_s", gen_hop_s}, std::pair{"gen_request_s", gen_request_s},
                         std::pair{"request_s", request_s}})
    if (!std::isfinite(x) || x < 0) {
      std::ostringstream os;
      os << x;
      return make_error("profile", entry_name(*this) + ": " + name + " must be a finite non-negative number of "
                                       "seconds, found " + os.str());
    }
  const bool any = std::any_of(std::begin(gen), std::end(gen), [](const auto& f) { return !f.second->empty(); });
  if (!any) {
    if (!prefill_s_per_pair.empty() || !gen_step_sdlog.empty() || gen_fitted_live)
      return make_error("profile", entry_name(*this) + (gen_fitted_live ? ": gen_fitted_live"
                                                        : !gen_step_sdlog.empty() ? ": gen_step_sdlog"
                                                                                  : ": prefill_s_per_pair") +
                                       " without the generation fields "
                                       "(gen_step_s, prefill_s_per_token, decode_s_per_seq, decode_s_per_ctx, "
                                       "kv_bytes_per_token)");
    return {};
  }
  for (const auto& [name, v] : gen) {
    if (v->empty())
      return make_error("profile", entry_name(*this) + ": " + name + " is missing; the generation fields (gen_step_s, "
                                       "prefill_s_per_token, decode_s_per_seq, decode_s_per_ctx, kv_bytes_per_token) "
                                       "come together");
    if (auto st = check_values(*this, name, *v, pp, ""); !st)
      return st;
  }
  if (!prefill_s_per_pair.empty()) // optional
    if (auto st = check_values(*this, "prefill_s_per_pair", prefill_s_per_pair, pp, ""); !st)
      return st;
  if (!gen_step_sdlog.empty()) // optional
    if (auto st = check_values(*this, "gen_step_sdlog", gen_step_sdlog, pp, ""); !st)
      return st;
  return {};
}

double profile_entry::max_weight_bytes() const {
  double m = 0;
  for (auto w : weight_bytes)
    m = std::max(m, w);
  return m;
}

double profile_entry::total_latency(std::size_t b) const {
  if (b >= stage_latency.size())
    return 0;
  double s = 0;
  for (double x : stage_latency[b])
    s += x;
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// profile_db

void profile_db::put(profile_entry e) {
  auto key = std::make_pair(e.model, e.config);
  entries_[key] = std::move(e);
}

const profile_entry* profile_db::find(const std::string& model, parallel_config c) const {
  auto it = entries_.find(std::make_pair(model, c));
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<parallel_config> profile_db::configs(const std::string& model) const {
  std::vector<parallel_config> r;
  for (const auto& [key, e] : entries_)
    if (key.first == model)
      r.push_back(key.second);
  return r;
}

std::vector<std::string> profile_db::models() const {
  std::vector<std::string> r;
  for (const auto& [key, e] : entries_)
    if (r.empty() || r.back() != key.first)
      r.push_back(key.first);
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Serialization. Both formats carry the same document (README.md "Profile database format"):
// {"format": "switchyard-profile", "version": 1, "batch_sizes": [1,2,4,8,16], "entries": [{...}, ...]}.
// msgpack is decoded into a json_value first so that one decoder checks both.

namespace {

constexpr const char* format_tag = "switchyard-profile";
constexpr int format_version = 1;

template <class T>
json_value to_array(const std::vector<T>& v) {
  auto a = json_value::make_array();
  for (const auto& x : v)
    a.push(json_value{x});
  return a;
}

template <class T>
json_value to_matrix(const std::vector<std::vector<T>>& m) {
  auto a = json_value::make_array();
  for (const auto& row : m)
    a.push(to_array(row));
  return a;
}

json_value to_document(const profile_db& db) {
  auto doc = json_value::make_object();
  doc.set("format", format_tag).set("version", format_version);
  if (!db.device().empty())
    doc.set("device", db.device());
  if (db.host_cores() > 0)
    doc.set("host_cores", db.host_cores());
  auto bs = json_value::make_array();
  for (int b : profile_batch_sizes)
    bs.push(b);
  doc.set("batch_sizes", std::move(bs));
  auto entries = json_value::make_array();
  for (const auto& [key, e] : db.entries()) {
    auto o = json_value::make_object();
    o.set("model", e.model).set("op", e.config.op).set("pp", e.config.pp);
    o.set("stage_latency", to_matrix(e.stage_latency));
    o.set("weight_bytes", to_array(e.weight_bytes));
    o.set("act_bytes", to_matrix(e.act_bytes));
    if (!e.load_seconds.empty())
      o.set("load_seconds", to_array(e.load_seconds));
    if (e.has_generation()) {
      o.set("gen_step_s", to_array(e.gen_step_s));
      o.set("prefill_s_per_token", to_array(e.prefill_s_per_token));
      o.set("decode_s_per_seq", to_array(e.decode_s_per_seq));
      o.set("decode_s_per_ctx", to_array(e.decode_s_per_ctx));
      o.set("kv_bytes_per_token", to_array(e.kv_bytes_per_token));
      if (!e.prefill_s_per_pair.empty()) // optional: absent when not measured (older outputs unchanged)
        o.set("prefill_s_per_pair", to_array(e.prefill_s_per_pair));
      if (!e.gen_step_sdlog.empty())
        o.set("gen_step_sdlog", to_array(e.gen_step_sdlog));
    }
    if (e.gen_fitted_live)
      o.set("gen_fitted_live", true);
    if (e.gen_hop_s > 0) // optional runtime overheads: absent when not measured (older outputs unchanged)
      o.set("gen_hop_s", e.gen_hop_s);
    if (e.gen_request_s > 0)
      o.set("gen_request_s", e.gen_request_s);
    if (e.request_s > 0)
      o.set("request_s", e.request_s);
    entries.push(std::move(o));
  }
  doc.set("entries", std::move(entries));
  return doc;
}

// Decoding with precise messages: "entry 3 (model 'x'): field 'weight_bytes'[1]: expected ..., found ...".
struct decoder {
  std::string where;

  error fail(const std::string& what) const { return make_error("profile", where + ": " + what); }

  result<const json_value*> member(const json_value& o, const std::string& key, json_value::kind k) const {
    const auto* v = o.get(key);
    if (!v)
      return fail("missing field '" + key + "'");
    if (v->type() != k)
      return fail("field '" + key + "': expected " + kind_name(k) + ", found " + kind_name(v->type()));
    return v;
  }

  result<int> integer(const json_value& o, const std::string& key) const {
    auto v = member(o, key, json_value::kind::number);
    if (!v)
      return v.err();
    double d = (*v)->as_number();
    if (d != std::floor(d) || d < 1 || d > 1e6)
      return fail("field '" + key + "': expected a positive integer, found " + json::write(**v));
    return static_cast<int>(d);
  }

  template <class T>
  result<std::vector<T>> numbers(const json_value& a, const std::string& field) const {
    if (!a.is_array())
      return fail("field '" + field + "': expected array, found " + kind_name(a.type()));
    std::vector<T> out;
    for (std::size_t i = 0; i < a.as_array().size(); ++i) {
      const auto& x = a.as_array()[i];
      auto at = "field '" + field + "'[" + std::to_string(i) + "]";
      if (!x.is_number())
        return fail(at + ": expected number, found " + kind_name(x.type()));
      double d = x.as_number();
      if (!std::isfinite(d) || d < 0)
        return fail(at + ": expected a finite non-negative number, found " + json::write(x));
      if (std::is_integral<T>::value && d != std::floor(d))
        return fail(at + ": expected an integer byte count, found " + json::write(x));
      out.push_back(static_cast<T>(d));
    }
    return out;
  }

  template <class T>
  result<std::vector<std::vector<T>>> matrix(const json_value& o, const std::string& key) const {
    auto v = member(o, key, json_value::kind::array);
    if (!v)
      return v.err();
    std::vector<std::vector<T>> out;
    const auto& rows = (*v)->as_array();
    for (std::size_t b = 0; b < rows.size(); ++b) {
      auto row = numbers<T>(rows[b], key + "'[" + std::to_string(b) + "]");
      if (!row)
        return row.err();
      out.push_back(std::move(*row));
    }
    return out;
  }

  template <class T>
  result<std::vector<T>> vector(const json_value& o, const std::string& key) const {
    auto v = member(o, key, json_value::kind::array);
    if (!v)
      return v.err();
    return numbers<T>(**v, key);
  }
};

result<profile_db> from_document(const json_value& doc, const std::string& source) {
  decoder top{source};
  if (!doc.is_object())
    return top.fail(std::string{"expected an object at the top level, found "} + kind_name(doc.type()));
  auto fmt = top.member(doc, "format", json_value::kind::string);
  if (!fmt)
    return fmt.err();
  if ((*fmt)->as_string() != format_tag)
    return top.fail("field 'format': expected \"" + std::string{format_tag} + "\", found \"" +
                    (*fmt)->as_string() + "\"");
  auto ver = top.member(doc, "version", json_value::kind::number);
  if (!ver)
    return ver.err();
  if ((*ver)->as_number() != format_version)
    return top.fail("field 'version': expected " + std::to_string(format_version) + ", found " +
                    json::write(**ver));
  auto bs = top.vector<int>(doc, "batch_sizes");
  if (!bs)
    return bs.err();
  if (*bs != std::vector<int>(profile_batch_sizes.begin(), profile_batch_sizes.end()))
    return top.fail("field 'batch_sizes': expected [1, 2, 4, 8, 16], found " +
                    json::write(*doc.get("batch_sizes")));
  auto entries = top.member(doc, "entries", json_value::kind::array);
  if (!entries)
    return entries.err();
  profile_db db;
  if (const auto* dev = doc.get("device")) { // optional: what the profile is for (absent in older files)
    if (!dev->is_string() || dev->as_string().empty() || dev->as_string().size() > 64)
      return top.fail("field 'device': expected a device kind or GPU name (\"cpu\", \"cuda\", \"sim\", "
                      "\"V100-16GB\", ...), found " + json::write(*dev));
    db.set_device(dev->as_string());
  }
  if (const auto* hc = doc.get("host_cores")) { // optional: the cores of the host that measured cpu entries
    if (!hc->is_number() || !(hc->as_number() >= 1) || hc->as_number() > 65536)
      return top.fail("field 'host_cores': expected a number of cores in [1, 65536], found " + json::write(*hc));
    db.set_host_cores(hc->as_number());
  }
  const auto& list = (*entries)->as_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& o = list[i];
    decoder d{source + ": entry " + std::to_string(i)};
    if (!o.is_object())
      return d.fail(std::string{"expected object, found "} + kind_name(o.type()));
    auto model = d.member(o, "model", json_value::kind::string);
    if (!model)
      return model.err();
    d.where += " (model '" + (*model)->as_string() + "')";
    profile_entry e;
    e.model = (*model)->as_string();
    auto op = d.integer(o, "op");
    if (!op)
      return op.err();
    auto pp = d.integer(o, "pp");
    if (!pp)
      return pp.err();
    e.config = {*op, *pp};
    auto lat = d.matrix<double>(o, "stage_latency");
    if (!lat)
      return lat.err();
    e.stage_latency = std::move(*lat);
    auto wb = d.vector<double>(o, "weight_bytes");
    if (!wb)
      return wb.err();
    e.weight_bytes = std::move(*wb);
    // act_bytes and load_seconds are optional: no simulator mode reads activations (zeros when absent), and
    // only swapping needs load times (absent: the swapping simulator refuses the entry).
    if (o.get("act_bytes")) {
      auto ab = d.matrix<std::int64_t>(o, "act_bytes");
      if (!ab)
        return ab.err();
      e.act_bytes = std::move(*ab);
    } else {
      e.act_bytes.assign(e.stage_latency.size(), std::vector<std::int64_t>(static_cast<std::size_t>(e.config.pp), 0));
    }
    if (o.get("load_seconds")) {
      auto ls = d.vector<double>(o, "load_seconds");
      if (!ls)
        return ls.err();
      e.load_seconds = std::move(*ls);
    }
    // Generation costs: optional (older profiles have none; the generation simulator refuses such an entry).
    for (auto [key, field] : {std::pair{"gen_step_s", &e.gen_step_s}, std::pair{"prefill_s_per_token", &e.prefill_s_per_token},
                              std::pair{"decode_s_per_seq", &e.decode_s_per_seq},
                              std::pair{"decode_s_per_ctx", &e.decode_s_per_ctx},
                              std::pair{"kv_bytes_per_token", &e.kv_bytes_per_token},
                              std::pair{"prefill_s_per_pair", &e.prefill_s_per_pair},
                              std::pair{"gen_step_sdlog", &e.gen_step_sdlog}})
      if (o.get(key)) {
        auto v = d.vector<double>(o, key);
        if (!v)
          return v.err();
        *field = std::move(*v);
      }
    // Runtime overheads (optional, seconds, default 0).
    for (auto [key, field] : {std::pair{"gen_hop_s", &e.gen_hop_s}, std::pair{"gen_request_s", &e.gen_request_s},
                              std::pair{"request_s", &e.request_s}})
      if (const auto* x = o.get(key)) {
        if (!x->is_number())
          return d.fail(std::string{"field '"} + key + "': expected a number of seconds, found " + kind_name(x->type()));
        if (!std::isfinite(x->as_number()) || x->as_number() < 0)
          return d.fail(std::string{"field '"} + key + "': expected a finite non-negative number of seconds, found " +
                        json::write(*x));
        *field = x->as_number();
      }
    if (const auto* x = o.get("gen_fitted_live")) {
      if (!x->is_bool())
        return d.fail(std::string{"field 'gen_fitted_live': expected true or false, found "} + kind_name(x->type()));
      e.gen_fitted_live = x->as_bool();
    }
    if (auto st = e.validate(); !st)
      return make_error("profile", source + ": entry " + std::to_string(i) + ": " + st.err().message);
    if (db.find(e.model, e.config))
      return d.fail("duplicate entry for this (model, op, pp)");
    db.put(std::move(e));
  }
  return db;
}

// msgpack -> json_value (maps with string keys, arrays, numbers, strings, booleans, nil).
result<json_value> from_msgpack_object(const msgpack::object& o, int depth) {
  if (depth > 64)
    return make_error("profile", "msgpack: nesting deeper than 64 levels");
  switch (o.type) {
    case msgpack::type::NIL: return json_value{};
    case msgpack::type::BOOLEAN: return json_value{o.via.boolean};
    case msgpack::type::POSITIVE_INTEGER: return json_value{static_cast<double>(o.via.u64)};
    case msgpack::type::NEGATIVE_INTEGER: return json_value{static_cast<double>(o.via.i64)};
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return json_value{o.via.f64};
    case msgpack::type::STR: return json_value{std::string{o.via.str.ptr, o.via.str.size}};
    case msgpack::type::ARRAY: {
      auto a = json_value::make_array();
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        auto v = from_msgpack_object(o.via.array.ptr[i], depth + 1);
        if (!v)
          return v;
        a.push(std::move(*v));
      }
      return a;
    }
    case msgpack::type::MAP: {
      auto m = json_value::make_object();
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        const auto& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR)
          return make_error("profile", "msgpack: map key is not a string");
        auto v = from_msgpack_object(kv.val, depth + 1);
        if (!v)
          return v;
        m.set(std::string{kv.key.via.str.ptr, kv.key.via.str.size}, std::move(*v));
      }
      return m;
    }
    default: return make_error("profile", "msgpack: unsupported value type (bin/ext)");
  }
}

void pack(msgpack::packer<msgpack::sbuffer>& pk, const json_value& v) {
  switch (v.type()) {
    case json_value::kind::null: pk.pack_nil(); break;
    case json_value::kind::boolean: v.as_bool() ? pk.pack_true() : pk.pack_false(); break;
    case json_value::kind::number: {
      double d = v.as_number();
      if (d == std::floor(d) && std::fabs(d) < 9.0e18)
        pk.pack(static_cast<std::int64_t>(d));
      else
        pk.pack_double(d);
      break;
    }
    case json_value::kind::string: pk.pack(v.as_string()); break;
    case json_value::kind::array:
      pk.pack_array(static_cast<std::uint32_t>(v.as_array().size()));
      for (const auto& e : v.as_array())
        pack(pk, e);
      break;
    case json_value::kind::object:
      pk.pack_map(static_cast<std::uint32_t>(v.as_object().size()));
      for (const auto& [k, e] : v.as_object()) {
        pk.pack(k);
        pack(pk, e);
      }
      break;
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

std::string profile_db::to_json() const {
  return json::write(to_document(*this), 2) + "\n";
}

result<profile_db> profile_db::from_json(const std::string& text) {
  auto doc = json::parse(text);
  if (!doc)
    return make_error("profile", doc.err().to_string());
  return from_document(*doc, "profile json");
}

std::string profile_db::to_msgpack() const {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk{buf};
  pack(pk, to_document(*this));
  return std::string{buf.data(), buf.size()};
}

result<profile_db> profile_db::from_msgpack(const std::string& bytes) {
  msgpack::object_handle oh;
  try {
    oh = msgpack::unpack(bytes.data(), bytes.size());
  } catch (const std::exception& ex) {
    return make_error("profile", std::string{"profile msgpack: not a valid msgpack document: "} + ex.what());
  }
  auto doc = from_msgpack_object(oh.get(), 0);
  if (!doc)
    return doc.err();
  return from_document(*doc, "profile msgpack");
}

status profile_db::save(const std::string& path) const {
  std::string data;
  if (ends_with(path, ".json"))
    data = to_json();
  else if (ends_with(path, ".msgpack"))
    data = to_msgpack();
  else
    return make_error("profile", "cannot save profile db to '" + path + "': expected a .json or .msgpack extension");
  std::ofstream f{path, std::ios::binary};
  if (!f)
    return make_error("profile", "cannot open '" + path + "' for writing");
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!f)
    return make_error("profile", "write to '" + path + "' failed");
  return {};
}

result<profile_db> profile_db::load(const std::string& path) {
  bool json = ends_with(path, ".json");
  if (!json && !ends_with(path, ".msgpack"))
    return make_error("profile", "cannot load profile db '" + path + "': expected a .json or .msgpack extension");
  std::ifstream f{path, std::ios::binary};
  if (!f)
    return make_error("profile", "cannot open profile db '" + path + "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  auto r = json ? from_json(ss.str()) : from_msgpack(ss.str());
  if (!r)
    return make_error("profile", path + ": " + r.err().message);
  return r;
}

std::string device_kind_of(const std::string& device) {
  if (device.empty() || device == "cpu" || device == "cuda" || device == "sim")
    return device;
  return "cuda";
}

result<std::shared_ptr<const gpu::sim_cost_table>> load_sim_costs(const config::cluster_config& cfg, int node) {
  const auto& nc = cfg.nodes.at(static_cast<std::size_t>(node));
  const std::string& path = nc.devices.front().profile;
  const std::string where = cfg.source + ": nodes[" + std::to_string(node) + "] (" + nc.name + ").devices.profile";
  auto db = profile_db::load(path);
  if (!db)
    return make_error("config", where + ": " + db.err().message);
  auto out = std::make_shared<gpu::sim_cost_table>();
  for (const auto& m : cfg.models) {
    int found = 0;
    for (const auto& owner : {m.name, m.preset}) {
      if (owner.empty() || found > 0)
        continue;
      for (const auto& [key, e] : db->entries()) {
        if (key.first != owner)
          continue;
        gpu::sim_stage_costs c;
        const double penalty = 1 + 0.009 * static_cast<double>(e.config.pp); // the simulator's (profile_table)
        for (const auto& row : e.stage_latency) {
          std::vector<double> r;
          for (double x : row)
            r.push_back(static_cast<double>(static_cast<float>(x * penalty)));
          c.latency.push_back(std::move(r));
        }
        c.load_seconds = e.load_seconds;
        out->entries[{m.name, e.config.op, e.config.pp}] = std::move(c);
        ++found;
      }
    }
    if (found == 0)
      return make_error("config", where + ": " + path + " has no entry for model '" + m.name + "'"
                                    + (m.preset.empty() ? std::string{} : " (nor its preset '" + m.preset + "')"));
  }
  return std::shared_ptr<const gpu::sim_cost_table>{std::move(out)};
}

} // namespace sy::policies
