// parse_config / load_config: YAML text -> cluster_config, section by section (nodes, models, placement,
// policies, endpoints). Placement lives in read_placement.cpp, model entries in internal/read_model.cpp.
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "config/cluster_config.hpp"

#include <arpa/inet.h>
#include <cmath>
#include "config/internal/read_model.hpp"
#include "config/internal/read_sections.hpp"

namespace sy::config {

using namespace internal;

const std::vector<std::string>& known_policy_names(std::string_view kind) {
  static const std::map<std::string, std::vector<std::string>, std::less<>> names = {
    // policies/placement/registry.cpp (sim helper); "<...>" marks a parameter inside the name
    {"placement", {"mp-search", "mp-search-sep", "sr-greedy", "mp-round-robin", "swap-aware",
                   "sr-replace-<seconds>", "mp-greedy-<k>"}},
    {"admission", {"slo", "none"}},
    {"dispatch", {"earliest-free", "shortest-queue"}},
    {"batching", {"none", "greedy"}},
    {"eviction", {"lru", "demand-aware", "swap-cost-aware"}},
    {"replacement", {"windowed", "drift", "none"}}, // placement.replan (issue 11 §2)
  };
  static const std::vector<std::string> none;
  auto it = names.find(kind);
  return it == names.end() ? none : it->second;
}

std::string canonical_policy_name(std::string_view kind, std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> placement_aliases = {
    {"round-robin", "mp-round-robin"}, {"selective-replication", "sr-greedy"}, {"model-parallel", "mp-search"},
    {"alpaserve", "mp-search"}};
  if (kind == "placement")
    if (auto it = placement_aliases.find(name); it != placement_aliases.end())
      return it->second;
  for (const auto& known : known_policy_names(kind)) {
    if (known == name)
      return known;
    auto open = known.find('<');
    if (open != std::string::npos && name.size() > open && name.compare(0, open, known, 0, open) == 0)
      return std::string{name};
  }
  return {};
}

namespace internal {

namespace {

std::string unique_note(yaml_reader& r, const std::string& first_path) {
  int line = r.line_of(first_path);
  return line > 0 ? " again (first at line " + std::to_string(line) + ")" : " again";
}

std::vector<device_config> read_devices(yaml_reader& r, const YAML::Node& n, const std::string& path) {
  std::vector<device_config> out;
  auto kind_of = [&](const YAML::Node& m, const std::string& p) {
    YAML::Node k = r.child(m, p, "kind");
    if (!yaml_reader::present(k))
      return device_kind::cpu;
    std::string s = r.as_string(k, at(p, "kind"), "cpu, cuda or sim");
    if (s == "cpu")
      return device_kind::cpu;
    if (s == "cuda" || s == "gpu")
      return device_kind::cuda;
    if (s == "sim")
      return device_kind::sim;
    r.fail(k, at(p, "kind"), "cpu, cuda or sim", quote(s));
  };
  // `profile`: required for sim devices (the times they take), refused for the others.
  auto profile_of = [&](const YAML::Node& m, const std::string& p, device_config& d) {
    YAML::Node f = r.child(m, p, "profile");
    if (d.kind == device_kind::sim && !yaml_reader::present(f))
      r.fail(m, p, "a `profile` (a profile database) for sim devices: they take the times it gives", "none");
    if (d.kind != device_kind::sim && yaml_reader::present(f))
      r.fail(f, at(p, "profile"), "no profile for " + std::string{to_string(d.kind)} + " devices (only kind sim has one)",
             yaml_reader::describe(f));
    if (yaml_reader::present(f))
      d.profile = r.as_path(f, at(p, "profile"));
  };
  if (n.IsMap()) {
    r.expect_map(n, path, {"kind", "count", "memory", "profile"}, "devices ({kind, count, memory} or a list)");
    device_config d;
    d.kind = kind_of(n, path);
    profile_of(n, path, d);
    d.memory_bytes = r.as_size(r.require(n, path, "memory", "a memory budget per device"), at(path, "memory"));
    auto count = r.as_int(r.require(n, path, "count", "a device count"), at(path, "count"), 1, 4096,
                          "a device count 1..4096");
    for (int i = 0; i < count; ++i) {
      d.ordinal = i;
      out.push_back(d);
    }
    return out;
  }
  r.expect_list(n, path, "devices ({kind, count, memory} or a list of {kind, index, memory})");
  if (n.size() == 0)
    r.fail(n, path, "at least one device", "an empty list");
  for (std::size_t i = 0; i < n.size(); ++i) {
    std::string p = at(path, i);
    r.expect_map(n[i], p, {"kind", "index", "memory", "profile"}, "a device");
    device_config d;
    d.kind = kind_of(n[i], p);
    profile_of(n[i], p, d);
    YAML::Node idx = r.child(n[i], p, "index");
    d.ordinal = yaml_reader::present(idx)
                  ? static_cast<int>(r.as_int(idx, at(p, "index"), 0, 4095, "a device index 0..4095"))
                  : static_cast<int>(i);
    d.memory_bytes = r.as_size(r.require(n[i], p, "memory", "a memory budget"), at(p, "memory"));
    for (std::size_t j = 0; j < out.size(); ++j)
      if (out[j].ordinal == d.ordinal)
        r.fail(yaml_reader::present(idx) ? idx : n[i], at(p, "index"), "a device index unique on the node",
               quote(std::to_string(d.ordinal)) + unique_note(r, at(path, j)));
    out.push_back(d);
  }
  return out;
}

} // namespace

std::vector<node_config> read_nodes(yaml_reader& r, const YAML::Node& n, const std::string& path) {
  r.expect_list(n, path, "a list of nodes");
  if (n.size() == 0)
    r.fail(n, path, "at least one node", "an empty list");
  std::vector<node_config> out;
  for (std::size_t i = 0; i < n.size(); ++i) {
    std::string p = at(path, i);
    r.expect_map(n[i], p, {"name", "address", "devices"}, "a node");
    node_config node;
    YAML::Node name = r.require(n[i], p, "name", "a node name");
    node.name = r.as_string(name, at(p, "name"), "a node name");
    for (std::size_t j = 0; j < out.size(); ++j)
      if (out[j].name == node.name)
        r.fail(name, at(p, "name"), "a unique node name", quote(node.name) + unique_note(r, at(at(path, j), "name")));
    YAML::Node addr = r.child(n[i], p, "address");
    if (yaml_reader::present(addr)) {
      auto [host, port] = r.as_address(addr, at(p, "address"));
      node.host = host;
      node.port = port;
      for (std::size_t j = 0; j < out.size(); ++j)
        if (port != 0 && out[j].host == host && out[j].port == port)
          r.fail(addr, at(p, "address"), "an address unique among nodes",
                 quote(node.address()) + unique_note(r, at(at(path, j), "address")));
    } else {
      node.host = "127.0.0.1";
      node.port = 0;
    }
    node.devices = read_devices(r, r.require(n[i], p, "devices", "the node's devices"), at(p, "devices"));
    out.push_back(std::move(node));
  }
  return out;
}

std::vector<model_config> read_models(yaml_reader& r, const YAML::Node& n, const std::string& path) {
  r.expect_list(n, path, "a list of models");
  if (n.size() == 0)
    r.fail(n, path, "at least one model", "an empty list");
  std::vector<model_config> out;
  for (std::size_t i = 0; i < n.size(); ++i) {
    std::string p = at(path, i);
    model_config m = read_model(r, n[i], p);
    for (std::size_t j = 0; j < out.size(); ++j)
      if (out[j].name == m.name) {
        YAML::Node name = r.child(n[i], p, "name");
        r.fail(name.IsDefined() ? name : n[i], at(p, "name"), "a unique model name",
               quote(m.name) + unique_note(r, at(path, j)));
      }
    out.push_back(std::move(m));
  }
  return out;
}

namespace {
param_value scalar_param(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") // quoted: always a string
    return s;
  if (s == "true" || s == "True" || s == "TRUE")
    return true;
  if (s == "false" || s == "False" || s == "FALSE")
    return false;
  char* end = nullptr;
  if (!s.empty()) {
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (end == s.c_str() + s.size())
      return static_cast<std::int64_t>(i);
    double d = std::strtod(s.c_str(), &end);
    if (end == s.c_str() + s.size())
      return d;
  }
  return s;
}
} // namespace

namespace {
// The numeric parameters of the built-in policies and their ranges: a value outside is refused here, with
// its file:line:column, instead of overflowing a cast later (max_batch: 1e300).
struct param_range {
  const char* kind;
  const char* key;
  double min, max;
  bool integer;
  const char* what;
};
constexpr param_range builtin_param_ranges[] = {
  {"batching", "max_batch", 1, 4096, true, "an integer 1..4096"},
  {"admission", "slack", 0, 1e6, false, "a number 0..1e6"},
  {"eviction", "default_gbps", 1e-6, 1e6, false, "a number (GB/s) in (0, 1e6]"},
  {"replacement", "window_s", 0.1, 86400, false, "a window in seconds in [0.1, 86400]"},
  {"replacement", "interval_s", 0.01, 86400, false, "an interval in seconds in [0.01, 86400]"},
  {"replacement", "min_interval_s", 0, 86400, false, "an interval in seconds in [0, 86400]"},
  {"replacement", "margin", 0, 1, false, "an attainment margin in [0, 1]"},
  {"replacement", "threshold", 0, 1e6, false, "a relative rate change >= 0"},
};

void check_param_range(yaml_reader& r, const YAML::Node& n, const std::string& path, const std::string& kind,
                       const std::string& key, const param_value& v) {
  const double* d = std::get_if<double>(&v);
  const std::int64_t* i = std::get_if<std::int64_t>(&v);
  double x = d ? *d : i ? static_cast<double>(*i) : 0;
  if (i && (*i == std::numeric_limits<std::int64_t>::max() || *i == std::numeric_limits<std::int64_t>::min()))
    r.fail(n, path, "an integer within 64 bits", yaml_reader::describe(n));
  if (d && (!std::isfinite(*d) || std::fabs(*d) > 1e15))
    r.fail(n, path, "a finite number of magnitude at most 1e15", yaml_reader::describe(n));
  for (const auto& pr : builtin_param_ranges) {
    if (kind != pr.kind || key != pr.key)
      continue;
    if (!d && !i)
      r.fail(n, path, pr.what, yaml_reader::describe(n));
    if (x < pr.min || x > pr.max || (pr.integer && d && x != std::floor(x)))
      r.fail(n, path, pr.what, yaml_reader::describe(n));
  }
}
} // namespace

policy_config read_policy(yaml_reader& r, const YAML::Node& n, const std::string& path, const std::string& kind,
                          const std::string& name_key, bool plugin_names) {
  const auto& known = known_policy_names(kind);
  std::string article = kind.find_first_of("aeiou") == 0 ? "an " : "a ";
  std::string what = article + kind + " policy (one of: " + join(known) + ")";
  policy_config out;
  // NB: never assign to a YAML::Node variable: operator= rebinds the node it refers to, inside the tree.
  if (n.IsMap())
    r.expect_any_map(n, path, what + " or {" + name_key + ": ..., parameters}");
  const YAML::Node name_node = n.IsMap() ? r.require(n, path, name_key, what) : n;
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string& key = it->first.Scalar();
      if (key == name_key)
        continue;
      if (!it->second.IsScalar())
        r.fail(it->second, at(path, key), "a scalar parameter value", yaml_reader::describe(it->second));
      out.params[key] = scalar_param(it->second);
      check_param_range(r, it->second, at(path, key), kind, key, out.params[key]);
    }
  }
  std::string name_path = n.IsMap() ? at(path, name_key) : path;
  out.name = r.as_string(name_node, name_path, what);
  out.where = r.where(name_node, name_path);
  std::string canonical = canonical_policy_name(kind, out.name);
  if (canonical.empty() && plugin_names && !out.name.empty())
    return out; // maybe a plug-in's: checked once the plug-ins are loaded
  if (canonical.empty()) {
    std::string hint = nearest(out.name, known);
    r.fail(name_node, name_path, what,
           quote(out.name) + (hint.empty() ? "" : " (did you mean " + quote(hint) + "?)"));
  }
  out.name = canonical;
  return out;
}

