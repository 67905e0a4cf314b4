#include "apps/dispatch.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include <unistd.h>

namespace sy::apps {

namespace {

bool is(const char* a, const char* b) { return std::strcmp(a, b) == 0; }

} // namespace

bool runs_in_sim(int argc, const char* const* argv) {
  int i = 1;
  while (i < argc) {
    if (is(argv[i], "--log-level")) {
      i += 2;
      continue;
    }
    if (std::strncmp(argv[i], "--log-level=", 12) == 0) {
      ++i;
      continue;
    }
    break;
  }
  if (i >= argc)
    return false;
  const char* cmd = argv[i];
  if (is(cmd, "presets") || is(cmd, "trace") || is(cmd, "simulate") || is(cmd, "plan"))
    return true;
  if (is(cmd, "bench") && i + 1 < argc)
    return is(argv[i + 1], "sim") || is(argv[i + 1], "planner");
  return false;
}

const char* executable_for(int argc, const char* const* argv) {
  return runs_in_sim(argc, argv) ? "switchyard-sim" : "switchyard-runtime";
}

bool path_beside_self(const char* name, char* buf, unsigned long size) {
  const auto n = ::readlink("/proc/self/exe", buf, size);
  if (n <= 0)
    return false;
  const auto len = static_cast<unsigned long>(n);
  unsigned long dir = len;
  while (dir > 0 && buf[dir - 1] != '/')
    --dir;
  const unsigned long name_len = std::strlen(name);
  if (len >= size || dir + name_len + 1 > size) {
    errno = ENAMETOOLONG;
    return false;
  }
  std::memcpy(buf + dir, name, name_len + 1);
  return true;
}

int exec_beside_self(const char* name, char** argv) {
  char path[PATH_MAX];
  if (!path_beside_self(name, path, sizeof path)) {
    std::fprintf(stderr, "switchyard: cannot find %s beside this executable (/proc/self/exe): %s\n", name,
                 std::strerror(errno));
    return 127;
  }
  ::execv(path, argv);
  std::fprintf(stderr, "switchyard: cannot run %s (installed beside switchyard, it runs this command): %s\n", path,
               std::strerror(errno));
  return 127;
}

} // namespace sy::apps
