// policy_registry: built-ins (runtime_registry.cpp) plus plug-ins (dlopen, policies/plugin_api.hpp).
#include "policies/policy_registry.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "policies/internal/policy_guard.hpp"
#include "policies/isolation/policy_host.hpp"
#include "policies/isolation/policy_wire.hpp"
#include "policies/plugin_api.hpp"
#include "policies/runtime_registry.hpp"

namespace sy::policies {

struct plugin_library {
  void* handle = nullptr;
  std::string path;
  ~plugin_library() {
    if (handle)
      dlclose(handle);
  }
};

namespace {

/// Member order matters: `library` is destroyed last, after the factory (whose code lives in the library).
template <class Fn>
struct plugin_entry {
  std::shared_ptr<plugin_library> library;
  policy_factory<Fn> factory;
};

template <class Fn>
using plugin_table = std::map<std::string, plugin_entry<Fn>>;

error plugin_error(const std::string& path, const std::string& what) {
  return make_error("plugin", "plug-in " + path + ": " + what);
}

} // namespace

struct policy_registry::tables {
  plugin_table<admission_fn> admission;
  plugin_table<dispatch_fn> dispatch;
  plugin_table<batching_fn> batching;
  plugin_table<eviction_fn> eviction;
  plugin_table<replacement_fn> replacement;
  std::vector<std::string> paths;
};

std::uint64_t policy_faults::add(const std::string& kind, const std::string& name, const std::string& fault) {
  std::lock_guard<std::mutex> lock{mutex_};
  return ++counts_[kind + "/" + name + "/" + fault];
}

std::map<std::string, std::uint64_t> policy_faults::counts() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return counts_;
}

const std::vector<std::string>& runtime_policy_kinds() {
  static const std::vector<std::string> kinds = {"admission", "dispatch", "batching", "eviction"};
  return kinds;
}

namespace {

/// What sy_register_policies writes into: checked, then committed by load_plugin.
class staging_registry final : public plugin_registry {
public:
  staging_registry(const policy_registry& host, std::shared_ptr<plugin_library> lib)
    : host_(host), lib_(std::move(lib)) {}

  void add_admission(const std::string& name, policy_factory<admission_fn> f) override { add("admission", name, std::move(f), admission); }
  void add_dispatch(const std::string& name, policy_factory<dispatch_fn> f) override { add("dispatch", name, std::move(f), dispatch); }
  void add_batching(const std::string& name, policy_factory<batching_fn> f) override { add("batching", name, std::move(f), batching); }
  void add_eviction(const std::string& name, policy_factory<eviction_fn> f) override { add("eviction", name, std::move(f), eviction); }
  void add_replacement(const std::string& name, policy_factory<replacement_fn> f) override {
    add("replacement", name, std::move(f), replacement);
  }

  plugin_table<admission_fn> admission;
  plugin_table<dispatch_fn> dispatch;
  plugin_table<batching_fn> batching;
  plugin_table<eviction_fn> eviction;
  plugin_table<replacement_fn> replacement;
  std::vector<std::string> problems;
  std::size_t count = 0;

private:
  template <class Fn>
  void add(const std::string& kind, const std::string& name, policy_factory<Fn> f, plugin_table<Fn>& into) {
    ++count;
    auto origin = host_.origin(kind, name);
    if (name.empty())
      problems.push_back("registers a " + kind + " policy with an empty name");
    else if (!f)
      problems.push_back("registers " + kind + " policy \"" + name + "\" without a factory");
    else if (origin == "built-in")
      problems.push_back("registers " + kind + " policy \"" + name + "\", which clashes with the built-in of that name");
    else if (!origin.empty())
      problems.push_back("registers " + kind + " policy \"" + name + "\", which " + origin + " registered already");
    else if (!into.emplace(name, plugin_entry<Fn>{lib_, std::move(f)}).second)
      problems.push_back("registers " + kind + " policy \"" + name + "\" twice");
  }

