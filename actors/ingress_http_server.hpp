#pragma once
// http_server: cpp-httplib's request parsing and routing, with our own listener, connection handling and
// bounds (httplib 0.11's listener has an unbounded accept queue, parks a worker on every idle keep-alive
// connection and times out per read only, so 16 slowloris sockets or 200 idle ones stop it; and its stop()
// closes queued connections without an answer).
//
//   poller thread:  accepts (at most limits.max_connections open; beyond: `503` and close), watches idle
//                   connections without holding a worker (closed after limits.idle_timeout), hands a
//                   connection whose request bytes arrived to the workers
//   workers (limits.workers threads): read one request within limits.read_timeout from its first byte
//                   (a slow sender is cut off, not waited for), run its handler, write the answer, give a
//                   kept-alive connection back to the poller
//
// Lifecycle: bind_listener -> start -> drain (stop accepting; accept what is still in the kernel's backlog;
// answer every request whose bytes arrived before the connection went quiet; close idle connections; join
// every thread) -> destroyed. start/drain from one controlling thread (main); handlers run on workers.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "messages/result.hpp"

namespace sy::actors {

struct http_server_limits {
  std::size_t workers = 16;                       // threads that read requests and run handlers
  std::size_t max_connections = 512;              // open connections; beyond: refused with 503
  std::chrono::milliseconds read_timeout{2000};   // one whole request (line, headers, body) from its first byte
  std::chrono::milliseconds write_timeout{5000};  // each write of the answer
  std::chrono::milliseconds idle_timeout{10000};  // a connection without a request this long is closed
};

class http_server : public httplib::Server {
public:
  explicit http_server(http_server_limits limits);
  ~http_server() override;
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds and listens on host:port (0: any free port); returns the bound port.
  result<std::uint16_t> bind_listener(const std::string& host, std::uint16_t port);
  /// Starts the poller and the workers (after bind_listener).
  void start();
  /// Stops accepting, answers the requests already sent (those whose bytes arrive before the connections
  /// are quiet for `quiet`), closes idle connections and joins every thread. Idempotent. Returns the number
  /// of requests answered during the drain.
  std::size_t drain(std::chrono::milliseconds quiet = std::chrono::milliseconds(100));

  std::size_t open_connections() const { return open_.load(); }
  std::size_t refused_connections() const { return refused_.load(); }

private:
  struct conn {
    int fd = -1;
    std::chrono::steady_clock::time_point idle_since;
  };
  void poll_loop();
  void worker_loop();
  void serve(int fd);          // a worker's part: requests on fd until it is idle, closed or draining
  void give_back(int fd);      // a kept-alive connection back to the poller (any thread)
  void close_fd(int fd);
  void wake();

  http_server_limits limits_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread poller_;
  std::vector<std::thread> workers_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> refused_{0};
  std::atomic<std::size_t> drained_requests_{0};

  std::mutex mu_;                // guards ready_, returned_, workers_done_
  std::condition_variable cv_;
  std::deque<int> ready_;        // connections with request bytes, for the workers
  std::vector<int> returned_;    // kept-alive connections back from the workers, for the poller
  bool workers_done_ = false;    // the poller has finished: workers exit once ready_ is empty
  std::size_t busy_ = 0;         // connections held by workers
  std::chrono::milliseconds drain_quiet_{100};
};

} // namespace sy::actors