std::vector<plugin_config> read_plugins(yaml_reader& r, const YAML::Node& n, const std::string& path) {
  std::vector<plugin_config> out;
  if (!yaml_reader::present(n))
    return out;
  const std::string what = "a list of policy plug-in paths (shared libraries)";
  r.expect_list(n, path, what);
  for (std::size_t i = 0; i < n.size(); ++i) {
    auto p = at(path, i);
    r.remember(p, n[i]);
    plugin_config pc;
    const bool is_map = n[i].IsMap(); // {path: X, isolate: true, deadline_ms: N}
    if (is_map) {
      r.expect_map(n[i], p, {"path", "isolate", "deadline_ms"}, "a plug-in entry {path, isolate, deadline_ms}");
      if (auto iso = r.child(n[i], p, "isolate"); yaml_reader::present(iso))
        pc.isolate = r.as_bool(iso, at(p, "isolate"));
      if (auto d = r.child(n[i], p, "deadline_ms"); yaml_reader::present(d))
        pc.deadline_ms = r.as_int(d, at(p, "deadline_ms"), 1, 60000, "a deadline in milliseconds (1 to 60000)");
    }
    // a copy binds (yaml-cpp's assignment would overwrite the entry itself)
    const YAML::Node path_node = is_map ? r.require(n[i], p, "path", "a plug-in path (a shared library)") : n[i];
    pc.written = r.as_string(path_node, p, "a plug-in path (a shared library)"); // refuses "" too
    pc.path = r.as_path(path_node, p);
    pc.where = r.where(n[i], p) + ": " + p;
    out.push_back(std::move(pc));
  }
  return out;
}

