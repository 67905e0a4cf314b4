#include "actors/listen_socket.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

namespace sy::actors {

listen_socket& listen_socket::operator=(listen_socket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = o.fd_;
    port_ = o.port_;
    o.fd_ = -1;
  }
  return *this;
}

listen_socket::~listen_socket() {
  if (fd_ >= 0)
    ::close(fd_);
}

int listen_socket::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

result<listen_socket> bind_listen_socket(const std::string& host, std::uint16_t port, const std::string& key) {
  auto fail = [&](const std::string& why) {
    return make_error("ingress", fmt::format("{}: cannot listen on {}:{}: {}", key, host, port, why));
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* res = nullptr;
  if (int e = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); e != 0)
    return fail(::gai_strerror(e));
  std::string why = "no address to bind";
  int fd = -1;
  for (auto* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0)
    return fail(why);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    why = std::strerror(errno);
    ::close(fd);
    return fail(why);
  }
  const std::uint16_t bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                                        : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return listen_socket{fd, bound};
}

} // namespace sy::actors
