#pragma once
// The caller's side of an isolated policy plug-in (`plugins: [{path: X, isolate: true}]`, issue 9 §4): the
// plug-in's code runs in a child process, `switchyard policy-host --plugin X` (apps/policy_host_cmd.cpp),
// which publishes one actor over CAF's middleman on a loopback port; this side sends it each decision
// (policy_wire.hpp) and waits at most the entry's deadline.
//
// Faults: a decision that gets no reply in time (the host hangs or is slow: "timeout"), gets an error (the
// host died mid-decision: "crash"), or finds no host running ("unavailable": it is being restarted) throws
// isolated_fault; the policy guard (policies/internal/policy_guard) counts it under sy_policy_faults_total
// and lets the built-in decide. After a timeout or crash the host is killed and a supervisor thread starts
// a new one after a backoff (100 ms, doubling to 5 s while hosts keep failing, reset by a good decision).
//
// Ownership: a policy_host is shared (std::shared_ptr) by the registry's factories and every policy copy
// made from them; the last owner's destructor stops the supervisor and kills the child. Threads: call() is
// thread-safe (it blocks the calling thread up to the deadline); the supervisor thread is private.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "messages/result.hpp"

namespace sy::policies::isolation {

/// Why an isolated decision failed; `fault` is the sy_policy_faults_total label (timeout, crash, unavailable).
struct isolated_fault : std::runtime_error {
  isolated_fault(std::string fault_, const std::string& what) : std::runtime_error(what), fault(std::move(fault_)) {}
  std::string fault;
};

struct policy_host_options {
  std::string plugin;                      // the plug-in's absolute path
  std::string exe;                         // the switchyard executable that runs `policy-host`
  std::chrono::milliseconds deadline{50};  // per decision
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds start_timeout{10000}; // from spawn to a connected host
};

/// The switchyard executable for policy hosts: $SWITCHYARD_POLICY_HOST, else this process's own executable.
std::string policy_host_exe();

/// Runs `exe policy-host --plugin path --list` and returns the "kind name" pairs it prints. Errors say how
/// the child failed (exit code, signal, no output within the timeout).
result<std::vector<std::pair<std::string, std::string>>> list_isolated_policies(const std::string& exe,
                                                                                const std::string& plugin);

class policy_host {
public:
  /// Starts the supervisor, which starts the first host at once.
  static std::shared_ptr<policy_host> start(policy_host_options o);
  ~policy_host();
  policy_host(const policy_host&) = delete;
  policy_host& operator=(const policy_host&) = delete;

  /// One decision: the encoded request (policy_wire.hpp) in, the encoded reply out; throws isolated_fault.
  std::string call(const std::string& request);

  /// Blocks up to `timeout` until a host is connected (tests, start-up); false when none is.
  bool wait_ready(std::chrono::milliseconds timeout);
  /// Hosts started so far (1 + restarts).
  int starts() const;

  struct impl;

private:
  explicit policy_host(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace sy::policies::isolation