policies_config read_policies(yaml_reader& r, const YAML::Node& n, const std::string& path, bool plugin_names) {
  policies_config out;
  if (!yaml_reader::present(n))
    return out;
  r.expect_map(n, path, {"admission", "dispatch", "batching", "eviction"}, "policies");
  auto one = [&](const char* kind, policy_config& into) {
    YAML::Node c = r.child(n, path, kind);
    if (yaml_reader::present(c))
      into = read_policy(r, c, at(path, kind), kind, "name", plugin_names);
  };
  one("admission", out.admission);
  one("dispatch", out.dispatch);
  one("batching", out.batching);
  one("eviction", out.eviction);
  return out;
}

/// A numeric IPv4 or IPv6 address to listen on (0.0.0.0 / :: for every interface; no host names: a
/// listener's address must not depend on name resolution).
std::string as_bind_address(yaml_reader& r, const YAML::Node& n, const std::string& path) {
  static const std::string what = "a numeric IPv4 or IPv6 address (127.0.0.1, 0.0.0.0, ::1, ::)";
  std::string s = r.as_string(n, path, what);
  unsigned char buf[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, s.c_str(), buf) != 1 && ::inet_pton(AF_INET6, s.c_str(), buf) != 1)
    r.fail(n, path, what, yaml_reader::describe(n));
  return s;
}

