#include "gpu/backend.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <string>

#include "gpu/cuda_plugin.hpp"
#include "messages/logging.hpp"

#ifndef SY_CUDA_PLUGIN_BUILD_PATH
#define SY_CUDA_PLUGIN_BUILD_PATH ""
#endif

namespace sy::gpu {

std::string_view to_string(backend_kind k) noexcept {
  switch (k) {
    case backend_kind::cpu: return "cpu";
    case backend_kind::cuda: return "cuda";
    case backend_kind::automatic: return "auto";
    case backend_kind::sim: return "sim";
  }
  return "?";
}

result<backend_kind> parse_backend_kind(std::string_view s) {
  std::string l{s};
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "cpu")
    return backend_kind::cpu;
  if (l == "cuda" || l == "gpu")
    return backend_kind::cuda;
  if (l == "auto" || l == "automatic")
    return backend_kind::automatic;
  if (l == "sim")
    return backend_kind::sim;
  return make_error("backend", "unknown backend '" + std::string{s} + "', expected cpu, cuda, auto or sim");
}

namespace {

std::string exe_dir() {
  char buf[PATH_MAX];
  auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return {};
  std::string p{buf, static_cast<std::size_t>(n)};
  auto slash = p.rfind('/');
  return slash == std::string::npos ? std::string{} : p.substr(0, slash);
}

std::vector<std::string> plugin_candidates() {
  std::vector<std::string> r;
  if (const char* env = std::getenv("SWITCHYARD_CUDA_PLUGIN"); env && *env)
    r.emplace_back(env);
  if (std::string build = SY_CUDA_PLUGIN_BUILD_PATH; !build.empty())
    r.push_back(build);
  if (auto dir = exe_dir(); !dir.empty()) {
    r.push_back(dir + "/libsy_cuda.so");
    r.push_back(dir + "/../lib/libsy_cuda.so");
    r.push_back(dir + "/../gpu/cuda/libsy_cuda.so");
  }
  r.emplace_back("libsy_cuda.so");
  return r;
}

result<std::unique_ptr<backend>> open_cuda(const backend_options& options) {
  std::string tried;
  void* handle = nullptr;
  std::string path;
  for (const auto& c : plugin_candidates()) {
    // Never dlclose'd: objects created by the plugin may outlive any handle (cuda_plugin.hpp).
    handle = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) {
      path = c;
      break;
    }
    const char* e = ::dlerror();
    tried += "\n  " + c + ": " + (e ? e : "not loadable");
  }
  if (!handle)
    return make_error("cuda", "cannot load the CUDA backend library libsy_cuda.so; tried:" + tried);
  auto factory = reinterpret_cast<sy_cuda_create_backend_fn>(::dlsym(handle, SY_CUDA_PLUGIN_FACTORY));
  if (!factory)
    return make_error("cuda", path + " has no symbol " SY_CUDA_PLUGIN_FACTORY);
  backend_options o = options;
  o.kind = backend_kind::cuda;
  char err[1024] = {0};
  backend* b = factory(SY_CUDA_PLUGIN_ABI, &o, err, sizeof err);
  if (!b)
    return make_error("cuda", std::string{err[0] ? err : "the CUDA backend failed without a reason"} + " (" +
                                path + ")");
  return std::unique_ptr<backend>{b};
}

} // namespace

result<std::unique_ptr<backend>> open_devices(const backend_options& options) {
  auto log = logger("engine");
  if (options.devices <= 0)
    return make_error("backend", "device count must be positive, found " + std::to_string(options.devices));
  switch (options.kind) {
    case backend_kind::cpu: {
      auto b = make_cpu_backend(options);
      if (b)
        log->info("backend: {} (requested cpu)", (*b)->describe());
      return b;
    }
    case backend_kind::cuda: {
      auto b = open_cuda(options);
      if (b)
        log->info("backend: {} (requested cuda)", (*b)->describe());
      return b;
    }
    case backend_kind::sim: {
      auto b = make_sim_backend(options);
      if (b)
        log->info("backend: {} (requested sim)", (*b)->describe());
      return b;
    }
    case backend_kind::automatic: {
      auto b = open_cuda(options);
      if (b) {
        log->info("backend: {} (auto: CUDA available)", (*b)->describe());
        return b;
      }
      auto c = make_cpu_backend(options);
      if (c)
        log->info("backend: {} (auto: falling back to cpu because {})", (*c)->describe(), b.err().to_string());
      return c;
    }
  }
  return make_error("backend", "unknown backend kind");
}

result<std::unique_ptr<backend>> open_devices(backend_kind kind, int count, std::size_t budget_bytes) {
  backend_options o;
  o.kind = kind;
  o.devices = count;
  o.budget_bytes = budget_bytes;
  return open_devices(o);
}

} // namespace sy::gpu
