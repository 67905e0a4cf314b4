// Policy plug-ins that take their process down, for the isolated plug-in tests (issue 9 §4; tests/CMakeLists.txt
// builds one library per variant). Each registers one dispatch policy that decides like earliest-free four
// times, and on every fifth decision of its process:
//   SY_CRASH_SEGV   "segv-dispatch"   writes through a null pointer (SIGSEGV)
//   SY_CRASH_ABORT  "abort-dispatch"  calls std::abort (SIGABRT)
//   SY_CRASH_BLOCK  "block-dispatch"  blocks forever
// In-process these would take the server down; with `isolate: true` only its policy host goes.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "policies/plugin_api.hpp"

namespace {

std::atomic<long> decisions{0};

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
#elif defined(SY_CRASH_ABORT)
constexpr const char* policy_name = "abort-dispatch";
#elif defined(SY_CRASH_BLOCK)
constexpr const char* policy_name = "block-dispatch";
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
}
