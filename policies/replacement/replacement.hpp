#pragma once
// Re-placement (issue 11 §2, DESIGN.md §4): when to re-plan the placement while serving, and whether to apply
// the plan it found. Pure value types over a snapshot the controller takes (per-model arrival rates over the
// last window, the rates the served plan assumed, the planner's predicted scores); no clocks, no I/O. The
// controller asks twice: without a candidate ("re-plan now?"), then with the planner's candidate ("apply
// it?"). Header-only types, std only (plug-ins compile against it). Any thread.
#include <map>
#include <string>

namespace sy::policies {

struct replacement_view {
  double since_replan_s = 0; // seconds since the last re-plan (or since the cluster was ready)
  double window_s = 0;       // the window the observed rates cover
  std::map<std::string, double> observed_rps; // per model, requests/s over the last window (absent: none)
  std::map<std::string, double> assumed_rps;  // per model, what the served plan was made for (empty: unknown)
  bool has_candidate = false; // false: re-plan now? true: apply the candidate?
  double served_score = 0;    // predicted SLO attainment of the placement served, on the window's rates
  double candidate_score = 0; // predicted SLO attainment of the candidate, on the same rates
};

struct replacement_decision {
  bool act = false;   // re-plan now / apply the candidate
  std::string reason; // for the log and GET /v2/placement
};

/// `windowed` (AlpaServe's sr-replace, Clockwork++): re-plan every `interval_s` on the last window's rates;
/// apply when the candidate's predicted attainment beats the served one by more than `margin`.
struct windowed_replacement_policy {
  double interval_s = 30;
  double margin = 0.02;
  replacement_decision operator()(const replacement_view& v) const;
};

/// `drift`: re-plan when a model's observed rate leaves the rate the served plan assumed by more than
/// `threshold` (relative, against max(assumed, 5% of the assumed total)), at most every `min_interval_s`;
/// apply like windowed (with `margin`). Without assumed rates (unknown) the first check re-plans.
struct drift_replacement_policy {
  double threshold = 0.5;
  double min_interval_s = 10;
  double margin = 0.02;
  replacement_decision operator()(const replacement_view& v) const;
};

/// `none`: never re-plans (the fallback of a faulty plug-in).
struct no_replacement_policy {
  replacement_decision operator()(const replacement_view&) const { return {false, "re-placement is off"}; }
};

/// The largest relative departure of an observed rate from its assumed one (see drift), and its model.
std::pair<double, std::string> rate_drift(const std::map<std::string, double>& observed,
                                          const std::map<std::string, double>& assumed);

} // namespace sy::policies
