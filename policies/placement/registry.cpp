#include "policies/placement/registry.hpp"

#include <cstdlib>
#include <map>

#include "policies/placement/greedy.hpp"
#include "policies/placement/search.hpp"

namespace sy::policies {

namespace {

using factory = std::function<result<placement_policy>(const std::string& name, const std::string& arg)>;

struct entry {
  bool parameterised;
  std::string pattern;
  factory make;
};

template <class Policy>
placement_policy wrap(std::string name, Policy p) {
  return placement_policy{std::move(name), [p](const placement_problem& pb) { return p(pb); }};
}

const std::map<std::string, entry>& table() {
  static const std::map<std::string, entry> t = {
      {"mp-search", {false, "mp-search", [](const std::string& n, const std::string&) -> result<placement_policy> {
                       return wrap(n, mp_search_policy{false});
                     }}},
      {"mp-search-sep", {false, "mp-search-sep", [](const std::string& n, const std::string&) -> result<placement_policy> {
                           return wrap(n, mp_search_policy{true});
                         }}},
      {"sr-greedy", {false, "sr-greedy", [](const std::string& n, const std::string&) -> result<placement_policy> {
                       return wrap(n, sr_greedy_policy{});
                     }}},
      {"mp-round-robin", {false, "mp-round-robin", [](const std::string& n, const std::string&) -> result<placement_policy> {
                            return wrap(n, mp_round_robin_policy{});
                          }}},
      {"swap-aware", {false, "swap-aware", [](const std::string& n, const std::string&) -> result<placement_policy> {
                        return wrap(n, swap_aware_policy{});
                      }}},
      {"sr-replace-", {true, "sr-replace-<seconds>", [](const std::string& n, const std::string& a) -> result<placement_policy> {
                         char* end = nullptr;
                         const double s = std::strtod(a.c_str(), &end);
                         if (a.empty() || *end != '\0' || !(s > 0))
                           return make_error("placement", "policy '" + n + "': expected sr-replace-<seconds> with seconds > 0");
                         return wrap(n, sr_replace_policy{s});
                       }}},
      {"mp-greedy-", {true, "mp-greedy-<k>", [](const std::string& n, const std::string& a) -> result<placement_policy> {
                        char* end = nullptr;
                        const long k = std::strtol(a.c_str(), &end, 10);
                        if (a.empty() || *end != '\0' || k < 1 || k > 1024)
                          return make_error("placement", "policy '" + n + "': expected mp-greedy-<k> with k >= 1");
                        return wrap(n, mp_greedy_policy{static_cast<int>(k)});
                      }}},
  };
  return t;
}

} // namespace

result<placement_schedule> placement_policy::operator()(const placement_problem& pb) const {
  auto r = solve(pb);
  if (!r)
    return r;
  for (auto& p : r->placements) {
    if (pb.profiles)
      p.model_names = pb.profiles->model_names();
    assign_devices(p);
  }
  return r;
}

result<placement_policy> make_placement_policy(const std::string& name) {
  for (const auto& [key, e] : table()) {
    if (!e.parameterised && name == key)
      return e.make(name, "");
    if (e.parameterised && name.size() > key.size() && name.compare(0, key.size(), key) == 0)
      return e.make(name, name.substr(key.size()));
  }
  std::string known;
  for (const auto& n : placement_policy_names())
    known += (known.empty() ? "" : ", ") + n;
  return make_error("placement", "unknown placement policy '" + name + "' (known: " + known + ")");
}

std::vector<std::string> placement_policy_names() {
  std::vector<std::string> v;
  for (const auto& [key, e] : table())
    v.push_back(e.pattern);
  return v;
}

} // namespace sy::policies
