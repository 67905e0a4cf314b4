#pragma once
// Load generators over the msgpack ingress for the benchmarks.
// - closed loop: each connection keeps `window` requests outstanding for `duration` (its latency includes the
//   queueing behind the window: Little's law, window / rate);
// - open loop: requests leave at a fixed total `rate` spread over the connections, whatever the answers do, so
//   the latency is what the server adds at that offered load (the meaning of "added latency").
// Both record every answer's round-trip latency (from the moment the frame was written).
// Threads: closed loop one per connection; open loop a sender and a receiver per connection; all joined
// before the function returns.
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
  double rate = 0; // open loop: requests/s over all connections
};

struct load_result {
  long answered = 0;                       // recorded (after warm-up)
  std::map<std::string, long> by_status;   // recorded answers per status
  std::vector<double> latency_s;           // recorded round trips, ok answers, sorted
  double seconds = 0;                      // recording span
  double sent_rate = 0;                    // open loop: requests/s actually written while recording
  double max_send_lag_s = 0;               // open loop: worst delay of a send behind its schedule
  double rate() const { return seconds > 0 ? static_cast<double>(answered) / seconds : 0; }
  double quantile(double q) const;
};

result<load_result> run_closed_loop(const load_options& o);
/// Open loop at o.rate requests/s (o.window is ignored); waits up to 10 s for the last answers.
result<load_result> run_open_loop(const load_options& o);

} // namespace sy::driver
