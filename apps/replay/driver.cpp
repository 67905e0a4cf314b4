#include "apps/replay/driver.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <variant>

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/ingress_protocol.hpp"

namespace sy::driver {
namespace {

using clock_type = std::chrono::steady_clock;

result<int> connect_to(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto port_text = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0)
    return make_error("net", fmt::format("cannot resolve '{}': {}", host, gai_strerror(rc)));
  int fd = -1;
  std::string why;
  for (auto* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0)
      continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    why = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0)
    return make_error("net", fmt::format("cannot connect to {}:{}: {}", host, port, why));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    auto k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

/// The named timing (ms), or -1 when the answer carries none.
double actors_timing(const std::vector<std::pair<std::string, double>>& timings, const char* name) {
  for (const auto& [k, v] : timings)
    if (k == name)
      return v;
  return -1;
}

double timing(const actors::wire_response& r, const char* name) {
  return std::max(0.0, actors_timing(r.timings, name));
}

void draw_progress(long sent, long answered, long total) {
  const int width = 40;
  int done = total > 0 ? static_cast<int>(width * answered / total) : width;
  std::string bar(static_cast<std::size_t>(done), '#');
  bar.resize(width, ' ');
  std::fprintf(stderr, "\r[%s] sent %ld, answered %ld / %ld", bar.c_str(), sent, answered, total);
  std::fflush(stderr);
}

} // namespace

std::vector<std::int32_t> request_tokens(int n, std::uint64_t id) {
  std::vector<std::int32_t> out(static_cast<std::size_t>(std::max(1, n)));
  for (std::size_t j = 0; j < out.size(); ++j)
    out[j] = static_cast<std::int32_t>(1 + (id * 31 + j * 7) % 97);
  return out;
}

