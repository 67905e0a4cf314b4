#include "actors/ingress_http_server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "messages/logging.hpp"

namespace sy::actors {
namespace {

using clock_type = std::chrono::steady_clock;

int ms_until(clock_type::time_point t) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(t - clock_type::now()).count();
  return static_cast<int>(std::clamp<long long>(d, 0, 1 << 30));
}

bool wait_for(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR)
      continue;
    return r > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage a{};
  socklen_t n = sizeof a;
  int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &n)
               : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  if (r != 0)
    return;
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&a), n, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

/// httplib's view of one connection: reads are buffered (httplib reads request lines byte by byte) and
/// must all complete before the request's deadline; a slow sender gets -1 (httplib answers 400 or drops).
class fd_stream final : public httplib::Stream {
public:
  fd_stream(int fd, std::chrono::milliseconds write_timeout) : fd_(fd), write_timeout_(write_timeout) {}

  void set_deadline(clock_type::time_point t) { deadline_ = t; }
  bool has_buffered() const { return pos_ < len_; }

  bool is_readable() const override { return has_buffered() || wait_for(fd_, POLLIN, ms_until(deadline_)); }
  bool is_writable() const override {
    return wait_for(fd_, POLLOUT, static_cast<int>(write_timeout_.count()));
  }

  ssize_t read(char* ptr, size_t size) override {
    if (!has_buffered()) {
      for (;;) {
        if (!wait_for(fd_, POLLIN, ms_until(deadline_)))
          return -1; // deadline passed
        auto n = ::recv(fd_, buf_, sizeof buf_, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
          continue;
        if (n <= 0)
          return n;
        pos_ = 0;
        len_ = static_cast<std::size_t>(n);
        break;
      }
    }
    auto k = std::min(size, len_ - pos_);
    std::memcpy(ptr, buf_ + pos_, k);
    pos_ += k;
    return static_cast<ssize_t>(k);
  }

  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      if (!is_writable())
        return -1;
      auto n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        continue;
      return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, false, ip, port); }
  socket_t socket() const override { return fd_; }

private:
  int fd_;
  std::chrono::milliseconds write_timeout_;
  clock_type::time_point deadline_ = clock_type::now();
  char buf_[16384];
  std::size_t pos_ = 0, len_ = 0;
};

const std::string& refused_answer() {
  static const std::string body = "{\"status\": \"rejected\", \"reason\": \"overload: too many open connections\"}\n";
  static const std::string text = fmt::format("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                              "Connection: close\r\nContent-Length: {}\r\n\r\n{}", body.size(), body);
  return text;
}

} // namespace

http_server::http_server(http_server_limits limits) : limits_(limits) {
  limits_.workers = std::max<std::size_t>(1, limits_.workers);
  limits_.max_connections = std::max<std::size_t>(1, limits_.max_connections);
}

http_server::~http_server() {
  drain(std::chrono::milliseconds(0));
  if (listen_fd_ >= 0)
    ::close(listen_fd_);
  for (int fd : wake_)
    if (fd >= 0)
      ::close(fd);
}

result<std::uint16_t> http_server::bind_listener(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int e = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); e != 0)
    return make_error("ingress", fmt::format("cannot listen for HTTP on {}:{}: {}", host, port, ::gai_strerror(e)));
  std::string why = "no address";
  for (auto* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  ::freeaddrinfo(res);
  if (listen_fd_ < 0)
    return make_error("ingress", fmt::format("cannot listen for HTTP on {}:{}: {}", host, port, why));
  set_nonblocking(listen_fd_);
  std::string ip;
  int bound = 0;
  address_of(listen_fd_, false, ip, bound);
  return static_cast<std::uint16_t>(bound);
}

void http_server::start() {
  if (started_.exchange(true) || listen_fd_ < 0)
    return;
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
    wake_[0] = wake_[1] = -1;
  // httplib streams a chunked content provider (server-sent events) only while svr_sock_ is valid (its
  // "shutting down" test); ours stays set until drain has joined every worker, so streams finish.
  svr_sock_ = listen_fd_;
  poller_ = std::thread([this] { poll_loop(); });
  for (std::size_t i = 0; i < limits_.workers; ++i)
    workers_.emplace_back([this] { worker_loop(); });
}

std::size_t http_server::drain(std::chrono::milliseconds quiet) {
  if (!started_.load() || stopped_.exchange(true))
    return drained_requests_.load();
  {
    std::lock_guard<std::mutex> g(mu_);
    drain_quiet_ = quiet;
  }
  draining_ = true;
  wake();
  if (poller_.joinable())
    poller_.join();
  for (auto& t : workers_)
    if (t.joinable())
      t.join();
  svr_sock_ = INVALID_SOCKET; // never closed through it: the listener is ours (closed by the poller)
  return drained_requests_.load();
}

void http_server::wake() {
  if (wake_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
  }
}

void http_server::close_fd(int fd) {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
  open_.fetch_sub(1);
}

void http_server::give_back(int fd) {
  {
    std::lock_guard<std::mutex> g(mu_);
    returned_.push_back(fd);
  }
  wake();
}

