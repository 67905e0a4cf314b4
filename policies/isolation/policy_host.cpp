#include "policies/isolation/policy_host.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/logger.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/logging.hpp"

extern char** environ;

namespace sy::policies::isolation {

namespace {

using clock_type = std::chrono::steady_clock;

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string{" (SIG"} + name + ")" : "");
  }
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "ended (status " + std::to_string(status) + ")";
}

/// A spawned child with its stdin (write end) and stdout (read end).
struct child {
  pid_t pid = -1;
  int in = -1;  // its stdin: closing it tells the host to exit
  int out = -1; // its stdout
  void close_fds() {
    if (in >= 0)
      ::close(in);
    if (out >= 0)
      ::close(out);
    in = out = -1;
  }
  /// SIGKILL (unless it has ended) and reap; returns how it ended.
  std::string kill_and_reap() {
    std::string why = "not started";
    if (pid > 0) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        why = "killed";
      } else {
        why = describe_status(status);
      }
    }
    close_fds();
    pid = -1;
    return why;
  }
};

result<child> spawn_child(const std::string& exe, const std::vector<std::string>& args, bool stdin_pipe) {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || (stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0))
    return make_error("plugin", std::string{"cannot make a pipe: "} + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  if (stdin_pipe)
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  child c;
  int rc = ::posix_spawn(&c.pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (stdin_pipe)
    ::close(in[0]);
  c.out = out[0];
  c.in = in[1];
  if (rc != 0) {
    c.pid = -1;
    c.close_fds();
    return make_error("plugin", "cannot start " + exe + ": " + std::strerror(rc));
  }
  return c;
}

/// Reads from fd until `done(text)` or EOF or the deadline; returns what was read.
template <class Done>
std::string read_until(int fd, clock_type::time_point deadline, Done done) {
  std::string text;
  char buf[4096];
  while (!done(text)) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    if (left <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    auto k = ::read(fd, buf, sizeof buf);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    text.append(buf, static_cast<std::size_t>(k));
  }
  return text;
}

/// CAF keeps, per thread, a strong reference to the logger of the last actor system used on that thread (for
/// its logging macros), and an actor system's destructor waits until its logger is gone. A thread of the
/// server's own actor system that made a decision here (or started the host system) would keep this system's
/// logger alive, and the destruction of this system (when the last policy copy goes, often on such a thread)
/// would never end: the server then hangs at exit. Dropping the reference when leaving avoids that.
struct forget_caf_logger {
  forget_caf_logger() = default;
  forget_caf_logger(const forget_caf_logger&) = delete;
  forget_caf_logger& operator=(const forget_caf_logger&) = delete;
  ~forget_caf_logger() { caf::logger::set_current_actor_system(nullptr); }
};

} // namespace

std::string policy_host_exe() {
  if (const char* env = std::getenv("SWITCHYARD_POLICY_HOST"); env && *env)
    return env;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{} : exe.string();
}

