#pragma once
// Generation step events (issue 10 §4, README "Fidelity on cpu devices"): the points of a step's way through
// a group's stages. Two consumers, one emitter:
// - `--log-level trace` writes each as a `step_trace` line (loggers "group" and "stage"; steady-clock
//   microseconds), which scripts/step_trace.py splits per stage;
// - an in-process observer (set_step_observer) receives them as values: `switchyard replay --fit-profile`
//   fits the profile's generation costs to the steps of a live replay (apps/replay/step_fit.hpp).
// Emitted by the model group (plan, result) and its stages (submit, done on the stage actor; device on the
// device's thread). An observer sees the events of its own process only. The simulator logs its simulated
// steps in the same lines (log_step_event), which no observer sees.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace sy {

enum class step_point : std::uint8_t {
  plan,   // the group planned the step and sent it to stage 0
  submit, // stage `stage` submitted it to its device
  device, // the device's work on it ended (on the device's thread)
  done,   // the stage actor handled that completion
  result, // the group has the last stage's result
};

const char* to_string(step_point p);

struct step_event {
  step_point point = step_point::plan;
  std::uint64_t group = 0; // the group actor's id: step ids count per group
  std::string model;
  std::uint64_t step = 0;
  std::int32_t stage = -1; // submit, device, done
  int seqs = 0;            // plan, submit, done, result
  int tokens = 0;          // plan, submit, done: prefill tokens + decodes
  int decodes = 0;         // plan
  std::int64_t ctx = 0;    // plan: the decodes' context tokens
  std::int64_t pairs = 0;  // plan: the (query, key) pairs its prefill chunks attend
  std::chrono::steady_clock::time_point at{};
};

using step_observer = std::function<void(const step_event&)>;

/// Installs the process-wide observer ({} removes it). It is called on actor and device threads at once:
/// it must be thread-safe, and quick.
void set_step_observer(step_observer f);

/// Whether anyone takes step events now: trace logging of "group" or "stage", or an observer. Emitters test
/// this before they build an event.
bool step_events_wanted();

/// Logs `e` as its step_trace line (at trace level) and hands it to the observer, if any.
void emit_step_event(const step_event& e);

/// The simulator's steps (sim/generation_sim.cpp, simulated times): the step_trace line only, never the
/// observer (a simulation inside a live process, the live planner's, must not mix into a live fit).
bool step_events_logged();
void log_step_event(const step_event& e);

} // namespace sy
