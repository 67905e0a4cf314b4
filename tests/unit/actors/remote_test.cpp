// Two actor systems in one process, connected over CAF's middleman (BASP on loopback TCP): node b joins the
// controller published by system a; a pipeline group spans both, so batches, activations, registrations and
// answers all cross the wire serialized. Blocking waits have timeouts; no sleeps.
#include <catch2/catch.hpp>

#include <future>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/cluster.hpp"
#include "config/cluster_config.hpp"
#include "messages/type_ids.hpp"

using namespace sy;
using namespace sy::messages;
using namespace std::chrono_literals;

namespace {

struct net_config : caf::actor_system_config {
  explicit net_config(const config::cluster_config& c) {
    set("scheduler.max-threads", 2);
    set("logger.console-verbosity", caf::atom("quiet"));
    set("logger.file-verbosity", caf::atom("quiet"));
    actors::prepare_actor_system_config(*this, c, true);
  }
};

/// A TCP port that was free a moment ago (bind to 0, read it back, close).
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

} // namespace

TEST_CASE("a node in another actor system joins over the network and serves its stage of a pipeline group") {
  auto port = free_port();
  std::string yaml = R"(
nodes:
  - {name: a, address: 127.0.0.1:0, devices: {kind: cpu, count: 1, memory: 64MiB}}
  - {name: b, address: 127.0.0.1:0, devices: {kind: cpu, count: 1, memory: 64MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 10000}
placement:
  groups:
    - {name: across, devices: ["a:0", "b:0"], pipeline: 2, models: [tiny-gpt]}
controller:
  address: 127.0.0.1:)" + std::to_string(port) + "\n";
  auto conf = config::parse_config(yaml, "two-node-test.yaml");
  REQUIRE(conf);
  net_config cfg_a{*conf};
  net_config cfg_b{*conf};
  caf::actor_system sys_a{cfg_a};
  caf::actor_system sys_b{cfg_b};
  actors::start_options opts;
  opts.local_nodes = {"a"};
  opts.publish = true;
  opts.ready_timeout = 20000ms;
  auto started = std::async(std::launch::async, [&] { return actors::start_cluster(sys_a, *conf, opts); });
  auto node_b = actors::join_cluster(sys_b, *conf, "b", "127.0.0.1", port, 20000ms);
  REQUIRE(node_b);
  auto h = started.get();
  REQUIRE(h);
  CHECK(h->port == port);
  caf::scoped_actor self{sys_a};
  for (std::uint64_t id = 1; id <= 3; ++id) {
    infer_response r;
    self->request(h->controller, 20s, infer_atom_v, infer_request{request_id{id}, "tiny-gpt", {3, 1, 4}, std::nullopt})
      .receive([&](infer_response& x) { r = std::move(x); }, [&](caf::error& e) { FAIL(sys_a.render(e)); });
    REQUIRE(r.status == request_status::ok);
    CHECK(r.id == request_id{id});
    CHECK(r.output.shape == std::vector<std::int64_t>{512});
    CHECK(r.output.consistent());
  }
  metrics_snapshot m;
  self->request(h->controller, 20s, metrics_atom_v)
    .receive([&](metrics_snapshot& x) { m = std::move(x); }, [&](caf::error& e) { FAIL(sys_a.render(e)); });
  CHECK(m.requests["tiny-gpt"].ok == 3);
  CHECK(m.swaps["b/0"].loads == 1); // the remote device reported its load
  CHECK(actors::stop_cluster(sys_a, *h).ok());
}
