// The msgpack ingress broker over real loopback sockets, against a stand-in controller
// (echo_controller.hpp). No sleeps: every wait is a blocking read with a 10 s socket timeout.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <msgpack.hpp>
#include <cstring>
#include <set>
#include <thread>

#include "actors/ingress.hpp"
#include "actors/echo_controller.hpp"
#include "apps/replay/driver.hpp"
#include "messages/type_ids.hpp"

using namespace sy;
using namespace sy::actors;

namespace {

struct client {
  int fd = -1;
  frame_decoder dec{1 << 24};
  explicit client(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~client() { ::close(fd); }
  void send_bytes(const std::vector<char>& b) { REQUIRE(::send(fd, b.data(), b.size(), MSG_NOSIGNAL) == ssize_t(b.size())); }
  void send(const wire_request& r) {
    std::vector<char> f;
    encode_request(r, f);
    send_bytes(f);
  }
  void send_body(const std::string& body) {
    std::vector<char> f(4);
    auto n = static_cast<std::uint32_t>(body.size());
    f[0] = char(n >> 24), f[1] = char(n >> 16), f[2] = char(n >> 8), f[3] = char(n);
    f.insert(f.end(), body.begin(), body.end());
    send_bytes(f);
  }
  wire_response recv() {
    char buf[4096];
    for (;;) {
      auto ev = dec.next();
      if (ev.kind == frame_decoder::event::frame) {
        auto r = decode_response(ev.body);
        REQUIRE(r.ok());
        return *r;
      }
      auto k = ::recv(fd, buf, sizeof buf, 0);
      REQUIRE(k > 0); // fails on timeout or close instead of hanging
      dec.feed(buf, static_cast<std::size_t>(k));
    }
  }
};

caf::actor_system_config& make_config(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  sy::messages::add_message_types(cfg);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  return cfg;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{make_config(cfg)};
  messages::controller_actor controller = spawn_echo_controller(sys, {"echo", "slow"});
  std::shared_ptr<ingress_context> ctx = std::make_shared<ingress_context>();
  caf::actor ingress;
  std::uint16_t port = 0;

  void start(ingress_limits lim = {}) {
    ctx->controller = controller;
    ctx->models = {{"echo", model_limits{100000, 4096}}, {"slow", model_limits{100000, 4096}}};
    ctx->limits = lim;
    ctx->gate = std::make_shared<inflight_gate>(static_cast<std::int64_t>(lim.max_in_flight));
    ctx->metrics = std::make_shared<metrics_registry>();
    describe_ingress_metrics(*ctx->metrics);
    auto r = start_msgpack_ingress(sys, ctx, "127.0.0.1", 0);
    REQUIRE(r.ok());
    ingress = r->first;
    port = r->second;
    REQUIRE(port != 0);
  }
  void release_held() {
    caf::scoped_actor self{sys};
    self->request(controller, caf::infinite, messages::drain_atom_v).receive([](messages::ack&) {},
                                                                            [](caf::error&) { FAIL(); });
  }
  ~fixture() {
    caf::anon_send_exit(ingress, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(controller, caf::exit_reason::user_shutdown);
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "a request through the ingress gets its own id and the controller's output") {
  start();
  client c(port);
  c.send(wire_request{77, "echo", {3, 4}, 0});
  auto r = c.recv();
  CHECK(r.id == 77);
  CHECK(r.status == "ok");
  CHECK(r.output.dtype == "f32");
  CHECK(r.output.shape == std::vector<std::int64_t>{2});
  REQUIRE(r.output.data.size() == 8);
  float v[2];
  std::memcpy(v, r.output.data.data(), 8);
  CHECK(v[0] == 3);
  CHECK(v[1] == 4);
  CHECK(r.group == "echo");
  CHECK(ctx->metrics->value("sy_ingress_requests_total", {{"protocol", "msgpack"}, {"model", "echo"}, {"status", "ok"}}) == 1);
}

TEST_CASE_METHOD(fixture, "two clients that use the same ids each get their own answers") {
  start();
  client a(port), b(port);
  for (std::uint64_t i = 0; i < 20; ++i) {
    a.send(wire_request{i, "echo", {1}, 0});
    b.send(wire_request{i, "echo", {2}, 0});
  }
  for (std::uint64_t i = 0; i < 20; ++i) {
    auto ra = a.recv(), rb = b.recv();
    CHECK(ra.id == i);
    CHECK(rb.id == i);
    float va, vb;
    std::memcpy(&va, ra.output.data.data(), 4);
    std::memcpy(&vb, rb.output.data.data(), 4);
    CHECK(va == 1);
    CHECK(vb == 2);
  }
}

TEST_CASE_METHOD(fixture, "a malformed frame gets an invalid answer and the connection keeps working") {
  start();
  client c(port);
  c.send_body(std::string("\xc1 not msgpack", 13));
  auto bad = c.recv();
  CHECK(bad.status == "invalid");
  CHECK(bad.reason.find("malformed msgpack") != std::string::npos);
  c.send(wire_request{5, "echo", {1}, 0});
  auto good = c.recv();
  CHECK(good.id == 5);
  CHECK(good.status == "ok");
}

TEST_CASE_METHOD(fixture, "an oversized frame is answered once and its connection closed") {
  ingress_limits lim;
  lim.max_frame_bytes = 256;
  start(lim);
  client c(port);
  c.send(wire_request{1, "echo", std::vector<std::int32_t>(200, 100000), 0});
  c.send(wire_request{2, "echo", {9}, 0});
  auto big = c.recv();
  CHECK(big.status == "invalid");
  CHECK(big.reason.find("exceeds the limit of 256 bytes") != std::string::npos);
  char b[64];
  CHECK(::recv(c.fd, b, sizeof b, 0) == 0); // closed: no silent skipping of the announced body
  client d(port);                         // the server serves new connections
  d.send(wire_request{3, "echo", {9}, 0});
  auto next = d.recv();
  CHECK(next.id == 3);
  CHECK(next.status == "ok");
}

TEST_CASE_METHOD(fixture, "a length prefix of 2 GiB or more is answered once and closes the connection") {
  start();
  client c(port);
  c.send_bytes({'\x80', '\0', '\0', '\0', 'x', 'y'});
  auto r = c.recv();
  CHECK(r.status == "invalid");
  CHECK(r.reason.find("2147483648 bytes exceeds the limit") != std::string::npos);
  char b[64];
  CHECK(::recv(c.fd, b, sizeof b, 0) == 0);
  CHECK(ctx->metrics->value("sy_ingress_closed_connections_total", {{"protocol", "msgpack"}, {"why", "oversized_frame"}}) == 1);
}

TEST_CASE_METHOD(fixture, "an answer for a client that left never reaches the next client on its reused handle") {
  start();
  auto open_connections = [&] { return ctx->metrics->value("sy_ingress_connections", {{"protocol", "msgpack"}}); };
  for (int trial = 0; trial < 5; ++trial) {
    {
      client a(port);
      a.send(wire_request{1000, "slow", {1}, 0}); // held by the stand-in controller
      caf::scoped_actor self{sys};
      for (int i = 0; i < 100000; ++i) { // until the broker holds it (bounded)
        std::int64_t pending = 0;
        self->request(ingress, caf::infinite, caf::get_atom::value).receive([&](std::int64_t n) { pending = n; },
                                                                           [](caf::error&) {});
        if (pending == 1)
          break;
        std::this_thread::yield();
      }
    } // a leaves with its request in flight
    for (int i = 0; i < 100000 && open_connections() != 0; ++i)
      std::this_thread::yield(); // the broker has seen it leave (its fd is free for the next client)
    client b(port);              // the OS hands out the lowest free fd: usually a's
    release_held();              // a's answer arrives now
    b.send(wire_request{7, "echo", {1}, 0});
    auto r = b.recv();
    CHECK(r.id == 7); // b's own answer, not a's id 1000
    CHECK(r.status == "ok");
  }
}

TEST_CASE_METHOD(fixture, "a connection idle past the idle timeout is closed") {
  ingress_limits lim;
  lim.idle_timeout = std::chrono::milliseconds(50);
  start(lim);
  client c(port);
  c.send(wire_request{1, "echo", {1}, 0});
  CHECK(c.recv().status == "ok");
  char b[64];
  CHECK(::recv(c.fd, b, sizeof b, 0) == 0); // closed by the server (the socket timeout is 10 s)
  CHECK(ctx->metrics->value("sy_ingress_closed_connections_total", {{"protocol", "msgpack"}, {"why", "idle"}}) == 1);
}

TEST_CASE_METHOD(fixture, "connections beyond the limit are refused and the others keep working") {
  ingress_limits lim;
  lim.max_connections = 2;
  start(lim);
  client a(port), b(port);
  a.send(wire_request{1, "echo", {1}, 0});
  b.send(wire_request{2, "echo", {1}, 0});
  CHECK(a.recv().id == 1);
  CHECK(b.recv().id == 2);
  client c(port);
  char buf[64];
  CHECK(::recv(c.fd, buf, sizeof buf, 0) <= 0); // closed at once
  a.send(wire_request{3, "echo", {1}, 0});
  CHECK(a.recv().id == 3);
  CHECK(ctx->metrics->value("sy_ingress_refused_connections_total", {{"protocol", "msgpack"}}) == 1);
}

TEST_CASE_METHOD(fixture, "tokens outside the vocabulary and unknown models are invalid at once, with bounded labels") {
  ctx->models = {{"echo", model_limits{10, 3}}};
  ctx->controller = controller;
  ingress_limits lim;
  ctx->limits = lim;
  ctx->gate = std::make_shared<inflight_gate>(100);
  ctx->metrics = std::make_shared<metrics_registry>();
  auto r0 = start_msgpack_ingress(sys, ctx, "127.0.0.1", 0);
  REQUIRE(r0.ok());
  ingress = r0->first;
  client c(r0->second);
  c.send(wire_request{1, "echo", {1, 10}, 0});
  auto r = c.recv();
  CHECK(r.status == "invalid");
  CHECK(r.reason == "'tokens'[1]: 10 is outside model echo's vocabulary [0, 10)");
  c.send(wire_request{2, "echo", {1, 2, 3, 4}, 0});
  r = c.recv();
  CHECK(r.status == "invalid");
  CHECK(r.reason == "'tokens': 4 tokens exceed model echo's max_seq of 3");
  for (std::uint64_t i = 0; i < 50; ++i)
    c.send(wire_request{10 + i, "no-such-model-" + std::to_string(i), {1}, 0});
  for (int i = 0; i < 50; ++i) {
    r = c.recv();
    CHECK(r.status == "invalid");
    CHECK(r.reason.rfind("unknown model 'no-such-model-", 0) == 0);
  }
  auto text = ctx->metrics->render();
  CHECK(text.find("no-such-model") == std::string::npos); // client input never becomes a label
  CHECK(ctx->metrics->value("sy_ingress_requests_total", {{"protocol", "msgpack"}, {"model", "unknown"}, {"status", "invalid"}}) == 50);
  CHECK(ctx->metrics->value("sy_ingress_rejected_total", {{"status", "invalid"}, {"reason", "unknown_model"}}) == 50);
}

TEST_CASE_METHOD(fixture, "too many tokens and an unknown model get precise answers") {
  ingress_limits lim;
  lim.max_tokens = 4;
  start(lim);
  client c(port);
  c.send(wire_request{1, "echo", {1, 2, 3, 4, 5}, 0});
  c.send(wire_request{2, "nope", {1}, 0});
  auto many = c.recv();
  CHECK(many.id == 1);
  CHECK(many.status == "invalid");
  CHECK(many.reason.find("limit of 4") != std::string::npos);
  auto unknown = c.recv();
  CHECK(unknown.id == 2);
  CHECK(unknown.status == "invalid");
  CHECK(unknown.reason == "unknown model 'nope'");
}

TEST_CASE_METHOD(fixture, "beyond the in-flight bound requests are rejected as overload, never dropped") {
  ingress_limits lim;
  lim.max_in_flight = 2;
  start(lim);
  client c(port);
  c.send(wire_request{1, "slow", {1}, 0});
  c.send(wire_request{2, "slow", {1}, 0});
  c.send(wire_request{3, "echo", {1}, 0});
  auto third = c.recv(); // the only one answered while the two slow ones are held
  CHECK(third.id == 3);
  CHECK(third.status == "rejected");
  CHECK(third.reason.rfind("overload", 0) == 0);
  release_held();
  std::set<std::uint64_t> ids;
  for (int i = 0; i < 2; ++i) {
    auto r = c.recv();
    CHECK(r.status == "ok");
    ids.insert(r.id);
  }
  CHECK(ids == std::set<std::uint64_t>{1, 2});
  CHECK(ctx->gate->current() == 0);
}

TEST_CASE_METHOD(fixture, "draining rejects new requests and answers the ones in flight before it completes") {
  start();
  client c(port);
  c.send(wire_request{1, "slow", {1}, 0});
  caf::scoped_actor self{sys};
  // Wait until the broker holds the slow request.
  for (int i = 0; i < 1000; ++i) {
    std::int64_t pending = 0;
    self->request(ingress, caf::infinite, caf::get_atom::value).receive([&](std::int64_t n) { pending = n; },
                                                                       [](caf::error&) {});
    if (pending == 1)
      break;
    std::this_thread::yield();
  }
  bool drained = false;
  auto drain = self->request(ingress, caf::infinite, messages::drain_atom_v);
  // Messages from one sender arrive in order: once get_atom is answered, the drain was seen.
  self->request(ingress, caf::infinite, caf::get_atom::value).receive([](std::int64_t) {}, [](caf::error&) {});
  c.send(wire_request{2, "echo", {1}, 0});
  auto late = c.recv();
  CHECK(late.id == 2);
  CHECK(late.status == "rejected");
  CHECK(late.reason.rfind("draining", 0) == 0);
  release_held();
  auto held = c.recv();
  CHECK(held.id == 1);
  CHECK(held.status == "ok");
  drain.receive([&](bool ok) { drained = ok; }, [](caf::error&) {});
  CHECK(drained);
}

TEST_CASE_METHOD(fixture, "the replay driver sends a trace open-loop and records every answer exactly once") {
  start();
  sy::sim::trace t;
  t.models = {"echo", "nope"};
  for (int i = 0; i < 50; ++i)
    t.requests.push_back(sy::sim::trace_request{i * 0.001, i % 5 == 0 ? 1 : 0, 3, 0});
  sy::driver::driver_options o;
  o.port = port;
  o.connections = 3;
  auto r = sy::driver::run_open_loop(t, o);
  REQUIRE(r.ok());
  CHECK(r->unanswered == 0);
  CHECK(r->duplicates == 0);
  CHECK(r->unknown_ids == 0);
  REQUIRE(r->records.size() == 50);
  for (std::size_t i = 0; i < 50; ++i) {
    CHECK(r->records[i].answers == 1);
    CHECK(r->records[i].status == (i % 5 == 0 ? "invalid" : "ok"));
    CHECK(r->records[i].finish >= r->records[i].arrival);
  }
}

TEST_CASE_METHOD(fixture, "a client that never reads its answers is closed once their backlog passes the limit") {
  ingress_limits lim;
  lim.max_write_backlog = 64 * 1024;
  start(lim);
  client c(port);
  // Each answer carries 4 KiB of output; the socket buffers fill, then the broker's backlog grows.
  std::vector<char> burst;
  for (std::uint64_t i = 0; i < 4000; ++i)
    encode_request(wire_request{i, "echo", std::vector<std::int32_t>(1024, 1), 0}, burst);
  // Send without reading (the send may fail once the server has closed the connection).
  std::size_t sent = 0;
  while (sent < burst.size()) {
    auto k = ::send(c.fd, burst.data() + sent, burst.size() - sent, MSG_NOSIGNAL);
    if (k <= 0)
      break;
    sent += static_cast<std::size_t>(k);
  }
  // Now read: the connection must end (EOF or reset) after fewer answers than were sent, not time out.
  char buf[65536];
  std::size_t got = 0;
  ssize_t k = 0;
  for (int i = 0; i < 100000; ++i) {
    k = ::recv(c.fd, buf, sizeof buf, 0);
    if (k <= 0)
      break;
    got += static_cast<std::size_t>(k);
  }
  CHECK((k == 0 || errno == ECONNRESET));
  CHECK(got < 4000u * 4096u);
  CHECK(ctx->metrics->value("sy_ingress_closed_connections_total", {{"protocol", "msgpack"}, {"why", "slow_reader"}}) == 1);
}

TEST_CASE_METHOD(fixture, "a request the controller holds past the request timeout is answered failed once") {
  ctx->request_timeout = std::chrono::milliseconds(1);
  start();
  client c(port);
  c.send(wire_request{1, "slow", {1}, 0}); // held by the stand-in controller until release_held()
  auto r = c.recv();                       // the ingress's sweep (once a second) answers it
  CHECK(r.id == 1);
  CHECK(r.status == "failed");
  CHECK(r.reason == "controller: no answer within 1 ms");
  CHECK(ctx->gate->current() == 0);
  release_held(); // the controller's late answer is dropped: the next frame answers the next request
  c.send(wire_request{2, "echo", {1}, 0});
  auto next = c.recv();
  CHECK(next.id == 2);
  CHECK(next.status == "ok");
}
