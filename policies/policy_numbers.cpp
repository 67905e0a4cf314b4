#include "policies/policy_numbers.hpp"

namespace sy::policies {

policy_numbers numbers_of(const config::policy_params& p) {
  policy_numbers out;
  for (const auto& [k, v] : p) {
    if (auto* i = std::get_if<std::int64_t>(&v))
      out[k] = static_cast<double>(*i);
    else if (auto* d = std::get_if<double>(&v))
      out[k] = *d;
    else if (auto* b = std::get_if<bool>(&v))
      out[k] = *b ? 1 : 0;
  }
  return out;
}

} // namespace sy::policies
