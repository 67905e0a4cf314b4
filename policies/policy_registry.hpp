#pragma once
// policy_registry: the open set of runtime policies (admission, dispatch, batching, eviction) by kind and
// name: the built-ins of runtime_registry.hpp plus the policies of loaded plug-ins (policies/plugin_api.hpp).
//
// Plug-in policies are wrapped in a guard: the guard catches what the policy throws and checks what it
// returns against its view (dispatch: one of the candidates' groups; batching: take and expired within the
// queue; eviction: existing, evictable victims that free enough room; admission: a reason when rejecting);
// on a fault the built-in default of the kind decides instead (slo, earliest-free, none, lru), the fault is
// counted in policy_faults and logged (the 1st, 10th, 100th, ... fault of a policy). A guarded policy keeps
// its library loaded as long as the policy (any copy of it) lives.
//
// Threads: load_plugin before the registry is shared (start-up); the make functions are const and may run
// concurrently (one policy actor per kind); a built policy is a value (copy it per actor); policy_faults is
// thread-safe.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/cluster_config.hpp"
#include "messages/result.hpp"
#include "policies/policy_fn.hpp"
#include "policies/policy_numbers.hpp" // numbers_of

namespace sy::policies {

/// Counts of plug-in policy faults by "kind/name/fault" (fault: threw | invalid). Thread-safe.
class policy_faults {
public:
  /// Counts one; returns the new count for that key.
  std::uint64_t add(const std::string& kind, const std::string& name, const std::string& fault);
  std::map<std::string, std::uint64_t> counts() const;

private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> counts_;
};

/// The kinds of runtime policies, in config order.
const std::vector<std::string>& runtime_policy_kinds();

struct plugin_library; // a dlopen'ed library (internal)

class policy_registry {
public:
  policy_registry();

  /// dlopens `path` and registers its policies. Errors (category "plugin") say what is wrong: the file is
  /// missing, not a shared library, lacks an entry symbol, speaks another ABI version, registers a name
  /// that exists already, or failed while registering. On error nothing of the library is registered.
  status load_plugin(const std::string& path);
  /// The same for a plug-in that runs in `switchyard policy-host` processes (policies/isolation/): the host
  /// lists its policy names here (the library is never loaded into this process); the first policy built
  /// from it starts the host; each decision waits at most `deadline` for it.
  status load_isolated_plugin(const std::string& path, std::chrono::milliseconds deadline);

  result<admission_fn> make_admission(const std::string& name, const policy_numbers& params = {}) const;
  result<dispatch_fn> make_dispatch(const std::string& name, const policy_numbers& params = {}) const;
  result<batching_fn> make_batching(const std::string& name, const policy_numbers& params = {}) const;
  result<eviction_fn> make_eviction(const std::string& name, const policy_numbers& params = {}) const;
  /// Re-placement (issue 11 §2): a plug-in's is guarded like the others; its fallback is `none`.
  result<replacement_fn> make_replacement(const std::string& name, const policy_numbers& params = {}) const;
  /// The same by kind; the variant holds the kind's *_fn. Errors: unknown kind or name, bad parameters.
  result<runtime_policy> make(const std::string& kind, const std::string& name, const policy_numbers& params) const;

  /// Built-in names, then plug-in names, of a kind.
  std::vector<std::string> names(const std::string& kind) const;
  /// "built-in", the plug-in's path, or empty when unknown.
  std::string origin(const std::string& kind, const std::string& name) const;
  /// The loaded plug-ins' paths, load order.
  std::vector<std::string> plugins() const;

  const std::shared_ptr<policy_faults>& faults() const { return faults_; }

  struct tables; // internal

private:
  std::shared_ptr<tables> tables_;
  std::shared_ptr<policy_faults> faults_;
};

/// A registry with cfg.plugins loaded (a bare file name is looked for in the config's folder, then in each
/// folder of $SWITCHYARD_PLUGIN_PATH, then in <switchyard's folder>/../lib/switchyard/plugins), and checks
/// that cfg.policies name known policies with valid parameters. Errors are located in the config file
/// ("cluster.yaml:3:5: plugins[0]: ..." / "cluster.yaml:9:15: policies.dispatch.name: ...").
result<std::shared_ptr<policy_registry>> load_policy_registry(const config::cluster_config& cfg);

/// The four policies cfg.policies names, built through `reg`.
struct runtime_policy_set {
  admission_fn admission;
  dispatch_fn dispatch;
  batching_fn batching;
  eviction_fn eviction;
};
result<runtime_policy_set> make_policy_set(const policy_registry& reg, const config::cluster_config& cfg);

} // namespace sy::policies