result<std::vector<std::pair<std::string, std::string>>> list_isolated_policies(const std::string& exe,
                                                                                const std::string& plugin) {
  auto c = spawn_child(exe, {"policy-host", "--plugin", plugin, "--list"}, false);
  if (!c)
    return c.err();
  const auto deadline = clock_type::now() + std::chrono::seconds(10);
  auto text = read_until(c->out, deadline, [](const std::string&) { return false; });
  int status = 0;
  pid_t r = 0; // its stdout closes a moment before it exits: wait for that, up to the deadline
  while ((r = ::waitpid(c->pid, &status, WNOHANG)) == 0 && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (r == 0) {
    ::kill(c->pid, SIGKILL);
    ::waitpid(c->pid, &status, 0);
    c->close_fds();
    return make_error("plugin", "the policy host (" + exe + " policy-host) did not list the plug-in's policies "
                                "within 10 s");
  }
  c->close_fds();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error("plugin", "the policy host (" + exe + " policy-host --list) " + describe_status(status) +
                                  " while loading the plug-in" +
                                  (text.empty() ? std::string{} : ": " + text.substr(0, 500)));
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  std::string kind, name;
  while (in >> kind >> name)
    out.emplace_back(kind, name);
  return out;
}

struct policy_host::impl {
  policy_host_options o;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  mutable std::mutex mu;
  std::condition_variable cv;
  caf::actor handle; // null while no host is connected
  caf::actor dead;        // the last host that ended by itself, and how (a crash the caller saw as a timeout)
  std::string dead_why;
  child current;
  bool stop = false;
  bool kill_requested = false;
  bool good = false; // a decision succeeded since the current host started
  int starts = 0;
  std::chrono::milliseconds backoff{0};
  std::thread supervisor;

  /// Spawns a host and connects to its actor (outside the lock).
  result<std::pair<child, caf::actor>> launch() {
    auto c = spawn_child(o.exe, {"policy-host", "--plugin", o.plugin}, true);
    if (!c)
      return c.err();
    auto line = read_until(c->out, clock_type::now() + o.start_timeout,
                           [](const std::string& t) { return t.find('\n') != std::string::npos; });
    int port = 0;
    if (std::sscanf(line.c_str(), "ready port=%d", &port) != 1 || port <= 0 || port > 65535) {
      auto why = c->kill_and_reap();
      return make_error("plugin", "the policy host did not get ready (" + why + ", printed \"" +
                                    line.substr(0, 200) + "\")");
    }
    auto h = sys->middleman().remote_actor("127.0.0.1", static_cast<std::uint16_t>(port));
    if (!h) {
      auto why = c->kill_and_reap();
      return make_error("plugin", "cannot connect to the policy host on port " + std::to_string(port) + ": " +
                                    sys->render(h.error()) + " (" + why + ")");
    }
    return std::make_pair(*c, *h);
  }

  void run() {
    auto log = logger("policies");
    std::unique_lock<std::mutex> lk(mu);
    while (!stop) {
      if (current.pid < 0) {
        ++starts;
        lk.unlock();
        auto started = launch();
        lk.lock();
        if (started && stop) {
          started->first.kill_and_reap();
          break;
        }
        if (!started) {
          backoff = std::clamp(backoff * 2, o.backoff_min, o.backoff_max);
          log->warn("policy host for {}: {}; next try in {} ms", o.plugin, started.err().message, backoff.count());
          cv.wait_for(lk, backoff, [&] { return stop; });
          continue;
        }
        current = started->first;
        handle = started->second;
        good = false;
        kill_requested = false;
        log->info("policy host for {} running (pid {}, start {})", o.plugin, current.pid, starts);
        cv.notify_all();
        continue;
      }
      cv.wait_for(lk, std::chrono::milliseconds(50), [&] { return stop || kill_requested; });
      if (stop)
        break;
      int status = 0;
      pid_t r = ::waitpid(current.pid, &status, WNOHANG);
      if (r != current.pid && !kill_requested)
        continue;
      std::string why;
      if (r == current.pid) {
        why = describe_status(status);
        dead = handle;
        dead_why = why;
        current.pid = -1; // reaped
        current.close_fds();
      } else {
        why = "stopped answering within its deadline of " + std::to_string(o.deadline.count()) + " ms, killed";
        current.kill_and_reap();
      }
      handle = nullptr;
      kill_requested = false;
      backoff = good ? o.backoff_min : std::clamp(backoff * 2, o.backoff_min, o.backoff_max);
      log->warn("policy host for {} (start {}) {}; the built-in policies decide until it is back, restarting in "
                "{} ms", o.plugin, starts, why, backoff.count());
      cv.wait_for(lk, backoff, [&] { return stop; });
    }
    handle = nullptr;
    current.kill_and_reap();
  }
};

policy_host::policy_host(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

std::shared_ptr<policy_host> policy_host::start(policy_host_options o) {
  forget_caf_logger forget; // the new system's constructor sets this thread's logger
  auto p = std::make_unique<impl>();
  p->o = std::move(o);
  p->cfg.load<caf::io::middleman>();
  p->cfg.set("scheduler.max-threads", std::size_t{2});
  p->cfg.set("middleman.app-identifiers", std::vector<std::string>{"switchyard-policy-host-1"});
  p->sys = std::make_unique<caf::actor_system>(p->cfg);
  auto* raw = p.get();
  p->supervisor = std::thread([raw] { raw->run(); });
  return std::shared_ptr<policy_host>(new policy_host(std::move(p)));
}

policy_host::~policy_host() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->supervisor.joinable())
    impl_->supervisor.join();
}

std::string policy_host::call(const std::string& request) {
  caf::actor h;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    h = impl_->handle;
  }
  if (!h)
    throw isolated_fault("unavailable", "its policy host (" + impl_->o.plugin + ") is not running");
  std::string reply;
  bool got = false;
  caf::error err;
  {
    forget_caf_logger forget; // destroyed after `self`, whose constructor set this thread's logger
    caf::scoped_actor self{*impl_->sys};
    self->request(h, caf::timespan{impl_->o.deadline}, request)
      .receive([&](std::string& r) { reply = std::move(r), got = true; }, [&](caf::error& e) { err = std::move(e); });
  }
  if (got && reply.rfind("error: ", 0) != 0) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->good = true;
    return reply;
  }
  if (got) // the host could not run it (a malformed request or an unknown policy): not the host's fault
    throw isolated_fault("error", "its policy host answered " + reply);
  bool timeout = err == caf::sec::request_timeout;
  std::string ended; // how the host ended, when it did (a crash that surfaced as a timeout)
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (impl_->handle == h) {
      siginfo_t info{};
      if (impl_->current.pid > 0 &&
          ::waitid(P_PID, static_cast<id_t>(impl_->current.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
          info.si_pid == impl_->current.pid)
        ended = info.si_code == CLD_EXITED ? "exited with code " + std::to_string(info.si_status)
                                           : "killed by signal " + std::to_string(info.si_status);
      impl_->handle = nullptr;
      impl_->kill_requested = true;
    } else if (impl_->dead == h) { // the supervisor reaped it first
      ended = impl_->dead_why;
    }
  }
  impl_->cv.notify_all();
  if (!ended.empty())
    throw isolated_fault("crash", "its policy host (" + impl_->o.plugin + ") " + ended);
  if (timeout)
    throw isolated_fault("timeout", "its policy host (" + impl_->o.plugin + ") did not decide within " +
                                      std::to_string(impl_->o.deadline.count()) + " ms");
  throw isolated_fault("crash", "its policy host (" + impl_->o.plugin + ") failed: " + impl_->sys->render(err));
}

bool policy_host::wait_ready(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(impl_->mu);
  return impl_->cv.wait_for(lk, timeout, [&] { return static_cast<bool>(impl_->handle) || impl_->stop; }) &&
         static_cast<bool>(impl_->handle);
}

int policy_host::starts() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->starts;
}

} // namespace sy::policies::isolation
