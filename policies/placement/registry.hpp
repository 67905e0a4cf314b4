#pragma once
// The registry of placement policies: names -> factories (STYLE.md: an open set of policies is a registry of
// named factories; config names pick them). Names: mp-search, mp-search-sep, sr-greedy, sr-replace-<seconds>,
// mp-round-robin, mp-greedy-<k>, swap-aware. Thread-safe: the table is built once and never changes.
#include <functional>
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "policies/placement/problem.hpp"

namespace sy::policies {

/// A named policy: a value with a pure call operator. The call assigns devices to the result's groups.
struct placement_policy {
  std::string name;
  std::function<result<placement_schedule>(const placement_problem&)> solve;
  result<placement_schedule> operator()(const placement_problem& pb) const;
};

/// An unknown name is an error that lists the known ones.
result<placement_policy> make_placement_policy(const std::string& name);
/// The known names (parameterised ones as patterns, e.g. "sr-replace-<seconds>").
std::vector<std::string> placement_policy_names();

} // namespace sy::policies
