#include "gpu/cpu/cpu_stream.hpp"

namespace sy::gpu::cpu {

cpu_stream::cpu_stream(std::string name) : name_(std::move(name)), thread_([this] { run(); }) {}

cpu_stream::~cpu_stream() {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

std::uint64_t cpu_stream::enqueue(std::function<void()> task) {
  std::uint64_t ticket;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    queue_.push_back(std::move(task));
    ticket = ++enqueued_;
  }
  work_cv_.notify_one();
  return ticket;
}

std::uint64_t cpu_stream::last_ticket() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return enqueued_;
}

bool cpu_stream::done(std::uint64_t ticket) const {
  std::lock_guard<std::mutex> lock{mutex_};
  return completed_ >= ticket;
}

void cpu_stream::wait_for(std::uint64_t ticket) const {
  std::unique_lock<std::mutex> lock{mutex_};
  done_cv_.wait(lock, [&] { return completed_ >= ticket; });
}

void cpu_stream::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty())
        return; // stop_ and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task(); // tasks catch their own exceptions (cpu_device::submit)
    {
      std::lock_guard<std::mutex> lock{mutex_};
      ++completed_;
    }
    done_cv_.notify_all();
  }
}

} // namespace sy::gpu::cpu
