// The small accessors of cluster_config.hpp; parsing lives in parse.cpp, validation in validate.cpp.
#include "config/cluster_config.hpp"

#include <cstdio>
#include <cstdlib>

namespace sy::config {

std::string_view to_string(device_kind k) noexcept {
  switch (k) {
    case device_kind::cpu: return "cpu";
    case device_kind::cuda: return "cuda";
    case device_kind::sim: return "sim";
  }
  return "?";
}

std::string_view to_string(placement_mode m) noexcept {
  switch (m) {
    case placement_mode::explicit_groups: return "groups";
    case placement_mode::policy: return "policy";
    case placement_mode::plan_file: return "plan";
  }
  return "?";
}

const model_config* cluster_config::find_model(std::string_view name) const {
  int i = model_index(name);
  return i < 0 ? nullptr : &models[static_cast<std::size_t>(i)];
}

int cluster_config::model_index(std::string_view name) const {
  for (std::size_t i = 0; i < models.size(); ++i)
    if (models[i].name == name)
      return static_cast<int>(i);
  return -1;
}

const node_config* cluster_config::find_node(std::string_view name) const {
  for (const auto& n : nodes)
    if (n.name == name)
      return &n;
  return nullptr;
}

int cluster_config::device_count() const {
  int n = 0;
  for (const auto& node : nodes)
    n += static_cast<int>(node.devices.size());
  return n;
}

int cluster_config::global_index(device_ref d) const {
  int g = 0;
  for (int i = 0; i < d.node; ++i)
    g += static_cast<int>(nodes[static_cast<std::size_t>(i)].devices.size());
  return g + d.device;
}

device_ref cluster_config::device_at(int global) const {
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    int n = static_cast<int>(nodes[i].devices.size());
    if (global < n)
      return device_ref{static_cast<int>(i), global};
    global -= n;
  }
  return device_ref{-1, -1};
}

} // namespace sy::config

namespace sy::config {

std::string to_string(const param_value& v) {
  struct visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.15g", d); // shortest text that reads back to the same double
      if (std::strtod(buf, nullptr) != d)
        std::snprintf(buf, sizeof buf, "%.17g", d);
      std::string s = buf;
      if (s.find_first_of(".eEn") == std::string::npos)
        s += ".0"; // stays a number, not an integer, when parsed back
      return s;
    }
    std::string operator()(const std::string& s) const { return s; }
  };
  return std::visit(visitor{}, v);
}

} // namespace sy::config
