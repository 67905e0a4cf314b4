#pragma once
// The replay driver's client side: sends a trace open-loop (each request at its own timestamp, whether or
// not earlier ones were answered) through the msgpack ingress and records every answer.
//
// Threads: run_open_loop() runs on the caller's thread plus one sender thread and one receiver thread per
// connection, all joined before it returns. Nothing is shared with the caller afterwards.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "sim/workload.hpp"

namespace sy::driver {

/// One request of the trace as the driver saw it. Times in seconds from the replay start.
struct replay_record {
  int model = -1;
  double arrival = 0;  // sent
  double dispatch = 0; // routed to a group (server timings, shifted to the client clock)
  double start = 0;    // stage 0 began
  double finish = 0;   // answer received
  std::string status = "unanswered"; // ok | rejected | deadline_exceeded | failed | invalid | unanswered
  std::string reason;
  std::string group;
  int batch_size = 0;
  double load_wait = 0; // seconds
  int answers = 0;      // how many answers carried this id (1 when the server keeps its promise)
};

struct driver_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7400;
  double time_scale = 1;   // arrival / time_scale
  int connections = 4;     // requests spread round-robin
  std::chrono::milliseconds answer_timeout{60000}; // after the last send
  bool progress = false;   // draw a progress bar on stderr
};

struct driver_result {
  std::vector<replay_record> records; // trace order (id = index)
  long duplicates = 0;                // answers beyond the first for one id
  long unknown_ids = 0;               // answers whose id the driver never sent
  long unanswered = 0;
  double wall_s = 0;
};

/// The deterministic token ids sent for a request of n tokens (the content does not matter for serving).
std::vector<std::int32_t> request_tokens(int n, std::uint64_t id);

/// Sends every request of `t` and waits for the answers (or answer_timeout after the last send).
result<driver_result> run_open_loop(const sim::trace& t, const driver_options& o);

} // namespace sy::driver