void http_server::poll_loop() {
  std::unordered_map<int, clock_type::time_point> idle; // fd -> idle since
  bool accepting = true;
  clock_type::time_point last_activity = clock_type::now();
  auto accept_all = [&] {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR)
          continue;
        return; // EAGAIN: the backlog is empty (or a transient error: poll again)
      }
      if (open_.load() >= limits_.max_connections) {
        refused_.fetch_add(1);
        [[maybe_unused]] auto n = ::send(fd, refused_answer().data(), refused_answer().size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::shutdown(fd, SHUT_RDWR);
        ::close(fd);
        continue;
      }
      int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      open_.fetch_add(1);
      idle.emplace(fd, clock_type::now());
      last_activity = clock_type::now();
    }
  };
  std::vector<pollfd> fds;
  for (;;) {
    bool draining = draining_.load();
    if (draining && accepting) {
      accept_all(); // clients that connected before the drain still get their answers
      ::close(listen_fd_);
      listen_fd_ = -1;
      accepting = false;
      last_activity = clock_type::now();
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      for (int fd : returned_)
        idle.emplace(fd, clock_type::now());
      returned_.clear();
    }
    auto now = clock_type::now();
    if (draining) {
      // Quiet for drain_quiet_: close the idle connections (no request started on them) and finish once the
      // workers have given back or closed every connection they hold.
      std::chrono::milliseconds quiet;
      std::size_t busy;
      {
        std::lock_guard<std::mutex> g(mu_);
        quiet = drain_quiet_;
        busy = busy_ + ready_.size();
      }
      if (now - last_activity >= quiet) {
        for (auto& [fd, since] : idle)
          close_fd(fd);
        idle.clear();
        if (busy == 0)
          break;
      }
    }
    // Idle timeout.
    int timeout_ms = draining ? 20 : 1000;
    for (auto it = idle.begin(); it != idle.end();) {
      auto deadline = it->second + limits_.idle_timeout;
      if (deadline <= now) {
        close_fd(it->first);
        it = idle.erase(it);
      } else {
        timeout_ms = std::min(timeout_ms, ms_until(deadline) + 1);
        ++it;
      }
    }
    fds.clear();
    fds.push_back({wake_[0], POLLIN, 0});
    if (accepting)
      fds.push_back({listen_fd_, POLLIN, 0});
    for (auto& [fd, since] : idle)
      fds.push_back({fd, POLLIN, 0});
    int r = ::poll(fds.data(), fds.size(), timeout_ms);
    if (r < 0 && errno != EINTR)
      break;
    if (r <= 0)
      continue;
    for (const auto& p : fds) {
      if (p.revents == 0)
        continue;
      if (p.fd == wake_[0]) {
        char b[64];
        while (::read(wake_[0], b, sizeof b) > 0) {
        }
      } else if (accepting && p.fd == listen_fd_) {
        accept_all();
      } else {
        idle.erase(p.fd);
        last_activity = clock_type::now();
        if ((p.revents & POLLIN) == 0) { // hung up or failed without data
          close_fd(p.fd);
          continue;
        }
        {
          std::lock_guard<std::mutex> g(mu_);
          ready_.push_back(p.fd);
        }
        cv_.notify_one();
      }
    }
  }
  std::lock_guard<std::mutex> g(mu_);
  for (int fd : returned_)
    close_fd(fd);
  returned_.clear();
  workers_done_ = true;
  cv_.notify_all();
}

void http_server::worker_loop() {
  for (;;) {
    int fd = -1;
    {
      std::unique_lock<std::mutex> g(mu_);
      cv_.wait(g, [&] { return !ready_.empty() || workers_done_; });
      if (ready_.empty())
        return;
      fd = ready_.front();
      ready_.pop_front();
      ++busy_;
    }
    serve(fd);
    {
      std::lock_guard<std::mutex> g(mu_);
      --busy_;
    }
    wake(); // the poller may be waiting for the workers to finish a drain
  }
}

void http_server::serve(int fd) {
  fd_stream strm(fd, limits_.write_timeout);
  // A request without Content-Length or chunked encoding has no body (RFC 9112 §6.3); httplib 0.11 would
  // read until the client closes.
  auto setup = [](httplib::Request& req) {
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
      req.set_header("Content-Length", "0");
    // Generation answers are never compressed: a compressor buffers a stream's events (tokens would reach
    // the client late, all at once), and clients of /v1 ask for encodings they may not decode well.
    if (req.path.rfind("/v1/", 0) == 0 || req.path.find("/generate") != std::string::npos)
      req.headers.erase("Accept-Encoding");
  };
  for (;;) {
    bool draining = draining_.load();
    strm.set_deadline(clock_type::now() + limits_.read_timeout);
    bool closed_by_client = false;
    bool ok = process_request(strm, draining, closed_by_client, setup);
    if (draining && ok)
      drained_requests_.fetch_add(1);
    if (!ok || closed_by_client || draining) {
      close_fd(fd);
      return;
    }
    if (!strm.has_buffered())
      break; // nothing pipelined: wait for the next request in the poller, not on a worker
  }
  give_back(fd);
}

} // namespace sy::actors
