// switchyard bench soak: the embedded default (configs/local.yaml) served in this process, offered `overload`
// times its capacity for `duration` seconds over the msgpack ingress, open loop. Capacity comes from a short
// closed-loop probe first (or --capacity). Every request carries a unique id; the receivers count each id's
// answers, so the result says how many requests got no answer (lost) and how many got more than one
// (duplicates). A sampler reads this process's RSS (server and load generator together) every --sample-ms.
// Prints answers by status, duplicates, lost, RSS at the end of warm-up, peak and final RSS, and the RSS
// slope after warm-up. Exit code 0 when nothing was lost or duplicated, 1 otherwise.
//
// Threads: main (probe, then waits), one sender and one receiver per connection, one RSS sampler; all
// joined before the service drains.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "actors/ingress_protocol.hpp"
#include "apps/commands.hpp"
#include "apps/replay/load.hpp"
#include "apps/serve.hpp"
#include "config/cluster_config.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

namespace {

using clock_type = std::chrono::steady_clock;

struct soak_options {
  double duration_s = 60;   // the soak itself
  double overload = 10;     // offered rate = overload x capacity
  double capacity = 0;      // requests/s; 0: measure it with a closed-loop probe
  double probe_s = 5;       // the probe's length
  int connections = 4;
  int tokens = 32;          // input tokens per request
  int sample_ms = 500;      // RSS sampling period
  double warmup_s = 0;      // RSS after this is the baseline; 0: a fifth of the duration
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ",") + s;
  return out;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtol(line.c_str() + 6, nullptr, 10);
  return 0;
}

result<int> connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    auto why = std::strerror(errno);
    ::close(fd);
    return make_error("net", fmt::format("cannot connect to 127.0.0.1:{}: {}", port, why));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{0, 200000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

struct soak_counts {
  std::map<std::string, long> by_status;
  long sent = 0, answered = 0, duplicates = 0, unknown = 0, lost = 0;
  double max_send_lag_s = 0;
  bool connection_failed = false;
};

/// The open-loop soak: per connection a sender at rate/connections and a receiver counting answers per id.
soak_counts soak(std::uint16_t port, const std::vector<std::string>& models, double rate, const soak_options& o) {
  soak_counts out;
  std::vector<int> fds;
  for (int c = 0; c < o.connections; ++c) {
    auto fd = connect_to(port);
    if (!fd) {
      out.connection_failed = true;
      break;
    }
    fds.push_back(*fd);
  }
  const double rate_c = rate / static_cast<double>(std::max<std::size_t>(1, fds.size()));
  const auto t0 = clock_type::now() + std::chrono::milliseconds(20);
  const auto stop_at = t0 + std::chrono::milliseconds(static_cast<long>(o.duration_s * 1e3));
  const auto per_conn = static_cast<std::size_t>(rate_c * o.duration_s) + 1;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < fds.size(); ++c) {
    auto sent = std::make_shared<std::atomic<std::size_t>>(0);
    auto sender_done = std::make_shared<std::atomic<bool>>(false);
    threads.emplace_back([&, c, sent, sender_done] {
      std::vector<char> frame;
      double lag = 0;
      std::size_t i = 0;
      bool failed = false;
      while (i < per_conn && !failed) {
        auto now = clock_type::now();
        if (now >= stop_at)
          break;
        auto due = now < t0 ? std::size_t{0} : std::min(per_conn, static_cast<std::size_t>(std::chrono::duration<double>(now - t0).count() * rate_c) + 1);
        if (i >= due) {
          std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) / rate_c * 1e9)));
          continue;
        }
        lag = std::max(lag, std::chrono::duration<double>(now - t0).count() - static_cast<double>(i) / rate_c);
        frame.clear();
        for (; i < due; ++i) {
          actors::wire_request w;
          w.id = c * per_conn + i; // unique over all connections
          w.model = models[(i + c) % models.size()];
          w.tokens.resize(static_cast<std::size_t>(o.tokens));
          for (int k = 0; k < o.tokens; ++k)
            w.tokens[static_cast<std::size_t>(k)] = 1 + static_cast<std::int32_t>((i + static_cast<std::size_t>(k)) % 100);
          actors::encode_request(w, frame);
        }
        if (::send(fds[c], frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size()))
          failed = true;
        else
          sent->store(i, std::memory_order_release);
      }
      sender_done->store(true, std::memory_order_release);
      std::lock_guard<std::mutex> g(mu);
      out.max_send_lag_s = std::max(out.max_send_lag_s, lag);
      out.connection_failed |= failed;
    });
    threads.emplace_back([&, c, sent, sender_done] {
      std::vector<std::uint8_t> seen(per_conn, 0);
      std::map<std::string, long> statuses;
      long answered = 0, dup = 0, unknown = 0;
      std::size_t distinct = 0;
      actors::frame_decoder dec(1 << 26);
      std::vector<char> buf(1 << 16);
      clock_type::time_point give_up = clock_type::time_point::max();
      bool failed = false;
      for (;;) {
        if (sender_done->load(std::memory_order_acquire)) {
          auto now = clock_type::now();
          if (give_up == clock_type::time_point::max())
            give_up = now + std::chrono::seconds(30); // answers still owed after the last send
          if (distinct >= sent->load(std::memory_order_acquire))
            give_up = std::min(give_up, now + std::chrono::seconds(1)); // all in: 1 s more for duplicates
          if (now > give_up)
            break;
        }
        auto k = ::recv(fds[c], buf.data(), buf.size(), 0);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          failed = true;
          break;
        }
        if (k < 0)
          continue;
        dec.feed(buf.data(), static_cast<std::size_t>(k));
        for (auto ev = dec.next(); ev.kind != actors::frame_decoder::event::none; ev = dec.next()) {
          if (ev.kind != actors::frame_decoder::event::frame)
            continue;
          auto r = actors::decode_response(ev.body);
          if (!r) {
            ++unknown;
            continue;
          }
          ++answered;
          ++statuses[r->status];
          auto local = r->id - c * per_conn;
          if (r->id < c * per_conn || local >= per_conn) {
            ++unknown;
          } else if (seen[local]++ > 0) {
            ++dup;
          } else {
            ++distinct;
          }
        }
      }
      auto n = sent->load(std::memory_order_acquire);
      std::lock_guard<std::mutex> g(mu);
      out.sent += static_cast<long>(n);
      out.answered += answered;
      out.duplicates += dup;
      out.unknown += unknown;
      out.lost += static_cast<long>(n - std::min(n, distinct));
      out.connection_failed |= failed;
      for (const auto& [s, v] : statuses)
        out.by_status[s] += v;
    });
  }
  for (auto& t : threads)
    t.join();
  for (int fd : fds)
    ::close(fd);
  return out;
}

