// Broken policy plug-ins for the tests (tests/CMakeLists.txt builds one library per SY_BAD_* variant):
//   SY_BAD_NO_ENTRY  a shared library without switchyard's entry symbols
//   SY_BAD_ABI       built for another plug-in ABI version
//   SY_BAD_CLASH     registers a name of a built-in (dispatch "earliest-free")
//   SY_BAD_FAULTY    loads fine; its policies throw or return invalid decisions at decision time
#include <stdexcept>

#include "policies/plugin_api.hpp"

#if defined(SY_BAD_NO_ENTRY)
extern "C" __attribute__((visibility("default"))) int not_a_policy_plugin() { return 42; }

#elif defined(SY_BAD_ABI)
extern "C" __attribute__((visibility("default"))) int sy_policy_plugin_abi() { return 999; }
extern "C" __attribute__((visibility("default"))) int sy_register_policies(sy::policies::plugin_registry*, int) {
  return 0;
}

#elif defined(SY_BAD_CLASH)
SY_POLICY_PLUGIN(registry) {
  using namespace sy::policies;
  registry.add_dispatch("earliest-free", [](const policy_numbers&) {
    return made<dispatch_fn>{[](const std::vector<dispatch_candidate>&) { return -1; }, {}};
  });
}

#elif defined(SY_BAD_FAULTY)
SY_POLICY_PLUGIN(registry) {
  using namespace sy::policies;
  registry.add_dispatch("always-throws", [](const policy_numbers&) {
    return made<dispatch_fn>{[](const std::vector<dispatch_candidate>&) -> int { throw std::runtime_error("boom"); }, {}};
  });
  registry.add_dispatch("no-such-group", [](const policy_numbers&) {
    return made<dispatch_fn>{[](const std::vector<dispatch_candidate>&) { return 12345; }, {}};
  });
  registry.add_dispatch("refuses", [](const policy_numbers&) { return made<dispatch_fn>::refuse("never happy"); });
  registry.add_batching("takes-too-many", [](const policy_numbers&) {
    return made<batching_fn>{[](const batching_view& v) { return batching_decision{v.time_left.size() + 5, {}}; }, {}};
  });
  registry.add_eviction("evicts-ghost", [](const policy_numbers&) {
    return made<eviction_fn>{[](const eviction_view&) { return eviction_decision{true, {"ghost"}}; }, {}};
  });
  registry.add_admission("throws-int", [](const policy_numbers&) {
    return made<admission_fn>{[](const admission_view&) -> admission_decision { throw 7; }, {}};
  });
  registry.add_admission("rejects-silently", [](const policy_numbers&) {
    return made<admission_fn>{[](const admission_view&) { return admission_decision{false, ""}; }, {}};
  });
  registry.add_replacement("replan-throws", [](const policy_numbers&) { // issue 11 §2
    return made<replacement_fn>{[](const replacement_view&) -> replacement_decision { throw std::runtime_error("no"); },
                                {}};
  });
}
#endif
