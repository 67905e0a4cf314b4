#pragma once
// A closed-loop load generator over the msgpack ingress for the benchmarks: each connection keeps `window`
// requests outstanding for `duration`, and records every answer's round-trip latency.
// Threads: one per connection, joined before run_closed_loop returns.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "messages/result.hpp"

namespace sy::driver {

struct load_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::vector<std::string> models; // requests alternate over these, in order
  int tokens = 1;
  int connections = 2;
  int window = 32; // outstanding requests per connection
  std::chrono::milliseconds duration{3000};
  std::chrono::milliseconds warmup{500}; // answers in the first warmup are not recorded
};

struct load_result {
  long answered = 0;                       // recorded (after warm-up)
  std::map<std::string, long> by_status;   // recorded answers per status
  std::vector<double> latency_s;           // recorded round trips, ok answers, sorted
  double seconds = 0;                      // recording span
  double rate() const { return seconds > 0 ? static_cast<double>(answered) / seconds : 0; }
  double quantile(double q) const;
};

result<load_result> run_closed_loop(const load_options& o);

} // namespace sy::driver
