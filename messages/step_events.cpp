#include "messages/step_events.hpp"

#include <atomic>
#include <memory>
#include <mutex>

#include "messages/logging.hpp"

namespace sy {

namespace {

std::mutex observer_mutex;
std::shared_ptr<const step_observer> observer; // guarded by observer_mutex
std::atomic<bool> observed{false};

const std::shared_ptr<spdlog::logger>& group_log() {
  static const auto log = logger("group");
  return log;
}

const std::shared_ptr<spdlog::logger>& stage_log() {
  static const auto log = logger("stage");
  return log;
}

long long micros(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

} // namespace

const char* to_string(step_point p) {
  switch (p) {
    case step_point::plan: return "plan";
    case step_point::submit: return "submit";
    case step_point::device: return "device";
    case step_point::done: return "done";
    case step_point::result: return "result";
  }
  return "?";
}

void set_step_observer(step_observer f) {
  std::lock_guard<std::mutex> lock(observer_mutex);
  observer = f ? std::make_shared<const step_observer>(std::move(f)) : nullptr;
  observed = observer != nullptr;
}

bool step_events_logged() {
  return group_log()->should_log(spdlog::level::trace) || stage_log()->should_log(spdlog::level::trace);
}

bool step_events_wanted() { return observed.load(std::memory_order_relaxed) || step_events_logged(); }

void log_step_event(const step_event& e) {
  // The line formats are scripts/step_trace.py's input (and the e2e test `step trace`'s).
  switch (e.point) {
    case step_point::plan:
      group_log()->trace("step_trace group plan model {} step {} seqs {} tokens {} decodes {} ctx {} pairs {} at_us {}",
                         e.model, e.step, e.seqs, e.tokens, e.decodes, e.ctx, e.pairs, micros(e.at));
      break;
    case step_point::result:
      group_log()->trace("step_trace group result model {} step {} seqs {} at_us {}", e.model, e.step, e.seqs,
                         micros(e.at));
      break;
    case step_point::device:
      stage_log()->trace("step_trace stage {} device model {} step {} at_us {}", e.stage, e.model, e.step,
                         micros(e.at));
      break;
    case step_point::submit:
    case step_point::done:
      stage_log()->trace("step_trace stage {} {} model {} step {} seqs {} tokens {} at_us {}", e.stage,
                         to_string(e.point), e.model, e.step, e.seqs, e.tokens, micros(e.at));
      break;
  }
}

void emit_step_event(const step_event& e) {
  log_step_event(e);
  if (!observed.load(std::memory_order_relaxed))
    return;
  std::shared_ptr<const step_observer> f;
  {
    std::lock_guard<std::mutex> lock(observer_mutex);
    f = observer;
  }
  if (f)
    (*f)(e);
}

} // namespace sy