result<driver_result> run_open_loop(const sim::trace& t, const driver_options& o) {
  const std::size_t n = t.requests.size();
  const int nconn = std::max(1, o.connections);
  std::vector<int> fds;
  for (int c = 0; c < nconn; ++c) {
    auto fd = connect_to(o.host, o.port);
    if (!fd) {
      for (int f : fds)
        ::close(f);
      return fd.err();
    }
    fds.push_back(*fd);
  }
  driver_result out;
  out.records.resize(n);
  std::vector<double> sent_at(n, -1);
  std::vector<actors::wire_response> answers(n);
  std::vector<double> answered_at(n, 0);
  std::vector<int> answer_count(n, 0);
  // Generations: each id's state is touched by its connection's receiver only (id mod connections).
  std::vector<actors::wire_generate_response> gen_answers(n);
  std::vector<double> first_token_at(n, -1);
  std::vector<std::vector<std::int32_t>> streamed(n);
  std::vector<char> mismatched(n, 0);
  std::atomic<long> sent{0}, answered{0}, duplicates{0}, unknown{0}, late{0};
  std::atomic<bool> stop{false};
  const auto t0 = clock_type::now();
  auto now_s = [&] { return std::chrono::duration<double>(clock_type::now() - t0).count(); };

  std::vector<std::thread> receivers;
  for (int c = 0; c < nconn; ++c) {
    receivers.emplace_back([&, c] {
      actors::frame_decoder dec(64u << 20);
      std::vector<char> buf(1 << 16);
      pollfd p{fds[static_cast<std::size_t>(c)], POLLIN, 0};
      while (!stop.load()) {
        int rc = ::poll(&p, 1, 50);
        if (rc <= 0)
          continue;
        auto k = ::recv(p.fd, buf.data(), buf.size(), 0);
        if (k <= 0)
          break;
        dec.feed(buf.data(), static_cast<std::size_t>(k));
        for (auto ev = dec.next(); ev.kind == actors::frame_decoder::event::frame; ev = dec.next()) {
          double at = now_s();
          // The id decides the frame's kind: a generation's frames are token frames or its final answer.
          auto g = actors::decode_generate_frame(ev.body);
          std::uint64_t raw_id = !g ? n : std::visit([](const auto& f) { return f.id; }, *g);
          if (raw_id >= n || static_cast<int>(raw_id % static_cast<std::uint64_t>(nconn)) != c) {
            ++unknown;
            continue;
          }
          auto id = static_cast<std::size_t>(raw_id);
          if (t.requests[id].output_tokens > 0) {
            if (const auto* tok = std::get_if<actors::wire_token>(&*g)) {
              if (answer_count[id] > 0) {
                ++late;
                continue;
              }
              if (first_token_at[id] < 0)
                first_token_at[id] = at;
              if (tok->index != static_cast<std::int32_t>(streamed[id].size()))
                mismatched[id] = true;
              streamed[id].push_back(tok->token);
              continue;
            }
            if (answer_count[id]++ > 0) {
              ++duplicates;
              continue;
            }
            answered_at[id] = at;
            gen_answers[id] = std::get<actors::wire_generate_response>(std::move(*g));
            ++answered;
            continue;
          }
          auto r = actors::decode_response(ev.body);
          if (!r) {
            ++unknown;
            continue;
          }
          if (answer_count[id]++ > 0) {
            ++duplicates;
            continue;
          }
          answered_at[id] = at;
          answers[id] = std::move(*r);
          ++answered;
        }
      }
    });
  }

  std::thread sender([&] {
    std::vector<char> frame;
    for (std::size_t i = 0; i < n && !stop.load(); ++i) {
      const auto& q = t.requests[i];
      auto due = t0 + std::chrono::duration_cast<clock_type::duration>(
                          std::chrono::duration<double>(q.arrival_s / o.time_scale));
      std::this_thread::sleep_until(due);
      frame.clear();
      if (q.output_tokens > 0) {
        actors::wire_generate w;
        w.id = i;
        w.model = t.models.at(static_cast<std::size_t>(q.model));
        w.tokens = request_tokens(q.input_tokens, i);
        w.max_new_tokens = q.output_tokens;
        w.ignore_eos = true;
        w.stream = true;
        w.ttft_ms = q.slo_s * 1e3;
        w.tpot_ms = q.tpot_slo_s * 1e3;
        actors::encode_generate(w, frame);
      } else {
        actors::wire_request w;
        w.id = i;
        w.model = t.models.at(static_cast<std::size_t>(q.model));
        w.tokens = request_tokens(q.input_tokens, i);
        w.slo_ms = q.slo_s * 1e3;
        actors::encode_request(w, frame);
      }
      sent_at[i] = now_s();
      if (!send_all(fds[i % static_cast<std::size_t>(nconn)], frame.data(), frame.size()))
        sent_at[i] = -1;
      ++sent;
    }
  });

  bool tty = o.progress;
  // Wait for the sender, then for the answers (bounded by answer_timeout after the last send).
  auto last_draw = clock_type::now();
  while (sent.load() < static_cast<long>(n)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (tty && clock_type::now() - last_draw > std::chrono::milliseconds(200)) {
      draw_progress(sent.load(), answered.load(), static_cast<long>(n));
      last_draw = clock_type::now();
    }
  }
  sender.join();
  auto deadline = clock_type::now() + o.answer_timeout;
  while (answered.load() < static_cast<long>(n) && clock_type::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (tty && clock_type::now() - last_draw > std::chrono::milliseconds(200)) {
      draw_progress(sent.load(), answered.load(), static_cast<long>(n));
      last_draw = clock_type::now();
    }
  }
  // A grace period to catch duplicates arriving right after the last answer.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop = true;
  for (auto& r : receivers)
    r.join();
  for (int f : fds)
    ::close(f);
  if (tty) {
    draw_progress(sent.load(), answered.load(), static_cast<long>(n));
    std::fputc('\n', stderr);
  }
  out.wall_s = now_s();
  out.duplicates = duplicates.load();
  out.unknown_ids = unknown.load();
  out.late_frames = late.load();
  for (std::size_t i = 0; i < n; ++i) {
    auto& rec = out.records[i];
    const auto& q = t.requests[i];
    rec.model = q.model;
    rec.arrival = std::max(0.0, sent_at[i]);
    rec.answers = answer_count[i];
    rec.prompt_tokens = std::max(1, q.input_tokens);
    rec.max_new_tokens = std::max(0, q.output_tokens);
    if (q.output_tokens > 0) {
      rec.ttft_slo_s = q.slo_s;
      rec.tpot_slo_s = q.tpot_slo_s;
    }
    if (answer_count[i] == 0) {
      ++out.unanswered;
      rec.status = "unanswered";
      rec.reason = sent_at[i] < 0 ? "send failed" : "no answer before the replay timeout";
      rec.dispatch = rec.start = rec.finish = rec.arrival;
      continue;
    }
    rec.finish = answered_at[i];
    if (q.output_tokens > 0) {
      const auto& a = gen_answers[i];
      rec.status = a.status;
      rec.reason = a.reason;
      rec.group = a.group;
      rec.finish_reason = a.finish_reason;
      rec.preemptions = a.preemptions;
      rec.streamed = static_cast<int>(streamed[i].size());
      rec.dispatch = rec.start = rec.finish;
      if (a.status == "ok") {
        rec.new_tokens = static_cast<int>(a.tokens.size());
        rec.first_token = first_token_at[i] >= 0 ? std::min(first_token_at[i], rec.finish) : -1;
        if (auto ttft = actors_timing(a.timings, "ttft_ms"); ttft >= 0)
          rec.server_ttft = ttft / 1e3;
        if (auto queue = actors_timing(a.timings, "queue_ms"); queue >= 0)
          rec.dispatch = rec.start = std::min(rec.finish, rec.arrival + queue / 1e3);
        if (mismatched[i] || streamed[i] != a.tokens)
          ++out.stream_mismatches;
      }
      continue;
    }
    const auto& a = answers[i];
    rec.status = a.status;
    rec.reason = a.reason;
    rec.group = a.group;
    rec.batch_size = a.batch_size;
    if (a.status == "ok") {
      rec.dispatch = std::min(rec.finish, rec.arrival + timing(a, "dispatch_ms") / 1e3);
      rec.start = std::min(rec.finish, rec.arrival + timing(a, "start_ms") / 1e3);
      rec.load_wait = timing(a, "load_wait_ms") / 1e3;
    } else {
      rec.dispatch = rec.start = rec.finish;
    }
  }
  return out;
}

} // namespace sy::driver
