// to_yaml: the normalized config, every key written out (sizes in bytes, presets expanded), in a form that
// parse_config reads back to the same config.
#include <cstdio>

#include <yaml-cpp/yaml.h>

#include "config/cluster_config.hpp"
#include "config/internal/read_model.hpp"

namespace sy::config {

namespace {

void emit_param(YAML::Emitter& out, const param_value& v) {
  if (const auto* s = std::get_if<std::string>(&v))
    out << YAML::DoubleQuoted << *s;
  else if (const auto* b = std::get_if<bool>(&v))
    out << (*b ? "true" : "false");
  else
    out << to_string(v);
}

void emit_policy(YAML::Emitter& out, const policy_config& p, const char* name_key) {
  out << YAML::Flow << YAML::BeginMap << YAML::Key << name_key << YAML::Value << p.name;
  for (const auto& [k, v] : p.params) {
    out << YAML::Key << k << YAML::Value;
    emit_param(out, v);
  }
  out << YAML::EndMap;
}

/// A number that reads back to the same double.
std::string full(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

std::string device_name(const cluster_config& c, device_ref d) {
  return c.nodes[static_cast<std::size_t>(d.node)].name + ":" + std::to_string(c.device(d).ordinal);
}

} // namespace

std::string to_yaml(const cluster_config& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "nodes" << YAML::Value << YAML::BeginSeq;
  for (const auto& n : c.nodes) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << n.name;
    out << YAML::Key << "address" << YAML::Value << n.address();
    out << YAML::Key << "devices" << YAML::Value << YAML::BeginSeq;
    for (const auto& d : n.devices)
    {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "kind" << YAML::Value << std::string{to_string(d.kind)}
          << YAML::Key << "index" << YAML::Value << d.ordinal << YAML::Key << "memory" << YAML::Value
          << d.memory_bytes;
      if (!d.profile.empty())
        out << YAML::Key << "profile" << YAML::Value << d.profile;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq << YAML::EndMap;
  }
  out << YAML::EndSeq;

  out << YAML::Key << "models" << YAML::Value << YAML::BeginSeq;
  for (const auto& m : c.models) {
    out << YAML::BeginMap;
    internal::emit_model(out, m);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  out << YAML::Key << "placement" << YAML::Value;
  switch (c.placement.mode) {
    case placement_mode::policy: {
      const auto& pl = c.placement;
      out << YAML::BeginMap << YAML::Key << "policy" << YAML::Value << pl.policy.name;
      for (const auto& [k, v] : pl.policy.params) {
        out << YAML::Key << k << YAML::Value;
        emit_param(out, v);
      }
      out << YAML::Key << "workload" << YAML::Value << YAML::Flow << YAML::BeginMap;
      const auto& w = pl.workload;
      if (w.kind == workload_config::source::trace)
        out << YAML::Key << "trace" << YAML::Value << w.path;
      else if (w.kind == workload_config::source::records)
        out << YAML::Key << "records" << YAML::Value << w.path;
      else {
        if (w.rate > 0)
          out << YAML::Key << "rate" << YAML::Value << full(w.rate);
        out << YAML::Key << "cv" << YAML::Value << full(w.cv) << YAML::Key << "duration" << YAML::Value
            << full(w.duration_s) << YAML::Key << "popularity" << YAML::Value << full(w.popularity) << YAML::Key
            << "seed" << YAML::Value << w.seed;
      }
      out << YAML::Key << "tokens" << YAML::Value << w.tokens << YAML::EndMap;
      if (!pl.profile.path.empty())
        out << YAML::Key << "profile" << YAML::Value << pl.profile.path;
      if (!pl.profile.cache_dir.empty())
        out << YAML::Key << "profile_cache" << YAML::Value << pl.profile.cache_dir;
      out << YAML::Key << "slo_scale" << YAML::Value << full(pl.slo_scale);
      if (!pl.write_path.empty())
        out << YAML::Key << "write" << YAML::Value << pl.write_path;
      if (!pl.replan.name.empty()) {
        out << YAML::Key << "replan" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "policy"
            << YAML::Value << pl.replan.name;
        for (const auto& [k, v] : pl.replan.params) {
          out << YAML::Key << k << YAML::Value;
          emit_param(out, v);
        }
        out << YAML::EndMap;
      }
      out << YAML::EndMap;
      break;
    }
    case placement_mode::plan_file:
      out << YAML::BeginMap << YAML::Key << "plan" << YAML::Value << c.placement.plan_path << YAML::EndMap;
      break;
    case placement_mode::explicit_groups:
      out << YAML::BeginMap << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
      for (const auto& g : c.placement.groups) {
        out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << g.name;
        out << YAML::Key << "devices" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (auto d : g.devices)
          out << device_name(c, d);
        out << YAML::EndSeq;
        out << YAML::Key << "tensor" << YAML::Value << g.op << YAML::Key << "pipeline" << YAML::Value << g.pp;
        out << YAML::Key << "models" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (int m : g.models)
          out << c.models[static_cast<std::size_t>(m)].name;
        out << YAML::EndSeq << YAML::EndMap;
      }
      out << YAML::EndSeq << YAML::EndMap;
      break;
  }

  out << YAML::Key << "policies" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "admission" << YAML::Value;
  emit_policy(out, c.policies.admission, "name");
  out << YAML::Key << "dispatch" << YAML::Value;
  emit_policy(out, c.policies.dispatch, "name");
  out << YAML::Key << "batching" << YAML::Value;
  emit_policy(out, c.policies.batching, "name");
  out << YAML::Key << "eviction" << YAML::Value;
  emit_policy(out, c.policies.eviction, "name");
  out << YAML::EndMap;
  if (!c.plugins.empty()) { // as written: parsed again from the same folder, they resolve the same
    out << YAML::Key << "plugins" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : c.plugins)
      if (p.isolate)
        out << YAML::Flow << YAML::BeginMap << YAML::Key << "path" << YAML::Value << p.written << YAML::Key
            << "isolate" << YAML::Value << true << YAML::Key << "deadline_ms" << YAML::Value << p.deadline_ms
            << YAML::EndMap;
      else
        out << p.written;
    out << YAML::EndSeq;
  }

  out << YAML::Key << "ingress" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "bind" << YAML::Value << c.ingress.bind;
  out << YAML::Key << "msgpack_port" << YAML::Value << c.ingress.msgpack_port;
  out << YAML::Key << "http_port" << YAML::Value << c.ingress.http_port;
  out << YAML::Key << "max_in_flight" << YAML::Value << c.ingress.max_in_flight;
  out << YAML::Key << "max_input_tokens" << YAML::Value << c.ingress.max_input_tokens;
  out << YAML::Key << "max_connections" << YAML::Value << c.ingress.max_connections;
  out << YAML::Key << "idle_timeout_ms" << YAML::Value << c.ingress.idle_timeout.count();
  out << YAML::Key << "read_timeout_ms" << YAML::Value << c.ingress.read_timeout.count();
  out << YAML::Key << "http_workers" << YAML::Value << c.ingress.http_workers;
  if (!c.ingress.control_token.empty())
    out << YAML::Key << "control_token" << YAML::Value << "<set>";
  out << YAML::EndMap;
  out << YAML::Key << "metrics" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "bind" << YAML::Value << c.metrics.bind;
  out << YAML::Key << "port" << YAML::Value << c.metrics.port << YAML::EndMap;
  out << YAML::Key << "controller" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "address" << YAML::Value << c.controller.address() << YAML::EndMap;
  out << YAML::Key << "runtime" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "request_timeout_ms" << YAML::Value << c.runtime.request_timeout.count();
  out << YAML::Key << "heartbeat_interval_ms" << YAML::Value << c.runtime.heartbeat_interval.count();
  out << YAML::Key << "node_timeout_ms" << YAML::Value << c.runtime.node_timeout.count();
  out << YAML::Key << "load_pipelining" << YAML::Value << c.runtime.load_pipelining;
  out << YAML::Key << "gen_max_seqs" << YAML::Value << c.runtime.gen_max_seqs;
  out << YAML::Key << "gen_token_budget" << YAML::Value << c.runtime.gen_token_budget;
  out << YAML::Key << "gen_preemption" << YAML::Value << (c.runtime.gen_swap ? "swap" : "recompute");
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string{out.c_str()} + "\n";
}

} // namespace sy::config