  const policy_registry& host_;
  std::shared_ptr<plugin_library> lib_;
};

bool has_elf_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

/// The built-in default of a kind (config's default), what a faulty plug-in policy falls back to.
template <class Fn>
Fn fallback_of();
template <>
admission_fn fallback_of<admission_fn>() { return *make_admission(config::policies_config{}.admission.name); }
template <>
dispatch_fn fallback_of<dispatch_fn>() { return *make_dispatch(config::policies_config{}.dispatch.name); }
template <>
batching_fn fallback_of<batching_fn>() { return *make_batching(config::policies_config{}.batching.name); }
template <>
eviction_fn fallback_of<eviction_fn>() { return *make_eviction(config::policies_config{}.eviction.name); }
template <>
replacement_fn fallback_of<replacement_fn>() { return *make_replacement("none"); } // keep the placement

template <class Fn>
result<Fn> from_plugin(const plugin_entry<Fn>& e, const std::string& kind, const std::string& name,
                       const policy_numbers& params, const std::shared_ptr<policy_faults>& faults) {
  auto refused = [&](const std::string& why) {
    return make_error("policy", kind + ": plug-in policy \"" + name + "\" (" + e.library->path + ") " + why);
  };
  made<Fn> m;
  try {
    m = e.factory(params);
  } catch (const std::exception& ex) {
    return refused(std::string{"threw while being built: "} + ex.what());
  } catch (...) {
    return refused("threw while being built");
  }
  if (!m.error.empty())
    return refused("refused its parameters: " + m.error);
  if (!m.policy)
    return refused("returned no policy");
  return internal::guard(internal::guard_context{e.library, name, faults}, std::move(m.policy), fallback_of<Fn>());
}

template <class Fn>
result<Fn> make_kind(const plugin_table<Fn>& table, const std::string& kind,
                     const std::string& name, const policy_numbers& params,
                     result<Fn> (*builtin)(const std::string&, const policy_numbers&),
                     const std::shared_ptr<policy_faults>& faults, const policy_registry& reg) {
  if (auto it = table.find(name); it != table.end())
    return from_plugin(it->second, kind, name, params, faults);
  auto names = runtime_policy_names(kind);
  if (std::find(names.begin(), names.end(), name) != names.end())
    return builtin(name, params);
  std::string known;
  for (const auto& n : reg.names(kind))
    known += (known.empty() ? "" : ", ") + n;
  return make_error("policy", kind + ": expected one of " + known + ", found \"" + name + "\"");
}

} // namespace

policy_registry::policy_registry()
  : tables_(std::make_shared<tables>()), faults_(std::make_shared<policy_faults>()) {}

status policy_registry::load_plugin(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return plugin_error(path, "no such file");
  if (!std::filesystem::is_regular_file(path, ec))
    return plugin_error(path, "not a regular file");
  if (!has_elf_header(path))
    return plugin_error(path, "not a shared library (no ELF header)");
  auto lib = std::make_shared<plugin_library>();
  // absolute: dlopen would search the library path for a name without a slash
  lib->path = std::filesystem::absolute(path, ec).lexically_normal().string();
  dlerror();
  lib->handle = dlopen(lib->path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib->handle) {
    const char* why = dlerror();
    return plugin_error(path, std::string{"cannot be loaded as a shared library: "} + (why ? why : "unknown dlopen error"));
  }
  using abi_fn = int (*)();
  using register_fn = int (*)(plugin_registry*, int);
  auto abi = reinterpret_cast<abi_fn>(dlsym(lib->handle, "sy_policy_plugin_abi"));
  if (!abi)
    return plugin_error(path, "missing entry symbol sy_policy_plugin_abi (not a switchyard policy plug-in? "
                              "define it with SY_POLICY_PLUGIN from policies/plugin_api.hpp)");
  int version = abi();
  if (version != plugin_abi_version)
    return plugin_error(path, "built for policy plug-in ABI version " + std::to_string(version)
                                + ", this switchyard speaks version " + std::to_string(plugin_abi_version)
                                + " (rebuild it against this switchyard's headers)");
  auto reg = reinterpret_cast<register_fn>(dlsym(lib->handle, "sy_register_policies"));
  if (!reg)
    return plugin_error(path, "missing entry symbol sy_register_policies");
  staging_registry staging{*this, lib};
  int rc = 0;
  try {
    rc = reg(&staging, plugin_abi_version);
  } catch (...) {
    rc = -1;
  }
  if (rc != 0)
    return plugin_error(path, "sy_register_policies failed (returned " + std::to_string(rc) + ")");
  if (!staging.problems.empty())
    return plugin_error(path, staging.problems.front());
  if (staging.count == 0)
    return plugin_error(path, "registers no policy");
  tables_->admission.merge(staging.admission);
  tables_->dispatch.merge(staging.dispatch);
  tables_->batching.merge(staging.batching);
  tables_->eviction.merge(staging.eviction);
  tables_->replacement.merge(staging.replacement);
  tables_->paths.push_back(lib->path);
  return {};
}

