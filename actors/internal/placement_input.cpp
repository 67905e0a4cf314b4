#include "actors/internal/placement_input.hpp"

#include <algorithm>
#include <map>

#include "messages/json.hpp"
#include "policies/placement/plan_file.hpp"

namespace sy::actors::internal {

namespace {

std::string mib(std::int64_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

/// GET /v2/placement's JSON: {"groups": [{"name"?, "tensor", "pipeline", "devices": ["node:ordinal"], "models"}]}.
result<std::vector<config::group_config>> from_status_json(const config::cluster_config& cfg, const json::value& doc,
                                                           const std::string& source) {
  auto fail = [&](const std::string& what) { return make_error("placement", source + ": " + what); };
  const auto* groups = doc.get("groups");
  if (!groups || !groups->is_array())
    return fail("groups: expected an array of groups");
  if (groups->as_array().empty())
    return fail("groups: expected at least one group, found none");
  std::vector<config::group_config> out;
  for (std::size_t g = 0; g < groups->as_array().size(); ++g) {
    const auto& gv = groups->as_array()[g];
    const auto where = "groups[" + std::to_string(g) + "]";
    if (!gv.is_object())
      return fail(where + ": expected an object, found " + json::kind_name(gv.type()));
    config::group_config gc;
    gc.name = "g" + std::to_string(g);
    if (const auto* n = gv.get("name"); n && n->is_string())
      gc.name = n->as_string();
    auto degree = [&](const char* key, int& into) -> status {
      const auto* v = gv.get(key);
      if (!v)
        return status{}; // default 1
      auto i = v->as_int64();
      if (!v->is_number() || !i || *i < 1 || *i > 1024)
        return fail(where + "." + key + ": expected a positive integer");
      into = static_cast<int>(*i);
      return {};
    };
    if (auto st = degree("tensor", gc.op); !st)
      return st.err();
    if (auto st = degree("pipeline", gc.pp); !st)
      return st.err();
    const auto* devs = gv.get("devices");
    if (!devs || !devs->is_array())
      return fail(where + ".devices: expected an array of \"node:ordinal\" names");
    for (std::size_t i = 0; i < devs->as_array().size(); ++i) {
      const auto& dv = devs->as_array()[i];
      const auto dwhere = where + ".devices[" + std::to_string(i) + "]";
      if (!dv.is_string())
        return fail(dwhere + ": expected a \"node:ordinal\" string, found " + json::kind_name(dv.type()));
      const auto& text = dv.as_string();
      auto colon = text.rfind(':');
      if (colon == std::string::npos)
        return fail(dwhere + ": expected \"node:ordinal\", found '" + text + "'");
      auto node = text.substr(0, colon);
      int ni = -1;
      for (std::size_t n = 0; n < cfg.nodes.size(); ++n)
        if (cfg.nodes[n].name == node)
          ni = static_cast<int>(n);
      if (ni < 0)
        return fail(dwhere + ": unknown node '" + node + "' (the deployment's nodes: "
                    + [&] { std::string s; for (auto& n : cfg.nodes) s += (s.empty() ? "" : ", ") + n.name; return s; }() + ")");
      int di = -1;
      const auto& nc = cfg.nodes[static_cast<std::size_t>(ni)];
      for (std::size_t d = 0; d < nc.devices.size(); ++d)
        if (std::to_string(nc.devices[d].ordinal) == text.substr(colon + 1))
          di = static_cast<int>(d);
      if (di < 0)
        return fail(dwhere + ": node " + node + " has no device '" + text.substr(colon + 1) + "' (it has "
                    + std::to_string(nc.devices.size()) + " devices)");
      gc.devices.push_back({ni, di});
    }
    if (static_cast<int>(gc.devices.size()) != gc.op * gc.pp)
      return fail(where + ": tensor x pipeline = " + std::to_string(gc.op) + " x " + std::to_string(gc.pp) + " = "
                  + std::to_string(gc.op * gc.pp) + " devices, but it lists " + std::to_string(gc.devices.size()));
    const auto* models = gv.get("models");
    if (!models || !models->is_array() || models->as_array().empty())
      return fail(where + ".models: expected a non-empty array of model names");
    for (std::size_t i = 0; i < models->as_array().size(); ++i) {
      const auto& mv = models->as_array()[i];
      const auto mwhere = where + ".models[" + std::to_string(i) + "]";
      if (!mv.is_string())
        return fail(mwhere + ": expected a model name, found " + json::kind_name(mv.type()));
      int m = cfg.model_index(mv.as_string());
      if (m < 0)
        return fail(mwhere + ": unknown model '" + mv.as_string() + "' (not in the deployment's config)");
      if (std::find(gc.models.begin(), gc.models.end(), m) != gc.models.end())
        return fail(mwhere + ": model '" + mv.as_string() + "' twice in one group");
      gc.models.push_back(m);
    }
    out.push_back(std::move(gc));
  }
  return out;
}

} // namespace

std::string devices_label(const config::cluster_config& cfg, const std::vector<config::device_ref>& devices) {
  std::string out;
  for (auto& d : devices)
    out += (out.empty() ? "" : ", ") + cfg.nodes[static_cast<std::size_t>(d.node)].name + ":"
           + std::to_string(cfg.device(d).ordinal);
  return out;
}

status check_placement(const config::cluster_config& cfg, const std::vector<planned_group>& groups,
                       const std::string& source) {
  auto fail = [&](const std::string& what) { return make_error("placement", source + ": " + what); };
  std::map<config::device_ref, std::string> owner;
  std::map<std::string, int> replicas;
  for (const auto& g : groups) {
    for (const auto& d : g.devices) {
      if (auto it = owner.find(d); it != owner.end())
        return fail("device " + devices_label(cfg, {d}) + " is in two groups (" + it->second + " and " + g.name + ")");
      owner[d] = g.name;
    }
    std::int64_t used = 0;
    for (const auto& [m, bytes] : g.bytes) {
      used += bytes;
      ++replicas[m];
    }
    if (used > g.budget) {
      std::string list;
      for (const auto& [m, bytes] : g.bytes)
        list += (list.empty() ? "" : ", ") + m + " " + mib(bytes);
      return fail("group " + g.name + " on " + devices_label(cfg, g.devices) + " does not fit device memory: its "
                  "models need " + mib(used) + " per device (" + list + "), the weight budget is " + mib(g.budget)
                  + " per device");
    }
  }
  for (const auto& mc : cfg.models)
    if (!replicas.count(mc.name))
      return fail("model " + mc.name + " has no replica in the plan (every model of the deployment needs one)");
  return {};
}

result<std::vector<planned_group>> parse_placement(const config::cluster_config& cfg, const std::string& text,
                                                   const std::string& source) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    return make_error("placement", source + ": empty body: expected a plan (a plan file's text or GET /v2/placement's JSON)");
  std::vector<config::group_config> gs;
  auto doc = json::parse(text, 16);
  bool status_form = false;
  if (doc && doc->is_object()) { // GET's form has groups with "tensor"/"pipeline" or "node:ordinal" devices
    if (const auto* groups = doc->get("groups"); groups && groups->is_array() && !doc->get("windows")) {
      for (const auto& g : groups->as_array())
        if (g.is_object() && (g.get("tensor") || g.get("pipeline") || g.get("name")))
          status_form = true;
      if (!status_form && !groups->as_array().empty()) {
        const auto& g0 = groups->as_array().front();
        const auto* d = g0.is_object() ? g0.get("devices") : nullptr;
        status_form = d && d->is_array() && !d->as_array().empty() && d->as_array().front().is_string();
      }
    }
  }
  if (status_form) {
    auto r = from_status_json(cfg, *doc, source);
    if (!r)
      return r.err();
    gs = std::move(*r);
  } else {
    auto plan = policies::parse_plan(text, source);
    if (!plan)
      return make_error("placement", plan.err().message);
    auto r = groups_from_plan(cfg, *plan, source);
    if (!r)
      return make_error("placement", r.err().message);
    gs = std::move(*r);
  }
  for (std::size_t i = 0; i < gs.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (gs[i].name == gs[j].name)
        return make_error("placement", source + ": two groups named '" + gs[i].name + "'");
  auto planned = plan_group_configs(cfg, gs);
  if (!planned)
    return make_error("placement", source + ": " + planned.err().message);
  if (auto st = check_placement(cfg, *planned, source); !st)
    return st.err();
  return planned;
}

} // namespace sy::actors::internal