int run_bench_soak(const soak_options& o) {
  auto log = logger("bench");
  if (!(o.duration_s > 0) || !(o.overload > 0) || o.connections < 1 || o.tokens < 1 || o.sample_ms < 1) {
    log->error("bench soak: expected a positive --duration, --overload, --connections, --tokens and --sample-ms");
    return 2;
  }
  ::setenv("OPENBLAS_NUM_THREADS", "1", 0);
  const auto& cfg = config::embedded_default();
  std::vector<std::string> models;
  for (const auto& m : cfg.models)
    models.push_back(m.name);
  serve_overrides ov;
  ov.any_ports = true;
  auto service = start_local_service(cfg, ov);
  if (!service) {
    log->error("{}", service.err().to_string());
    return 1;
  }
  const auto port = (*service)->ports().msgpack;
  double capacity = o.capacity;
  if (!(capacity > 0)) {
    driver::load_options lo;
    lo.port = port;
    lo.models = models;
    lo.tokens = o.tokens;
    lo.connections = o.connections;
    lo.window = 8;
    lo.duration = std::chrono::milliseconds(static_cast<long>(o.probe_s * 1e3));
    auto probe = driver::run_closed_loop(lo);
    if (!probe) {
      log->error("capacity probe: {}", probe.err().to_string());
      (*service)->drain_and_stop(std::chrono::seconds(30));
      return 1;
    }
    long ok = probe->by_status.count("ok") ? probe->by_status.at("ok") : 0;
    capacity = probe->seconds > 0 ? static_cast<double>(ok) / probe->seconds : 0;
    std::printf("capacity probe: closed loop, %d connections x 8 outstanding, %.1f s: %.0f ok answers/s\n",
                o.connections, probe->seconds, capacity);
    if (!(capacity > 0)) {
      log->error("capacity probe: no ok answer in {} s", o.probe_s);
      (*service)->drain_and_stop(std::chrono::seconds(30));
      return 1;
    }
  }
  const double rate = capacity * o.overload;
  const double warmup_s = o.warmup_s > 0 ? o.warmup_s : o.duration_s / 5;
  // RSS sampler: (seconds since the soak started, KiB)
  std::vector<std::pair<double, long>> samples;
  std::atomic<bool> stop_sampling{false};
  const auto s0 = clock_type::now();
  std::thread sampler([&] {
    while (!stop_sampling.load()) {
      samples.emplace_back(std::chrono::duration<double>(clock_type::now() - s0).count(), rss_kib());
      std::this_thread::sleep_for(std::chrono::milliseconds(o.sample_ms));
    }
  });
  std::printf("soak: %.0f req/s offered (%.0fx capacity %.0f/s) for %.0f s over %d connections, %d tokens, "
              "models %s\n",
              rate, o.overload, capacity, o.duration_s, o.connections, o.tokens, joined(models).c_str());
  std::fflush(stdout);
  auto counts = soak(port, models, rate, o);
  stop_sampling = true;
  sampler.join();
  const long final_kib = rss_kib();
  bool clean = (*service)->drain_and_stop(std::chrono::seconds(30));

  long peak = final_kib, at_warmup = 0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int n = 0;
  for (const auto& [t, kib] : samples) {
    peak = std::max(peak, kib);
    if (t <= warmup_s)
      at_warmup = kib;
    if (t >= warmup_s && t <= o.duration_s) {
      sx += t, sy += static_cast<double>(kib), sxx += t * t, sxy += t * static_cast<double>(kib);
      ++n;
    }
  }
  double slope = n > 1 && (n * sxx - sx * sx) > 0 ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0;
  std::string statuses;
  for (const auto& [k, v] : counts.by_status)
    statuses += fmt::format(" {}={}", k, v);
  std::printf("  sent        %ld requests (%.0f req/s), worst send lag %.3f s\n", counts.sent,
              static_cast<double>(counts.sent) / o.duration_s, counts.max_send_lag_s);
  std::printf("  answers     %ld:%s\n", counts.answered, statuses.c_str());
  std::printf("  duplicates  %ld   lost %ld   unknown ids %ld%s\n", counts.duplicates, counts.lost, counts.unknown,
              counts.connection_failed ? "   (a connection failed)" : "");
  std::printf("  rss         %.1f MiB after %.0f s warm-up, peak %.1f MiB, final %.1f MiB, slope after warm-up "
              "%+.1f KiB/s (%zu samples, this process: server and load generator)\n",
              static_cast<double>(at_warmup) / 1024, warmup_s, static_cast<double>(peak) / 1024,
              static_cast<double>(final_kib) / 1024, slope, samples.size());
  if (!clean)
    std::printf("  drain       requests still in flight after 30 s\n");
  bool ok = counts.lost == 0 && counts.duplicates == 0 && counts.unknown == 0 && !counts.connection_failed && clean;
  return ok ? 0 : 1;
}

} // namespace

void add_bench_soak_command(CLI::App& bench, int& rc) {
  static soak_options o; // CLI11 binds to it; lives as long as the App
  auto* cmd = bench.add_subcommand("soak", "the embedded default at N x its capacity: answers by status, "
                                           "duplicates, lost, RSS over time");
  cmd->add_option("--duration", o.duration_s, "seconds of overload")->capture_default_str();
  cmd->add_option("--overload", o.overload, "offered rate as a multiple of the capacity")->capture_default_str();
  cmd->add_option("--capacity", o.capacity, "capacity in requests/s (0: measure with a closed-loop probe)")
    ->capture_default_str();
  cmd->add_option("--probe", o.probe_s, "seconds of the capacity probe")->capture_default_str();
  cmd->add_option("--connections", o.connections, "client connections")->capture_default_str();
  cmd->add_option("--tokens", o.tokens, "input tokens per request")->capture_default_str();
  cmd->add_option("--sample-ms", o.sample_ms, "RSS sampling period")->capture_default_str();
  cmd->add_option("--warmup", o.warmup_s, "seconds before the RSS baseline (0: a fifth of --duration)")
    ->capture_default_str();
  cmd->callback([&rc] { rc = run_bench_soak(o); });
}

} // namespace sy::apps