void read_endpoints(yaml_reader& r, const YAML::Node& root, cluster_config& c) {
  if (YAML::Node in = r.child(root, "", "ingress"); yaml_reader::present(in)) {
    r.expect_map(in, "ingress", {"bind", "msgpack_port", "http_port", "max_in_flight", "max_input_tokens",
                                 "max_connections", "idle_timeout_ms", "read_timeout_ms", "http_workers",
                                 "control_token"},
                 "ingress settings");
    if (auto b = r.child(in, "ingress", "bind"); yaml_reader::present(b))
      c.ingress.bind = as_bind_address(r, b, "ingress.bind");
    if (auto m = r.child(in, "ingress", "max_connections"); yaml_reader::present(m))
      c.ingress.max_connections = static_cast<int>(
        r.as_int(m, "ingress.max_connections", 1, 1000000, "an integer 1..1000000 (per listener)"));
    if (auto m = r.child(in, "ingress", "idle_timeout_ms"); yaml_reader::present(m))
      c.ingress.idle_timeout = std::chrono::milliseconds{
        r.as_int(m, "ingress.idle_timeout_ms", 0, 24LL * 3600 * 1000, "milliseconds 0..86400000 (0: never)")};
    if (auto m = r.child(in, "ingress", "read_timeout_ms"); yaml_reader::present(m))
      c.ingress.read_timeout = std::chrono::milliseconds{
        r.as_int(m, "ingress.read_timeout_ms", 1, 600000, "milliseconds 1..600000")};
    if (auto m = r.child(in, "ingress", "http_workers"); yaml_reader::present(m))
      c.ingress.http_workers = static_cast<int>(r.as_int(m, "ingress.http_workers", 1, 1024, "an integer 1..1024"));
    if (auto t = r.child(in, "ingress", "control_token"); yaml_reader::present(t))
      c.ingress.control_token = r.as_string(t, "ingress.control_token", "a non-empty token string");
    if (auto p = r.child(in, "ingress", "msgpack_port"); yaml_reader::present(p))
      c.ingress.msgpack_port = r.as_port(p, "ingress.msgpack_port");
    if (auto p = r.child(in, "ingress", "http_port"); yaml_reader::present(p))
      c.ingress.http_port = r.as_port(p, "ingress.http_port");
    if (auto m = r.child(in, "ingress", "max_in_flight"); yaml_reader::present(m))
      c.ingress.max_in_flight = static_cast<int>(
        r.as_int(m, "ingress.max_in_flight", 1, std::numeric_limits<int>::max(), "a positive integer"));
    if (auto m = r.child(in, "ingress", "max_input_tokens"); yaml_reader::present(m))
      c.ingress.max_input_tokens = static_cast<int>(r.as_int(m, "ingress.max_input_tokens", 0,
                                                             std::numeric_limits<int>::max(),
                                                             "a non-negative integer (0: each model's max_seq)"));
  }
  if (YAML::Node me = r.child(root, "", "metrics"); yaml_reader::present(me)) {
    r.expect_map(me, "metrics", {"bind", "port"}, "metrics settings");
    if (auto b = r.child(me, "metrics", "bind"); yaml_reader::present(b))
      c.metrics.bind = as_bind_address(r, b, "metrics.bind");
    if (auto p = r.child(me, "metrics", "port"); yaml_reader::present(p))
      c.metrics.port = r.as_port(p, "metrics.port");
  }
  c.controller.host = c.nodes.front().host;
  if (YAML::Node co = r.child(root, "", "controller"); yaml_reader::present(co)) {
    r.expect_map(co, "controller", {"address"}, "controller settings");
    if (auto a = r.child(co, "controller", "address"); yaml_reader::present(a)) {
      auto [host, port] = r.as_address(a, "controller.address");
      c.controller.host = host;
      c.controller.port = port;
    }
  }
  if (YAML::Node rt = r.child(root, "", "runtime"); yaml_reader::present(rt)) {
    r.expect_map(rt, "runtime", {"request_timeout_ms", "heartbeat_interval_ms", "node_timeout_ms", "load_pipelining",
                                 "gen_max_seqs", "gen_token_budget", "gen_preemption"},
                 "runtime settings");
    auto ms = [&](const char* key, std::chrono::milliseconds& into) {
      if (auto v = r.child(rt, "runtime", key); yaml_reader::present(v))
        into = std::chrono::milliseconds{
          r.as_int(v, at("runtime", key), 1, 365LL * 24 * 3600 * 1000, "a positive integer (milliseconds)")};
    };
    ms("request_timeout_ms", c.runtime.request_timeout);
    ms("heartbeat_interval_ms", c.runtime.heartbeat_interval);
    ms("node_timeout_ms", c.runtime.node_timeout);
    if (auto v = r.child(rt, "runtime", "load_pipelining"); yaml_reader::present(v))
      c.runtime.load_pipelining = r.as_bool(v, at("runtime", "load_pipelining"));
    if (auto v = r.child(rt, "runtime", "gen_max_seqs"); yaml_reader::present(v))
      c.runtime.gen_max_seqs = static_cast<int>(
        r.as_int(v, at("runtime", "gen_max_seqs"), 1, 65536, "a positive integer (sequences) up to 65536"));
    if (auto v = r.child(rt, "runtime", "gen_token_budget"); yaml_reader::present(v))
      c.runtime.gen_token_budget = static_cast<int>(
        r.as_int(v, at("runtime", "gen_token_budget"), 1, 1 << 20, "a positive integer (tokens) up to 1048576"));
    if (auto v = r.child(rt, "runtime", "gen_preemption"); yaml_reader::present(v)) {
      auto how = r.as_string(v, at("runtime", "gen_preemption"), "recompute or swap");
      if (how != "recompute" && how != "swap")
        r.fail_at(at("runtime", "gen_preemption"), "recompute or swap", quote(how));
      c.runtime.gen_swap = how == "swap";
    }
    if (c.runtime.node_timeout <= c.runtime.heartbeat_interval)
      r.fail_at("runtime.node_timeout_ms",
                "a timeout longer than runtime.heartbeat_interval_ms (" +
                  std::to_string(c.runtime.heartbeat_interval.count()) + ")",
                quote(std::to_string(c.runtime.node_timeout.count())));
  }
  // Listeners of this process that would collide.
  struct listener {
    const char* key;
    std::string bind;
    std::uint16_t port;
  };
  std::vector<listener> ls = {{"ingress.msgpack_port", c.ingress.bind, c.ingress.msgpack_port},
                              {"ingress.http_port", c.ingress.bind, c.ingress.http_port},
                              {"metrics.port", c.metrics.bind, c.metrics.port}};
  for (std::size_t i = 0; i < ls.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (ls[i].port != 0 && ls[i].port == ls[j].port && ls[i].bind == ls[j].bind)
        r.fail_at(ls[i].key, std::string{"a port different from "} + ls[j].key + " (" + std::to_string(ls[j].port) + ")",
                  quote(std::to_string(ls[i].port)));
}

} // namespace internal

