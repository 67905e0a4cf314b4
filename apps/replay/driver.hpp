#pragma once
// The replay driver's client side: sends a trace open-loop (each request at its own timestamp, whether or
// not earlier ones were answered) through the msgpack ingress and records every answer.
// A trace request with output_tokens > 0 is a generation (msgpack "kind": "generate", max_new_tokens =
// output_tokens, ignore_eos, stream: the first token frame's arrival is its first token); the others are
// one-pass "infer" requests. Exactly once: one final answer per id; a token frame after it is a defect.
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
  // Generation (max_new_tokens > 0); one-pass requests keep the defaults.
  int prompt_tokens = 0;     // tokens sent (the prompt of a generation, the input of a one-pass request)
  int max_new_tokens = 0;    // 0: a one-pass request
  double first_token = -1;   // the first token frame received (client clock); -1: none
  double server_ttft = -1;   // the final answer's ttft_ms / 1e3 (the server's, from its arrival); -1: none
  int new_tokens = 0;        // tokens in the final answer
  int streamed = 0;          // token frames received before the final answer
  int preemptions = 0;
  std::string finish_reason; // eos | length | ""
  double ttft_slo_s = 0, tpot_slo_s = 0; // the request's own (trace slo_s / tpot_slo_s); 0: the model's
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
  long late_frames = 0;               // token frames after their request's final answer (never expected)
  long stream_mismatches = 0;         // ok generations whose streamed frames differ from the final tokens
  double wall_s = 0;
};

/// The deterministic token ids sent for a request of n tokens (the content does not matter for serving).
std::vector<std::int32_t> request_tokens(int n, std::uint64_t id);

/// Sends every request of `t` and waits for the answers (or answer_timeout after the last send).
result<driver_result> run_open_loop(const sim::trace& t, const driver_options& o);

} // namespace sy::driver
