// load_policy_registry / make_policy_set: a deployment's plug-ins and runtime policies, with errors located
// in its config file.
#include <cstdlib>
#include <filesystem>

#include "policies/policy_registry.hpp"

namespace sy::policies {

namespace {

/// The files a plugins entry may name, in search order (see policy_registry.hpp).
std::vector<std::string> candidates(const config::plugin_config& pc) {
  std::vector<std::string> out{pc.path};
  if (pc.written.find('/') != std::string::npos)
    return out;
  if (const char* env = std::getenv("SWITCHYARD_PLUGIN_PATH")) {
    std::string dirs = env;
    std::size_t start = 0;
    while (start <= dirs.size()) {
      auto end = dirs.find(':', start);
      auto dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!dir.empty())
        out.push_back((std::filesystem::path{dir} / pc.written).string());
      if (end == std::string::npos)
        break;
      start = end + 1;
    }
  }
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec)
    out.push_back((exe.parent_path() / ".." / "lib" / "switchyard" / "plugins" / pc.written).lexically_normal().string());
  return out;
}

std::string location(const config::cluster_config& cfg, const config::policy_config& pc) {
  return pc.where.empty() ? cfg.source : pc.where;
}

} // namespace

result<std::shared_ptr<policy_registry>> load_policy_registry(const config::cluster_config& cfg) {
  auto reg = std::make_shared<policy_registry>();
  for (const auto& pc : cfg.plugins) {
    auto files = candidates(pc);
    std::string found;
    std::error_code ec;
    for (const auto& f : files)
      if (std::filesystem::exists(f, ec)) {
        found = f;
        break;
      }
    if (found.empty()) {
      std::string looked;
      for (const auto& f : files)
        looked += (looked.empty() ? "" : ", ") + f;
      return make_error("plugin", pc.where + ": expected a policy plug-in (shared library), found \"" + pc.written
                                    + "\": no such file (looked for " + looked + ")");
    }
    if (auto st = pc.isolate ? reg->load_isolated_plugin(found, std::chrono::milliseconds(pc.deadline_ms))
                             : reg->load_plugin(found);
        !st)
      return make_error("plugin", pc.where + ": " + st.err().message);
  }
  // Every configured policy must be known (plug-in names were accepted unchecked by the config loader) and
  // accept its parameters.
  const std::pair<const char*, const config::policy_config*> kinds[] = {{"admission", &cfg.policies.admission},
                                                                        {"dispatch", &cfg.policies.dispatch},
                                                                        {"batching", &cfg.policies.batching},
                                                                        {"eviction", &cfg.policies.eviction}};
  for (const auto& [kind, pc] : kinds) {
    auto names = reg->names(kind);
    if (reg->origin(kind, pc->name).empty()) {
      std::string known;
      for (const auto& n : names)
        known += (known.empty() ? "" : ", ") + n;
      std::string article = std::string{kind}.find_first_of("aeiou") == 0 ? "an " : "a ";
      return make_error("config", location(cfg, *pc) + ": policies." + kind + ": expected " + article + kind
                                    + " policy (one of: " + known + "), found \"" + pc->name + "\"");
    }
  }
  if (const auto& rp = cfg.placement.replan; !rp.name.empty()) { // placement.replan (issue 11 §2)
    if (reg->origin("replacement", rp.name).empty()) {
      std::string known;
      for (const auto& n : reg->names("replacement"))
        known += (known.empty() ? "" : ", ") + n;
      return make_error("config", location(cfg, rp) + ": placement.replan.policy: expected a replacement policy (one "
                                    "of: " + known + "), found \"" + rp.name + "\"");
    }
    auto params = numbers_of(rp.params);
    params.erase("window_s"); // the controller's, not the policy's
    if (auto f = reg->make_replacement(rp.name, params); !f)
      return make_error("config", location(cfg, rp) + ": placement.replan: " + f.err().message);
  }
  if (auto set = make_policy_set(*reg, cfg); !set)
    return set.err();
  return reg;
}

result<runtime_policy_set> make_policy_set(const policy_registry& reg, const config::cluster_config& cfg) {
  runtime_policy_set out;
  auto fail = [&](const config::policy_config& pc, const error& e) {
    return make_error("config", location(cfg, pc) + ": policies." + e.message);
  };
  const auto& p = cfg.policies;
  auto a = reg.make_admission(p.admission.name, numbers_of(p.admission.params));
  if (!a)
    return fail(p.admission, a.err());
  auto d = reg.make_dispatch(p.dispatch.name, numbers_of(p.dispatch.params));
  if (!d)
    return fail(p.dispatch, d.err());
  auto b = reg.make_batching(p.batching.name, numbers_of(p.batching.params));
  if (!b)
    return fail(p.batching, b.err());
  auto e = reg.make_eviction(p.eviction.name, numbers_of(p.eviction.params));
  if (!e)
    return fail(p.eviction, e.err());
  out.admission = std::move(*a);
  out.dispatch = std::move(*d);
  out.batching = std::move(*b);
  out.eviction = std::move(*e);
  return out;
}

} // namespace sy::policies