namespace {

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string folder_of(const std::string& path) {
  auto parent = std::filesystem::path{path}.parent_path();
  return parent.empty() ? std::string{"."} : parent.string();
}

/// YAML::Load with syntax errors and empty documents turned into located config failures.
YAML::Node load_root(const yaml_reader& r, std::string_view text, const std::string& what) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string{text});
  } catch (const YAML::ParserException& e) {
    throw config_failure{r.source() + ":" + std::to_string(e.mark.line + 1) + ":" +
                         std::to_string(e.mark.column + 1) + ": (yaml syntax): expected valid YAML, found " +
                         e.msg};
  }
  if (!root.IsDefined() || root.IsNull())
    throw config_failure{r.source() + ":1:1: (document): expected " + what + ", found an empty file"};
  return root;
}

} // namespace

result<cluster_config> parse_config(std::string_view text, std::string_view source_name, std::string_view base_dir) {
  yaml_reader r{std::string{source_name}, std::string{base_dir}};
  try {
    const std::string what = "a deployment (a mapping with keys nodes, models, placement, policies, plugins, "
                             "ingress, metrics, controller, runtime)";
    YAML::Node root = load_root(r, text, what);
    r.expect_map(root, "",
                 {"nodes", "models", "placement", "policies", "plugins", "ingress", "metrics", "controller", "runtime"},
                 "a deployment");
    cluster_config c;
    c.source = std::string{source_name};
    c.nodes = read_nodes(r, r.require(root, "", "nodes", "a list of nodes"), "nodes");
    c.models = read_models(r, r.require(root, "", "models", "a list of models"), "models");
    c.placement = read_placement(r, r.child(root, "", "placement"), "placement", c);
    c.plugins = read_plugins(r, r.child(root, "", "plugins"), "plugins");
    c.policies = read_policies(r, r.child(root, "", "policies"), "policies", !c.plugins.empty());
    read_endpoints(r, root, c);
    return c;
  } catch (const config_failure& f) {
    return make_error("config", f.message);
  } catch (const YAML::Exception& e) { // defensive: any other yaml-cpp complaint, still located
    return make_error("config", std::string{source_name} + ":" + std::to_string(e.mark.line + 1) + ":" +
                                  std::to_string(e.mark.column + 1) + ": (yaml): expected valid YAML, found " + e.msg);
  }
}

result<cluster_config> load_config(const std::string& path) {
  bool ok = false;
  std::string text = read_file(path, ok);
  if (!ok)
    return make_error("config", path + ": expected a readable config file, found none (cannot open)");
  return parse_config(text, path, folder_of(path));
}

result<model_config> parse_model_spec(std::string_view text, std::string_view source_name,
                                      std::string_view base_dir) {
  yaml_reader r{std::string{source_name}, std::string{base_dir}};
  try {
    YAML::Node root = load_root(r, text, "a model spec (name or preset, architecture, weights, dtype)");
    return read_model(r, root, "");
  } catch (const config_failure& f) {
    return make_error("config", f.message);
  } catch (const YAML::Exception& e) {
    return make_error("config", std::string{source_name} + ":" + std::to_string(e.mark.line + 1) + ":" +
                                  std::to_string(e.mark.column + 1) + ": (yaml): expected valid YAML, found " + e.msg);
  }
}

result<model_config> load_model_spec(const std::string& path) {
  bool ok = false;
  std::string text = read_file(path, ok);
  if (!ok)
    return make_error("config", path + ": expected a readable model spec file, found none (cannot open)");
  return parse_model_spec(text, path, folder_of(path));
}

} // namespace sy::config
