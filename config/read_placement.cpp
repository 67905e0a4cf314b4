// The `placement:` section: explicit groups (checked against nodes and models), a policy, or a plan file.
#include <algorithm>
#include <set>

#include "config/internal/read_sections.hpp"

namespace sy::config::internal {

namespace {

std::string device_name(const cluster_config& c, device_ref d) {
  const auto& node = c.nodes[static_cast<std::size_t>(d.node)];
  return node.name + ":" + std::to_string(node.devices[static_cast<std::size_t>(d.device)].ordinal);
}

std::vector<std::string> node_names(const cluster_config& c) {
  std::vector<std::string> r;
  for (const auto& n : c.nodes)
    r.push_back(n.name);
  return r;
}

std::string unique_group_note(yaml_reader& r, const std::string& first_path) {
  int line = r.line_of(first_path);
  return line > 0 ? " again (first at line " + std::to_string(line) + ")" : " again";
}

int node_index(const cluster_config& c, const std::string& name) {
  for (std::size_t i = 0; i < c.nodes.size(); ++i)
    if (c.nodes[i].name == name)
      return static_cast<int>(i);
  return -1;
}

std::string ordinals(const node_config& n) {
  std::vector<std::string> r;
  for (const auto& d : n.devices)
    r.push_back(std::to_string(d.ordinal));
  return join(r);
}

/// One entry of a group's `devices`: an index on the group's node, or "node:index".
device_ref read_device_ref(yaml_reader& r, const YAML::Node& n, const std::string& path, const cluster_config& c,
                           int group_node) {
  if (!n.IsScalar())
    r.fail(n, path, "a device index or \"node:index\"", yaml_reader::describe(n));
  std::string s = n.Scalar();
  int node = group_node;
  std::string index = s;
  if (auto colon = s.rfind(':'); colon != std::string::npos) {
    std::string name = s.substr(0, colon);
    node = node_index(c, name);
    if (node < 0) {
      std::string hint = nearest(name, node_names(c));
      r.fail(n, path, "a device of a known node (nodes: " + join(node_names(c)) + ")",
             quote(s) + " (unknown node " + quote(name) + (hint.empty() ? "" : ", did you mean " + quote(hint) + "?") +
               ")");
    }
    index = s.substr(colon + 1);
  } else if (node < 0) {
    r.fail(n, path, "\"node:index\" or a group `node` (the cluster has several nodes: " + join(node_names(c)) + ")",
           quote(s));
  }
  const node_config& nc = c.nodes[static_cast<std::size_t>(node)];
  std::string what = "a device index of node " + nc.name + " (one of: " + ordinals(nc) + ")";
  bool digits = !index.empty() && std::all_of(index.begin(), index.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (!digits || index.size() > 6)
    r.fail(n, path, what, quote(s));
  int ordinal = std::stoi(index);
  for (std::size_t j = 0; j < nc.devices.size(); ++j)
    if (nc.devices[j].ordinal == ordinal)
      return device_ref{node, static_cast<int>(j)};
  r.fail(n, path, what, quote(s) + " (out of range)");
}

group_config read_group(yaml_reader& r, const YAML::Node& n, const std::string& path, const cluster_config& c,
                        std::size_t index) {
  r.expect_map(n, path, {"name", "node", "devices", "tensor", "pipeline", "models"}, "a group");
  group_config g;
  YAML::Node name = r.child(n, path, "name");
  g.name = yaml_reader::present(name) ? r.as_string(name, at(path, "name"), "a group name") : "g" + std::to_string(index);

  int group_node = c.nodes.size() == 1 ? 0 : -1;
  YAML::Node node = r.child(n, path, "node");
  if (yaml_reader::present(node)) {
    std::string nn = r.as_string(node, at(path, "node"), "a node name");
    group_node = node_index(c, nn);
    if (group_node < 0) {
      std::string hint = nearest(nn, node_names(c));
      r.fail(node, at(path, "node"), "a known node (one of: " + join(node_names(c)) + ")",
             quote(nn) + (hint.empty() ? "" : " (did you mean " + quote(hint) + "?)"));
    }
  }

  std::string dp = at(path, "devices");
  YAML::Node devs = r.require(n, path, "devices", "the group's devices (indices on `node`, or \"node:index\")");
  r.expect_list(devs, dp, "a list of device indices or \"node:index\"");
  if (devs.size() == 0)
    r.fail(devs, dp, "at least one device", "an empty list");
  if (group_node >= 0) { // a group on one node cannot be larger than the node
    const auto& nc = c.nodes[static_cast<std::size_t>(group_node)];
    bool all_local = true;
    for (std::size_t i = 0; i < devs.size(); ++i)
      all_local = all_local && devs[i].IsScalar() && devs[i].Scalar().find(':') == std::string::npos;
    if (all_local && devs.size() > nc.devices.size())
      r.fail(devs, dp, "at most " + std::to_string(nc.devices.size()) + " devices (node " + nc.name + " has " +
                         std::to_string(nc.devices.size()) + ")",
             std::to_string(devs.size()) + " devices");
  }
  for (std::size_t i = 0; i < devs.size(); ++i) {
    device_ref d = read_device_ref(r, devs[i], at(dp, i), c, group_node);
    for (std::size_t j = 0; j < g.devices.size(); ++j)
      if (g.devices[j] == d)
        r.fail(devs[i], at(dp, i), "each device once in a group", quote(device_name(c, d)) + " twice");
    if (!g.devices.empty() && c.device(d).kind != c.device(g.devices.front()).kind)
      r.fail(devs[i], at(dp, i),
             "devices of one kind in a group (" + std::string{to_string(c.device(g.devices.front()).kind)} + ")",
             quote(device_name(c, d)) + " of kind " + std::string{to_string(c.device(d).kind)});
    g.devices.push_back(d);
  }

  auto degree = [&](const char* key) {
    YAML::Node v = r.child(n, path, key);
    return yaml_reader::present(v) ? static_cast<int>(r.as_int(v, at(path, key), 1, 4096, "a positive integer")) : 1;
  };
  g.op = degree("tensor");
  g.pp = degree("pipeline");
  if (static_cast<std::size_t>(g.op * g.pp) != g.devices.size())
    r.fail(n, path,
           "tensor * pipeline (" + std::to_string(g.op) + " * " + std::to_string(g.pp) + " = " +
             std::to_string(g.op * g.pp) + ") equal to the number of devices",
           std::to_string(g.devices.size()) + " devices");

  std::string mp = at(path, "models");
  YAML::Node models = r.require(n, path, "models", "the names of the models the group serves");
  r.expect_list(models, mp, "a list of model names");
  std::vector<std::string> names;
  for (const auto& m : c.models)
    names.push_back(m.name);
  std::int64_t budget = 0;
  for (auto d : g.devices)
    budget = budget == 0 ? c.device(d).memory_bytes : std::min(budget, c.device(d).memory_bytes);
  for (std::size_t i = 0; i < models.size(); ++i) {
    std::string p = at(mp, i);
    std::string mn = r.as_string(models[i], p, "a model name");
    int mi = c.model_index(mn);
    if (mi < 0) {
      std::string hint = nearest(mn, names);
      r.fail(models[i], p, "a model of `models` (one of: " + join(names) + ")",
             quote(mn) + (hint.empty() ? "" : " (did you mean " + quote(hint) + "?)"));
    }
    if (std::find(g.models.begin(), g.models.end(), mi) != g.models.end())
      r.fail(models[i], p, "each model once in a group", quote(mn) + " twice");
    const auto& s = c.models[static_cast<std::size_t>(mi)].spec;
    if (s.heads % g.op != 0 || s.kv_heads_or_heads() % g.op != 0 || s.ffn % g.op != 0)
      r.fail(models[i], p,
             "a model whose heads (" + std::to_string(s.heads) + "), kv heads (" +
               std::to_string(s.kv_heads_or_heads()) + ") and ffn (" + std::to_string(s.ffn) +
               ") the group's tensor degree " + std::to_string(g.op) + " divides",
             quote(mn));
    if (g.pp > s.layers)
      r.fail(models[i], p,
             "a model with at least as many layers as the group's pipeline degree " + std::to_string(g.pp),
             quote(mn) + " with " + std::to_string(s.layers) + " layers");
    // Lower bound of the largest per-device shard: an even split of all weights.
    std::int64_t shard = (s.weight_bytes() + g.op * g.pp - 1) / (g.op * g.pp);
    if (shard > budget)
      r.fail(models[i], p,
             "a model whose shard fits the group's smallest device budget (" + std::to_string(budget) + " bytes)",
             quote(mn) + " needing at least " + std::to_string(shard) + " bytes per device");
    g.models.push_back(mi);
  }
  return g;
}

/// `workload: {trace: FILE} | {records: FILE} | {rate, cv, duration, popularity, seed}` (+ tokens).
workload_config read_workload(yaml_reader& r, const YAML::Node& n, const std::string& path) {
  workload_config w;
  if (!yaml_reader::present(n))
    return w;
  r.expect_map(n, path, {"trace", "records", "rate", "cv", "duration", "popularity", "seed", "tokens"},
               "a workload ({trace: FILE}, {records: FILE} or synthetic {rate, cv, duration, popularity, seed})");
  w.where = r.where(n, path) + ": " + path;
  bool trace = yaml_reader::present(r.child(n, path, "trace"));
  bool records = yaml_reader::present(r.child(n, path, "records"));
  bool synth = false;
  for (const char* k : {"rate", "cv", "duration", "popularity", "seed"})
    synth = synth || yaml_reader::present(r.child(n, path, k));
  if (int(trace) + int(records) + int(synth) > 1)
    r.fail(n, path, "one workload source: trace, records, or the synthetic keys (rate, cv, duration, popularity, seed)",
           "several");
  if (trace) {
    w.kind = workload_config::source::trace;
    w.path = r.as_path(r.child(n, path, "trace"), at(path, "trace"));
  } else if (records) {
    w.kind = workload_config::source::records;
    w.path = r.as_path(r.child(n, path, "records"), at(path, "records"));
  }
  auto number = [&](const char* key, double& into, double min_exclusive, const std::string& what) {
    if (auto v = r.child(n, path, key); yaml_reader::present(v))
      into = r.as_number(v, at(path, key), min_exclusive, what);
  };
  if (auto v = r.child(n, path, "rate"); yaml_reader::present(v)) {
    w.rate = r.as_number(v, at(path, "rate"), 0, "a positive number of requests/s");
    if (w.rate > 1e7)
      r.fail(v, at(path, "rate"), "at most 1e7 requests/s", yaml_reader::describe(v));
  }
  number("cv", w.cv, 0, "a positive coefficient of variation");
  if (auto v = r.child(n, path, "duration"); yaml_reader::present(v))
    w.duration_s = static_cast<double>(r.as_number(v, at(path, "duration"), 0, "a positive number of seconds"));
  if (w.duration_s > 7 * 86400.0)
    r.fail(r.child(n, path, "duration"), at(path, "duration"), "at most 604800 seconds",
           yaml_reader::describe(r.child(n, path, "duration")));
  if (auto v = r.child(n, path, "popularity"); yaml_reader::present(v)) {
    w.popularity = r.as_number(v, at(path, "popularity"), -1, "a non-negative power-law exponent");
    if (w.popularity < 0 || w.popularity > 100)
      r.fail(v, at(path, "popularity"), "a power-law exponent in [0, 100]", yaml_reader::describe(v));
  }
  if (auto v = r.child(n, path, "seed"); yaml_reader::present(v))
    w.seed = static_cast<std::uint64_t>(r.as_int(v, at(path, "seed"), 0, std::int64_t{1} << 53, "a seed 0..2^53"));
  if (auto v = r.child(n, path, "tokens"); yaml_reader::present(v))
    w.tokens = static_cast<int>(r.as_int(v, at(path, "tokens"), 1, 1 << 20, "a positive number of tokens"));
  return w;
}

/// `placement: {policy: NAME, workload: {...}, profile: FILE, profile_cache: DIR, slo_scale: X, write: FILE,
/// threads: N, overcommit: X}`.
void read_policy_placement(yaml_reader& r, const YAML::Node& n, const std::string& path, placement_config& out) {
  r.expect_map(n, path,
               {"policy", "workload", "profile", "profile_cache", "slo_scale", "write", "threads", "overcommit", "replan"},
               "a policy placement");
  out.mode = placement_mode::policy;
  // The name (and its did-you-mean) through the common policy reader; threads and overcommit are its parameters.
  YAML::Node pol = r.child(n, path, "policy");
  out.policy = read_policy(r, pol, at(path, "policy"), "placement");
  if (auto v = r.child(n, path, "threads"); yaml_reader::present(v))
    out.policy.params["threads"] = r.as_int(v, at(path, "threads"), 1, 256, "a number of threads 1..256");
  if (auto v = r.child(n, path, "overcommit"); yaml_reader::present(v)) {
    double x = r.as_number(v, at(path, "overcommit"), 0, "a positive overcommit factor");
    if (x < 1 || x > 1000)
      r.fail(v, at(path, "overcommit"), "an overcommit factor in [1, 1000]", yaml_reader::describe(v));
    out.policy.params["overcommit"] = x;
  }
  out.workload = read_workload(r, r.child(n, path, "workload"), at(path, "workload"));
  if (auto v = r.child(n, path, "profile"); yaml_reader::present(v)) {
    out.profile.path = r.as_path(v, at(path, "profile"));
    out.profile.where = r.where(v, at(path, "profile")) + ": " + at(path, "profile");
  }
  if (auto v = r.child(n, path, "profile_cache"); yaml_reader::present(v))
    out.profile.cache_dir = r.as_path(v, at(path, "profile_cache"));
  if (auto v = r.child(n, path, "slo_scale"); yaml_reader::present(v)) {
    out.slo_scale = r.as_number(v, at(path, "slo_scale"), 0, "a positive SLO scale");
    if (out.slo_scale > 1e6)
      r.fail(v, at(path, "slo_scale"), "an SLO scale at most 1e6", yaml_reader::describe(v));
  }
  if (auto v = r.child(n, path, "write"); yaml_reader::present(v))
    out.write_path = r.as_path(v, at(path, "write"));
  // re-placement while serving (issue 11 §2); a plug-in's name is checked once plug-ins are loaded. It plans
  // with placement.profile, else with the profile measured (or read from the cache) for the placement at start.
  if (auto v = r.child(n, path, "replan"); yaml_reader::present(v))
    out.replan = read_policy(r, v, at(path, "replan"), "replacement", "policy", true);
}

} // namespace

placement_config read_placement(yaml_reader& r, const YAML::Node& n, const std::string& path,
                                const cluster_config& c) {
  placement_config out;
  out.policy.name = default_placement_policy;
  if (!yaml_reader::present(n))
    return out;
  const std::string what = "a placement ({groups: [...]}, {policy: name, parameters...} or {plan: file})";
  r.expect_any_map(n, path, what);
  bool groups = r.child(n, path, "groups").IsDefined();
  bool policy = r.child(n, path, "policy").IsDefined();
  bool plan = r.child(n, path, "plan").IsDefined();
  if (int(groups) + int(policy) + int(plan) != 1)
    r.fail(n, path, "exactly one of the keys groups, policy, plan",
           groups + policy + plan == 0 ? std::string{"none"} : std::string{"several"});
  if (plan) {
    r.expect_map(n, path, {"plan"}, "a plan placement");
    out.mode = placement_mode::plan_file;
    out.plan_path = r.as_path(r.child(n, path, "plan"), at(path, "plan"));
    return out;
  }
  if (policy) {
    read_policy_placement(r, n, path, out);
    return out;
  }
  r.expect_map(n, path, {"groups"}, "a groups placement");
  out.mode = placement_mode::explicit_groups;
  std::string gp = at(path, "groups");
  const YAML::Node gs = r.child(n, path, "groups");
  r.expect_list(gs, gp, "a list of groups");
  if (gs.size() == 0)
    r.fail(gs, gp, "at least one group", "an empty list");
  std::vector<int> owner(static_cast<std::size_t>(c.device_count()), -1);
  for (std::size_t i = 0; i < gs.size(); ++i) {
    std::string p = at(gp, i);
    group_config g = read_group(r, gs[i], p, c, i);
    for (std::size_t j = 0; j < out.groups.size(); ++j)
      if (out.groups[j].name == g.name)
        r.fail(gs[i], at(p, "name"), "a unique group name", quote(g.name) + unique_group_note(r, at(at(gp, j), "name")));
    for (std::size_t k = 0; k < g.devices.size(); ++k) {
      int& o = owner[static_cast<std::size_t>(c.global_index(g.devices[k]))];
      if (o >= 0)
        r.fail(gs[i]["devices"][k], at(at(p, "devices"), k),
               "a device not used by another group",
               quote(device_name(c, g.devices[k])) + " (already in group " + out.groups[static_cast<std::size_t>(o)].name + ")");
      o = static_cast<int>(i);
    }
    out.groups.push_back(std::move(g));
  }
  for (std::size_t m = 0; m < c.models.size(); ++m) {
    bool placed = false;
    for (const auto& g : out.groups)
      placed = placed || std::find(g.models.begin(), g.models.end(), static_cast<int>(m)) != g.models.end();
    if (!placed)
      r.fail_at(at(std::string{"models"}, m), "a model served by at least one group of placement.groups",
                quote(c.models[m].name) + " in none");
  }
  return out;
}

} // namespace sy::config::internal
