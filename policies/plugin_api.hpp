#pragma once
// The policy plug-in interface (versioned): what a shared library includes to add named runtime policies
// (admission, dispatch, batching, eviction) to switchyard. Header-only and std-only: a plug-in compiles
// against this header and the four policy headers it includes, and links nothing of switchyard.
//
//   #include "policies/plugin_api.hpp"
//   SY_POLICY_PLUGIN(registry) {
//     registry.add_dispatch("first-candidate", [](const sy::policies::policy_numbers&) {
//       return sy::policies::made<sy::policies::dispatch_fn>{
//         [](const std::vector<sy::policies::dispatch_candidate>& cs) { return cs.empty() ? -1 : cs[0].group; }};
//     });
//   }
//
// The library exports two C symbols (the macro defines both):
//   int sy_policy_plugin_abi()                                      the ABI version it was compiled against
//   int sy_register_policies(sy::policies::plugin_registry*, int)   registers its policies; 0 = success
// The host reads the first and refuses a library whose version differs from its own before calling anything
// else. The types cross the library boundary as C++ objects (std::function, std::string, std::map): build the
// plug-in with the same compiler and standard library as switchyard (-fPIC, C++17).
//
// Rules for the policies (DESIGN.md §4): a policy is a function of its view only: no I/O, no clocks, no
// blocking; each copy is called from one actor at a time, on the hot path, but copies (batching and eviction:
// one per model group) run concurrently, so copies must not share mutable state. Factories may be called
// concurrently (one policy actor per kind) and again on every run-time swap. What it
// returns is checked by the host: a policy that throws, or returns an invalid decision (a group that is not
// a candidate, a batch larger than the queue, a victim that is not evictable, ...), is counted
// (sy_policy_faults_total) and the host's built-in default decides instead; the request is served as usual.
#include <functional>
#include <string>

#include "policies/policy_fn.hpp"

/// Bump on any change of the types in policy_fn.hpp, the four policy headers or plugin_registry.
#define SY_POLICY_PLUGIN_ABI 2 // 2: add_replacement (issue 11)

namespace sy::policies {

inline constexpr int plugin_abi_version = SY_POLICY_PLUGIN_ABI;

/// What a factory returns: the policy, or (error not empty) why the parameters were refused, e.g.
/// `made<dispatch_fn>::refuse("tolerance_ms: expected a number >= 0, found -1")`.
template <class Fn>
struct made {
  Fn policy;
  std::string error;
  static made refuse(std::string why) { return made{Fn{}, std::move(why)}; }
};

/// Builds a policy from its numeric parameters (called at start-up and on every run-time swap).
template <class Fn>
using policy_factory = std::function<made<Fn>(const policy_numbers& params)>;

/// The host's registry as a plug-in sees it, valid during sy_register_policies only. A name must be new
/// (not a built-in, not registered by another plug-in); the host refuses the whole library otherwise.
class plugin_registry {
public:
  virtual void add_admission(const std::string& name, policy_factory<admission_fn> factory) = 0;
  virtual void add_dispatch(const std::string& name, policy_factory<dispatch_fn> factory) = 0;
  virtual void add_batching(const std::string& name, policy_factory<batching_fn> factory) = 0;
  virtual void add_eviction(const std::string& name, policy_factory<eviction_fn> factory) = 0;
  virtual void add_replacement(const std::string& name, policy_factory<replacement_fn> factory) = 0;

protected:
  ~plugin_registry() = default;
};

} // namespace sy::policies

/// Defines the plug-in's two entry points around the body that follows, which registers the policies on
/// `registry` (a sy::policies::plugin_registry&).
#define SY_POLICY_PLUGIN(registry)                                                                            \
  static void sy_policy_plugin_register_(sy::policies::plugin_registry& registry);                            \
  extern "C" __attribute__((visibility("default"))) int sy_policy_plugin_abi() { return SY_POLICY_PLUGIN_ABI; } \
  extern "C" __attribute__((visibility("default"))) int sy_register_policies(sy::policies::plugin_registry* r, \
                                                                            int host_abi) {                 \
    if (!r || host_abi != SY_POLICY_PLUGIN_ABI)                                                               \
      return 1;                                                                                               \
    try {                                                                                                     \
      sy_policy_plugin_register_(*r);                                                                         \
      return 0;                                                                                               \
    } catch (...) {                                                                                           \
      return 2;                                                                                               \
    }                                                                                                         \
  }                                                                                                           \
  static void sy_policy_plugin_register_(sy::policies::plugin_registry& registry)