namespace {

/// Starts an isolated plug-in's host on first use (check-config lists names without starting one).
struct lazy_host {
  isolation::policy_host_options options;
  std::mutex mutex;
  std::shared_ptr<isolation::policy_host> host;

  std::shared_ptr<isolation::policy_host> get() {
    std::lock_guard<std::mutex> lock{mutex};
    if (!host) {
      host = isolation::policy_host::start(options);
      host->wait_ready(options.start_timeout); // else the first decisions find it "unavailable"
    }
    return host;
  }
};

template <class Fn>
struct reply_of;
template <>
struct reply_of<admission_fn> {
  static auto decode(const std::string& t) { return isolation::decode_admission(t); }
};
template <>
struct reply_of<dispatch_fn> {
  static auto decode(const std::string& t) { return isolation::decode_dispatch(t); }
};
template <>
struct reply_of<batching_fn> {
  static auto decode(const std::string& t) { return isolation::decode_batching(t); }
};
template <>
struct reply_of<eviction_fn> {
  static auto decode(const std::string& t) { return isolation::decode_eviction(t); }
};
template <>
struct reply_of<replacement_fn> {
  static auto decode(const std::string& t) { return isolation::decode_replacement(t); }
};

/// A factory whose policies decide in the host: encode the view, call, decode (faults throw; the guard that
/// from_plugin puts around it counts them and lets the built-in decide).
template <class Fn>
policy_factory<Fn> isolated_factory(std::shared_ptr<lazy_host> lazy, std::string kind, std::string name) {
  return [lazy, kind, name](const policy_numbers& params) -> made<Fn> {
    auto host = lazy->get();
    return made<Fn>{[host, kind, name, params](const auto& view) {
      auto reply = host->call(isolation::encode_request(kind, name, params, view));
      auto d = reply_of<Fn>::decode(reply);
      if (!d)
        throw isolation::isolated_fault("error", "its policy host's reply: " + d.err().message);
      return *d;
    }, {}};
  };
}

} // namespace

status policy_registry::load_isolated_plugin(const std::string& path, std::chrono::milliseconds deadline) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return plugin_error(path, "no such file");
  if (!std::filesystem::is_regular_file(path, ec))
    return plugin_error(path, "not a regular file");
  if (!has_elf_header(path))
    return plugin_error(path, "not a shared library (no ELF header)");
  auto lib = std::make_shared<plugin_library>(); // no handle: the library lives in the host
  lib->path = std::filesystem::absolute(path, ec).lexically_normal().string();
  auto exe = isolation::policy_host_exe();
  if (exe.empty())
    return plugin_error(path, "isolate: cannot find the switchyard executable to run `switchyard policy-host` "
                              "(set SWITCHYARD_POLICY_HOST)");
  auto listed = isolation::list_isolated_policies(exe, lib->path);
  if (!listed)
    return plugin_error(path, listed.err().message);
  auto lazy = std::make_shared<lazy_host>();
  lazy->options.plugin = lib->path;
  lazy->options.exe = exe;
  lazy->options.deadline = deadline;
  staging_registry staging{*this, lib};
  for (const auto& [kind, name] : *listed) {
    if (kind == "admission")
      staging.add_admission(name, isolated_factory<admission_fn>(lazy, kind, name));
    else if (kind == "dispatch")
      staging.add_dispatch(name, isolated_factory<dispatch_fn>(lazy, kind, name));
    else if (kind == "batching")
      staging.add_batching(name, isolated_factory<batching_fn>(lazy, kind, name));
    else if (kind == "eviction")
      staging.add_eviction(name, isolated_factory<eviction_fn>(lazy, kind, name));
    else if (kind == "replacement")
      staging.add_replacement(name, isolated_factory<replacement_fn>(lazy, kind, name));
    else
      return plugin_error(path, "its policy host listed an unknown kind \"" + kind + "\"");
  }
  if (!staging.problems.empty())
    return plugin_error(path, staging.problems.front());
  if (staging.count == 0)
    return plugin_error(path, "registers no policy");
  tables_->admission.merge(staging.admission);
  tables_->dispatch.merge(staging.dispatch);
  tables_->batching.merge(staging.batching);
  tables_->eviction.merge(staging.eviction);
  tables_->replacement.merge(staging.replacement);
  tables_->paths.push_back(lib->path);
  return {};
}

