#include "apps/replay/load.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actors/ingress_protocol.hpp"
#include "apps/replay/driver.hpp"

namespace sy::driver {

double load_result::quantile(double q) const {
  if (latency_s.empty())
    return 0;
  return latency_s[std::min(latency_s.size() - 1, static_cast<std::size_t>(q * static_cast<double>(latency_s.size())))];
}

namespace {

using clock_type = std::chrono::steady_clock;

/// Opens o.connections TCP connections (TCP_NODELAY, `timeout` receive timeout).
result<std::vector<int>> connect_all(const load_options& o, timeval timeout) {
  std::vector<int> fds;
  for (int c = 0; c < std::max(1, o.connections); ++c) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(o.port);
    if (::inet_pton(AF_INET, o.host.c_str(), &a.sin_addr) != 1 ||
        ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      auto why = std::strerror(errno);
      ::close(fd);
      for (int f : fds)
        ::close(f);
      return make_error("net", fmt::format("cannot connect to {}:{}: {}", o.host, o.port, why));
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    fds.push_back(fd);
  }
  return fds;
}

/// A receiver thread's counts into the shared result.
void add_answers(load_result& out, std::mutex& mu, long answered, const std::map<std::string, long>& statuses,
                 const std::vector<double>& lat) {
  std::lock_guard<std::mutex> g(mu);
  out.answered += answered;
  for (const auto& [k, v] : statuses)
    out.by_status[k] += v;
  out.latency_s.insert(out.latency_s.end(), lat.begin(), lat.end());
}

/// Joins the client threads and closes the connections; an error when one of them failed.
status finish(std::vector<std::thread>& threads, const std::vector<int>& fds, const std::atomic<bool>& failed) {
  for (auto& t : threads)
    t.join();
  for (int f : fds)
    ::close(f);
  if (failed)
    return make_error("net", "a benchmark connection failed (closed or timed out)");
  return {};
}

} // namespace

result<load_result> run_closed_loop(const load_options& o) {
  if (o.models.empty())
    return make_error("bench", "no model to send requests to");
  auto opened = connect_all(o, timeval{30, 0});
  if (!opened)
    return opened.err();
  auto fds = *opened;
  const auto t0 = clock_type::now();
  const auto rec_from = t0 + o.warmup;
  const auto stop_at = rec_from + o.duration;
  std::mutex mu;
  load_result out;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < fds.size(); ++c) {
    threads.emplace_back([&, c] {
      int fd = fds[c];
      std::unordered_map<std::uint64_t, clock_type::time_point> sent_at;
      std::vector<double> lat;
      std::map<std::string, long> statuses;
      long answered = 0;
      std::uint64_t next = 0;
      std::vector<char> frame;
      auto send_one = [&](std::uint64_t id) {
        actors::wire_request w;
        w.id = id;
        w.model = o.models[(id + c) % o.models.size()];
        w.tokens = request_tokens(o.tokens, id);
        frame.clear();
        actors::encode_request(w, frame);
        sent_at[id] = clock_type::now();
        return ::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size());
      };
      long outstanding = 0;
      for (; next < static_cast<std::uint64_t>(o.window); ++next, ++outstanding)
        if (!send_one(next))
          return void(failed = true);
      actors::frame_decoder dec(1 << 26);
      std::vector<char> buf(1 << 16);
      while (outstanding > 0) {
        auto k = ::recv(fd, buf.data(), buf.size(), 0);
        if (k <= 0)
          return void(failed = true);
        dec.feed(buf.data(), static_cast<std::size_t>(k));
        for (auto ev = dec.next(); ev.kind == actors::frame_decoder::event::frame; ev = dec.next()) {
          auto now = clock_type::now();
          auto r = actors::decode_response(ev.body);
          --outstanding;
          if (!r)
            continue;
          auto it = sent_at.find(r->id);
          if (it == sent_at.end())
            continue; // an answer without a request (id 0 of an invalid frame): not ours to count
          if (now >= rec_from && now < stop_at) {
            ++answered;
            ++statuses[r->status];
            if (r->status == "ok")
              lat.push_back(std::chrono::duration<double>(now - it->second).count());
          }
          sent_at.erase(it);
          if (now < stop_at) {
            if (!send_one(next++))
              return void(failed = true);
            ++outstanding;
          }
        }
      }
      add_answers(out, mu, answered, statuses, lat);
    });
  }
  if (auto st = finish(threads, fds, failed); !st)
    return st.err();
  out.seconds = std::chrono::duration<double>(o.duration).count();
  std::sort(out.latency_s.begin(), out.latency_s.end());
  return out;
}


