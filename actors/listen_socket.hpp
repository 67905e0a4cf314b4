#pragma once
// A listening TCP socket bound before anything slow starts. `up` binds every port (msgpack, HTTP, metrics)
// before weights load or nodes join, so that a port in use is reported at once, and clients that connect
// early wait in the kernel's backlog until the ingress serves them; the msgpack broker then takes the socket
// over (start_msgpack_ingress). Any thread; the socket is closed with its owner unless released.
#include <cstdint>
#include <string>

#include "messages/result.hpp"

namespace sy::actors {

class listen_socket {
public:
  listen_socket() = default;
  listen_socket(int fd, std::uint16_t port) : fd_(fd), port_(port) {}
  listen_socket(listen_socket&& o) noexcept : fd_(o.fd_), port_(o.port_) { o.fd_ = -1; }
  listen_socket& operator=(listen_socket&& o) noexcept;
  listen_socket(const listen_socket&) = delete;
  listen_socket& operator=(const listen_socket&) = delete;
  ~listen_socket();

  bool valid() const noexcept { return fd_ >= 0; }
  std::uint16_t port() const noexcept { return port_; } // the bound port (the kernel's choice for port 0)
  /// Gives the descriptor away (the caller closes it from now on).
  int release() noexcept;

private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// Binds host:port (a numeric address; port 0: any free port) with SO_REUSEADDR, non-blocking and
/// close-on-exec, and listens. `key` names the config key in the error ("ingress.msgpack_port: cannot listen
/// on 127.0.0.1:7400: Address already in use").
result<listen_socket> bind_listen_socket(const std::string& host, std::uint16_t port, const std::string& key);

} // namespace sy::actors