result<admission_fn> policy_registry::make_admission(const std::string& name, const policy_numbers& params) const {
  return make_kind<admission_fn>(tables_->admission, "admission", name, params, &policies::make_admission,
                                 faults_, *this);
}
result<dispatch_fn> policy_registry::make_dispatch(const std::string& name, const policy_numbers& params) const {
  return make_kind<dispatch_fn>(tables_->dispatch, "dispatch", name, params, &policies::make_dispatch,
                                faults_, *this);
}
result<batching_fn> policy_registry::make_batching(const std::string& name, const policy_numbers& params) const {
  return make_kind<batching_fn>(tables_->batching, "batching", name, params, &policies::make_batching,
                                faults_, *this);
}
result<eviction_fn> policy_registry::make_eviction(const std::string& name, const policy_numbers& params) const {
  return make_kind<eviction_fn>(tables_->eviction, "eviction", name, params, &policies::make_eviction,
                                faults_, *this);
}

result<replacement_fn> policy_registry::make_replacement(const std::string& name, const policy_numbers& params) const {
  return make_kind<replacement_fn>(tables_->replacement, "replacement", name, params, &policies::make_replacement,
                                   faults_, *this);
}

result<runtime_policy> policy_registry::make(const std::string& kind, const std::string& name,
                                             const policy_numbers& params) const {
  auto wrap = [](auto r) -> result<runtime_policy> {
    if (!r)
      return r.err();
    return runtime_policy{std::move(*r)};
  };
  if (kind == "admission")
    return wrap(make_admission(name, params));
  if (kind == "dispatch")
    return wrap(make_dispatch(name, params));
  if (kind == "batching")
    return wrap(make_batching(name, params));
  if (kind == "eviction")
    return wrap(make_eviction(name, params));
  return make_error("policy", "expected a policy kind (admission, dispatch, batching, eviction), found \"" + kind + "\"");
}

std::vector<std::string> policy_registry::names(const std::string& kind) const {
  auto out = runtime_policy_names(kind);
  auto add = [&](const auto& table) {
    for (const auto& [name, e] : table)
      out.push_back(name);
  };
  if (kind == "admission")
    add(tables_->admission);
  else if (kind == "dispatch")
    add(tables_->dispatch);
  else if (kind == "batching")
    add(tables_->batching);
  else if (kind == "eviction")
    add(tables_->eviction);
  else if (kind == "replacement")
    add(tables_->replacement);
  return out;
}

std::string policy_registry::origin(const std::string& kind, const std::string& name) const {
  auto builtin = runtime_policy_names(kind);
  if (std::find(builtin.begin(), builtin.end(), name) != builtin.end())
    return "built-in";
  auto find = [&](const auto& table) -> std::string {
    auto it = table.find(name);
    return it == table.end() ? std::string{} : it->second.library->path;
  };
  if (kind == "admission")
    return find(tables_->admission);
  if (kind == "dispatch")
    return find(tables_->dispatch);
  if (kind == "batching")
    return find(tables_->batching);
  if (kind == "eviction")
    return find(tables_->eviction);
  if (kind == "replacement")
    return find(tables_->replacement);
  return {};
}

std::vector<std::string> policy_registry::plugins() const {
  return tables_->paths;
}

} // namespace sy::policies
