#include "policies/replacement/replacement.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sy::policies {

namespace {

std::string fmt2(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

replacement_decision apply_if_better(const replacement_view& v, double margin) {
  if (v.candidate_score > v.served_score + margin)
    return {true, "predicted attainment " + fmt2(v.candidate_score) + " > " + fmt2(v.served_score) + " + margin "
                    + fmt2(margin)};
  return {false, "predicted attainment " + fmt2(v.candidate_score) + " does not beat " + fmt2(v.served_score)
                   + " by more than " + fmt2(margin)};
}

double total(const std::map<std::string, double>& m) {
  double t = 0;
  for (const auto& [k, x] : m)
    t += x;
  return t;
}

} // namespace

std::pair<double, std::string> rate_drift(const std::map<std::string, double>& observed,
                                          const std::map<std::string, double>& assumed) {
  const double floor = std::max(0.05 * total(assumed), 1e-9);
  std::pair<double, std::string> worst{0.0, ""};
  auto consider = [&](const std::string& m) {
    auto o = observed.find(m);
    auto a = assumed.find(m);
    const double ov = o == observed.end() ? 0 : o->second;
    const double av = a == assumed.end() ? 0 : a->second;
    const double d = std::fabs(ov - av) / std::max(av, floor);
    if (d > worst.first)
      worst = {d, m};
  };
  for (const auto& [m, x] : observed)
    consider(m);
  for (const auto& [m, x] : assumed)
    consider(m);
  return worst;
}

replacement_decision windowed_replacement_policy::operator()(const replacement_view& v) const {
  if (v.has_candidate)
    return apply_if_better(v, margin);
  if (v.since_replan_s < interval_s)
    return {false, "next window in " + fmt2(interval_s - v.since_replan_s) + " s"};
  if (total(v.observed_rps) <= 0)
    return {false, "no arrivals in the last window"};
  return {true, "window of " + fmt2(v.window_s) + " s elapsed"};
}

replacement_decision drift_replacement_policy::operator()(const replacement_view& v) const {
  if (v.has_candidate)
    return apply_if_better(v, margin);
  if (v.since_replan_s < min_interval_s)
    return {false, "the last re-plan was " + fmt2(v.since_replan_s) + " s ago (min_interval_s " + fmt2(min_interval_s) + ")"};
  if (total(v.observed_rps) <= 0)
    return {false, "no arrivals in the last window"};
  if (v.assumed_rps.empty())
    return {true, "the served plan's rates are unknown"};
  auto [d, model] = rate_drift(v.observed_rps, v.assumed_rps);
  if (d > threshold)
    return {true, "model " + model + " drifted " + fmt2(d) + " from the plan's rate (threshold " + fmt2(threshold) + ")"};
  return {false, "largest drift " + fmt2(d) + " (threshold " + fmt2(threshold) + ")"};
}

} // namespace sy::policies
