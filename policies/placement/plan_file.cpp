#include "policies/placement/plan_file.hpp"

#include <cctype>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <yaml-cpp/yaml.h>

namespace sy::policies {

namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

/// A name as a YAML scalar that reads back as the same string: plain when it is made of name characters (and
/// would not read as a number, bool or null), else double-quoted with escapes (found by the plan_file fuzz
/// target: a model name with a NUL byte printed raw read back shorter).
std::string yaml_str(const std::string& s) {
  bool plain = !s.empty() && s.front() != '-' && s.front() != '.';
  for (unsigned char c : s)
    plain = plain && (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '/' || c == '@' || c == '+');
  if (plain) { // a name the YAML reader would type (1, 1e3, true, null, ~) stays a string only when quoted
    try {
      (void)std::stod(s);
      plain = false;
    } catch (const std::exception&) {
    }
    static const char* const typed[] = {"true", "false", "True", "False", "TRUE", "FALSE", "yes", "no", "Yes", "No",
                                        "YES", "NO", "on", "off", "On", "Off", "ON", "OFF", "null", "Null", "NULL"};
    for (const char* t : typed)
      plain = plain && s != t;
  }
  if (plain)
    return s;
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string at(const std::string& src, const YAML::Node& n) {
  const auto m = n.Mark();
  if (m.line < 0)
    return src;
  return src + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

error bad(const std::string& src, const YAML::Node& n, const std::string& key, const std::string& expected) {
  std::string found = "nothing";
  if (n.IsDefined()) {
    if (n.IsScalar())
      found = "'" + n.Scalar() + "'";
    else if (n.IsSequence())
      found = "a list";
    else if (n.IsMap())
      found = "a map";
    else if (n.IsNull())
      found = "null";
  }
  return make_error("plan", at(src, n) + ": " + key + ": expected " + expected + ", found " + found);
}

template <class T>
result<T> scalar(const std::string& src, const YAML::Node& n, const std::string& key, const std::string& expected) {
  if (!n.IsDefined() || !n.IsScalar())
    return bad(src, n, key, expected);
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    return bad(src, n, key, expected);
  }
}

} // namespace

std::string to_yaml(const plan_file& p) {
  std::ostringstream o;
  const auto& names = p.schedule.placements.empty() ? std::vector<std::string>{} : p.schedule.placements[0].model_names;
  o << "# switchyard placement plan\n";
  o << "policy: " << yaml_str(p.policy.empty() ? "unknown" : p.policy) << "\n";
  o << "devices: " << p.devices << "\n";
  o << "mem_budget_bytes: " << num(p.mem_budget_bytes) << "\n";
  if (p.expected_attainment >= 0)
    o << "expected_attainment: " << num(p.expected_attainment) << "\n";
  if (p.slo_scale > 0)
    o << "slo_scale: " << num(p.slo_scale) << "\n";
  o << "models: [";
  for (std::size_t i = 0; i < names.size(); ++i)
    o << (i ? ", " : "") << yaml_str(names[i]);
  o << "]\nwindows:\n";
  for (std::size_t w = 0; w < p.schedule.placements.size(); ++w) {
    o << "  - start: " << num(w < p.schedule.start_times.size() ? p.schedule.start_times[w] : 0.0) << "\n";
    o << "    groups:\n";
    const auto& pl = p.schedule.placements[w];
    if (pl.groups.empty())
      o << "      []\n";
    for (const auto& g : pl.groups) {
      o << "      - {op: " << g.config.op << ", pp: " << g.config.pp << ", devices: [";
      for (std::size_t i = 0; i < g.devices.size(); ++i)
        o << (i ? ", " : "") << g.devices[i];
      o << "], models: [";
      for (std::size_t i = 0; i < g.models.size(); ++i)
        o << (i ? ", " : "") << yaml_str(pl.model_names[static_cast<std::size_t>(g.models[i])]);
      o << "]}\n";
    }
  }
  return o.str();
}

namespace {
result<plan_file> parse_plan_unguarded(const std::string& text, const std::string& src);
} // namespace

result<plan_file> parse_plan(const std::string& text, const std::string& src) {
  try { // yaml-cpp throws on shapes the reader did not expect (found by the plan_file fuzz target)
    return parse_plan_unguarded(text, src);
  } catch (const YAML::Exception& e) {
    return make_error("plan", src + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                                  ": unexpected plan structure: " + e.msg);
  }
}

namespace {
result<plan_file> parse_plan_unguarded(const std::string& text, const std::string& src) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return make_error("plan", src + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                                  ": YAML syntax error: " + e.msg);
  }
  if (!root.IsMap())
    return bad(src, root, "plan", "a map with models and windows (or groups)");
  plan_file p;
  if (root["policy"]) {
    auto v = scalar<std::string>(src, root["policy"], "policy", "a name");
    if (!v)
      return v.err();
    p.policy = *v;
  }
  if (root["devices"]) {
    auto v = scalar<int>(src, root["devices"], "devices", "an integer");
    if (!v)
      return v.err();
    p.devices = *v;
  }
  if (root["mem_budget_bytes"]) {
    auto v = scalar<double>(src, root["mem_budget_bytes"], "mem_budget_bytes", "a number");
    if (!v)
      return v.err();
    p.mem_budget_bytes = *v;
  }
  if (root["expected_attainment"]) {
    auto v = scalar<double>(src, root["expected_attainment"], "expected_attainment", "a number");
    if (!v)
      return v.err();
    p.expected_attainment = *v;
  }
  if (root["slo_scale"]) {
    auto v = scalar<double>(src, root["slo_scale"], "slo_scale", "a positive number");
    if (!v)
      return v.err();
    if (!(*v > 0))
      return bad(src, root["slo_scale"], "slo_scale", "a positive number");
    p.slo_scale = *v;
  }
  const auto models = root["models"];
  if (!models.IsSequence())
    return bad(src, models, "models", "a list of model names");
  std::vector<std::string> names;
  std::unordered_map<std::string, int> index;
  for (const auto& m : models) {
    auto v = scalar<std::string>(src, m, "models[]", "a model name");
    if (!v)
      return v.err();
    if (!index.emplace(*v, static_cast<int>(names.size())).second)
      return make_error("plan", at(src, m) + ": models: '" + *v + "' is listed twice");
    names.push_back(*v);
  }
  auto parse_groups = [&](const YAML::Node& groups, placement& pl) -> status {
    if (!groups.IsSequence())
      return bad(src, groups, "groups", "a list of groups");
    for (const auto& g : groups) {
      if (!g.IsMap())
        return bad(src, g, "groups[]", "a map with op, pp, devices, models");
      group_placement gp;
      auto op = scalar<int>(src, g["op"], "op", "an integer >= 1");
      if (!op)
        return op.err();
      auto pp = scalar<int>(src, g["pp"], "pp", "an integer >= 1");
      if (!pp)
        return pp.err();
      if (*op < 1)
        return bad(src, g["op"], "op", "an integer >= 1");
      if (*pp < 1)
        return bad(src, g["pp"], "pp", "an integer >= 1");
      gp.config = parallel_config{*op, *pp};
      if (g["devices"]) {
        if (!g["devices"].IsSequence())
          return bad(src, g["devices"], "devices", "a list of device indices");
        for (const auto& d : g["devices"]) {
          auto v = scalar<int>(src, d, "devices[]", "a device index");
          if (!v)
            return v.err();
          gp.devices.push_back(*v);
        }
        if (!gp.devices.empty() && static_cast<int>(gp.devices.size()) != gp.config.gpus())
          return make_error("plan", at(src, g["devices"]) + ": devices: expected " + std::to_string(gp.config.gpus()) +
                                        " (op*pp) devices, found " + std::to_string(gp.devices.size()));
      }
      if (!g["models"].IsSequence())
        return bad(src, g["models"], "models", "a list of model names");
      for (const auto& m : g["models"]) {
        auto v = scalar<std::string>(src, m, "models[]", "a model name");
        if (!v)
          return v.err();
        auto it = index.find(*v);
        if (it == index.end())
          return make_error("plan", at(src, m) + ": models: '" + *v + "' is not in the plan's models list");
        gp.models.push_back(it->second);
      }
      pl.groups.push_back(std::move(gp));
    }
    return {};
  };
  if (root["windows"]) {
    const auto ws = root["windows"];
    if (!ws.IsSequence() || ws.size() == 0)
      return bad(src, ws, "windows", "a non-empty list of {start, groups}");
    for (const auto& w : ws) {
      auto start = scalar<double>(src, w["start"], "start", "seconds");
      if (!start)
        return start.err();
      placement pl;
      pl.model_names = names;
      if (auto st = parse_groups(w["groups"], pl); !st)
        return st.err();
      p.schedule.start_times.push_back(*start);
      p.schedule.placements.push_back(std::move(pl));
    }
  } else {
    placement pl;
    pl.model_names = names;
    if (auto st = parse_groups(root["groups"], pl); !st)
      return st.err();
    p.schedule.start_times.push_back(0);
    p.schedule.placements.push_back(std::move(pl));
  }
  return p;
}
} // namespace

result<plan_file> load_plan(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return make_error("plan", "cannot open plan file '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_plan(ss.str(), path);
}

status save_plan(const std::string& path, const plan_file& p) {
  std::ofstream f(path, std::ios::binary);
  if (!f)
    return make_error("plan", "cannot open '" + path + "' for writing");
  f << to_yaml(p);
  if (!f)
    return make_error("plan", "write to '" + path + "' failed");
  return {};
}

} // namespace sy::policies
