// Policy plug-ins that take their process down, for the isolated plug-in tests (issue 9 §4; tests/CMakeLists.txt
// builds one library per variant). Each registers one dispatch policy that decides like earliest-free four
// times, and on every fifth decision of its process:
//   SY_CRASH_SEGV   "segv-dispatch"   writes through a null pointer (SIGSEGV)
//   SY_CRASH_ABORT  "abort-dispatch"  calls std::abort (SIGABRT)
//   SY_CRASH_BLOCK  "block-dispatch"  blocks forever
// and one re-placement policy (issue 11 §2) that misbehaves the same way on every third decision of its
// process, and otherwise re-plans whenever asked ("re-plan now?": yes once `min_interval_s` (default 0.5) passed;
// "apply it?": when the candidate's predicted attainment beats the served one by more than `margin`, default 0):
//   SY_CRASH_SEGV "segv-replan", SY_CRASH_ABORT "abort-replan", SY_CRASH_BLOCK "block-replan"
// In-process these would take the server down; with `isolate: true` only its policy host goes.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "policies/plugin_api.hpp"

namespace {

std::atomic<long> decisions{0};
std::atomic<long> replan_decisions{0};

double param(const sy::policies::policy_numbers& p, const char* key, double fallback) {
  auto it = p.find(key);
  return it == p.end() ? fallback : it->second;
}

int first_free(const std::vector<sy::policies::dispatch_candidate>& cs) {
  if (cs.empty())
    return -1;
  const sy::policies::dispatch_candidate* best = &cs[0];
  for (const auto& c : cs)
    if (c.free_in + c.load < best->free_in + best->load)
      best = &c;
  return best->group;
}

[[maybe_unused]] void misbehave() {
#if defined(SY_CRASH_SEGV)
  volatile int* volatile p = nullptr;
  *p = 42;
#elif defined(SY_CRASH_ABORT)
  std::abort();
#elif defined(SY_CRASH_BLOCK)
  for (;;)
    std::this_thread::sleep_for(std::chrono::hours(1));
#endif
}

#if defined(SY_CRASH_SEGV)
constexpr const char* policy_name = "segv-dispatch";
constexpr const char* replan_name = "segv-replan";
#elif defined(SY_CRASH_ABORT)
constexpr const char* policy_name = "abort-dispatch";
constexpr const char* replan_name = "abort-replan";
#elif defined(SY_CRASH_BLOCK)
constexpr const char* policy_name = "block-dispatch";
constexpr const char* replan_name = "block-replan";
#else
#error "define SY_CRASH_SEGV, SY_CRASH_ABORT or SY_CRASH_BLOCK"
#endif

} // namespace

SY_POLICY_PLUGIN(registry) {
  using namespace sy::policies;
  registry.add_dispatch(policy_name, [](const policy_numbers&) {
    return made<dispatch_fn>{[](const std::vector<dispatch_candidate>& cs) {
                               if (++decisions % 5 == 0)
                                 misbehave();
                               return first_free(cs);
                             },
                             {}};
  });
  registry.add_replacement(replan_name, [](const policy_numbers& p) {
    const double min_interval = param(p, "min_interval_s", 0.5), margin = param(p, "margin", 0);
    return made<replacement_fn>{[min_interval, margin](const replacement_view& v) -> replacement_decision {
                                  if (++replan_decisions % 3 == 0)
                                    misbehave();
                                  if (v.has_candidate)
                                    return {v.candidate_score > v.served_score + margin, "candidate vs served"};
                                  return {v.since_replan_s >= min_interval, "asked"};
                                },
                                {}};
  });
}
