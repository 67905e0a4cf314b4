#pragma once
// cpu_stream: one worker thread running tasks in FIFO order, the cpu backend's emulation of a CUDA stream.
// Every enqueued task gets a ticket (1, 2, ...); ticket t is complete once the t-th task has run. Events are
// (stream, ticket) pairs. Thread-safe; the destructor runs all queued tasks, then joins.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace sy::gpu::cpu {

class cpu_stream {
public:
  explicit cpu_stream(std::string name);
  ~cpu_stream();
  cpu_stream(const cpu_stream&) = delete;
  cpu_stream& operator=(const cpu_stream&) = delete;

  /// Appends a task; returns its ticket.
  std::uint64_t enqueue(std::function<void()> task);
  /// The ticket of the last task enqueued so far (0 if none).
  std::uint64_t last_ticket() const;
  bool done(std::uint64_t ticket) const;
  /// Blocks the calling thread until `ticket` is complete.
  void wait_for(std::uint64_t ticket) const;
  const std::string& name() const { return name_; }

private:
  void run();
  std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  mutable std::condition_variable done_cv_;
  std::deque<std::function<void()>> queue_;
  std::uint64_t enqueued_ = 0;
  std::uint64_t completed_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace sy::gpu::cpu