result<load_result> run_open_loop(const load_options& o) {
  if (o.models.empty())
    return make_error("bench", "no model to send requests to");
  if (!(o.rate > 0))
    return make_error("bench", fmt::format("open loop: expected a positive rate, found {}", o.rate));
  auto opened = connect_all(o, timeval{0, 200000});
  if (!opened)
    return opened.err();
  auto fds = *opened;
  const double rate_c = o.rate / static_cast<double>(fds.size());
  const auto t0 = clock_type::now() + std::chrono::milliseconds(20);
  const auto rec_from = t0 + o.warmup;
  const auto stop_at = rec_from + o.duration;
  const auto total = static_cast<std::size_t>(rate_c * std::chrono::duration<double>(stop_at - t0).count()) + 1;
  auto ns = [&](clock_type::time_point t) { return std::chrono::duration_cast<std::chrono::nanoseconds>(t - t0).count(); };
  std::mutex mu;
  load_result out;
  long sent_recorded = 0;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (std::size_t c = 0; c < fds.size(); ++c) {
    // per connection: the send time of request i (ns since t0; -1: not sent yet), written before the frame
    auto sent_at = std::make_shared<std::vector<std::atomic<std::int64_t>>>(total);
    for (auto& x : *sent_at)
      x.store(-1, std::memory_order_relaxed);
    auto sent_count = std::make_shared<std::atomic<std::size_t>>(0);
    threads.emplace_back([&, c, sent_at, sent_count] { // sender
      int fd = fds[c];
      std::vector<char> frame;
      double lag = 0;
      long recorded = 0;
      for (std::size_t i = 0; i < total;) {
        auto now = clock_type::now();
        auto due = std::min(total, static_cast<std::size_t>(std::chrono::duration<double>(now - t0).count() * rate_c) + 1);
        if (now < t0)
          due = 0;
        if (i >= due) {
          auto next = t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) / rate_c * 1e9));
          std::this_thread::sleep_until(next);
          continue;
        }
        frame.clear();
        auto stamp = ns(clock_type::now());
        for (; i < due; ++i) {
          actors::wire_request w;
          w.id = i;
          w.model = o.models[(i + c) % o.models.size()];
          w.tokens = request_tokens(o.tokens, i);
          actors::encode_request(w, frame);
          (*sent_at)[i].store(stamp, std::memory_order_release);
          auto scheduled = static_cast<double>(i) / rate_c;
          auto at = t0 + std::chrono::nanoseconds(stamp);
          if (at >= rec_from && at < stop_at) {
            lag = std::max(lag, static_cast<double>(stamp) * 1e-9 - scheduled);
            ++recorded;
          }
        }
        if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size()))
          return void(failed = true);
        sent_count->store(i, std::memory_order_release);
      }
      std::lock_guard<std::mutex> g(mu);
      out.max_send_lag_s = std::max(out.max_send_lag_s, lag);
      sent_recorded += recorded;
    });
    threads.emplace_back([&, c, sent_at, sent_count] { // receiver
      int fd = fds[c];
      std::vector<double> lat;
      std::map<std::string, long> statuses;
      long answered = 0;
      std::size_t received = 0;
      actors::frame_decoder dec(1 << 26);
      std::vector<char> buf(1 << 16);
      auto give_up = stop_at + std::chrono::seconds(10);
      while (received < total && clock_type::now() < give_up && !failed) {
        auto k = ::recv(fd, buf.data(), buf.size(), 0);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
          return void(failed = true);
        if (k < 0)
          continue;
        dec.feed(buf.data(), static_cast<std::size_t>(k));
        auto now = ns(clock_type::now());
        for (auto ev = dec.next(); ev.kind == actors::frame_decoder::event::frame; ev = dec.next()) {
          auto r = actors::decode_response(ev.body);
          ++received;
          if (!r || r->id >= total)
            continue;
          auto sent = (*sent_at)[r->id].load(std::memory_order_acquire);
          auto at = t0 + std::chrono::nanoseconds(sent);
          if (sent < 0 || at < rec_from || at >= stop_at)
            continue;
          ++answered;
          ++statuses[r->status];
          if (r->status == "ok")
            lat.push_back(static_cast<double>(now - sent) * 1e-9);
        }
      }
      add_answers(out, mu, answered, statuses, lat);
    });
  }
  if (auto st = finish(threads, fds, failed); !st)
    return st.err();
  out.seconds = std::chrono::duration<double>(o.duration).count();
  out.sent_rate = static_cast<double>(sent_recorded) / out.seconds;
  std::sort(out.latency_s.begin(), out.latency_s.end());
  return out;
}

} // namespace sy::driver
