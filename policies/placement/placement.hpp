#pragma once
// A placement: groups of devices, each with one parallel config and the models it hosts (replicas).
// Produced by the placement policies (`switchyard plan`), consumed by the simulator and by `switchyard up`.
#include <string>
#include <vector>

#include "policies/profile.hpp"

namespace sy::policies {

struct group_placement {
  parallel_config config;
  std::vector<int> devices; // global device indices (size config.gpus()); empty in pure simulation
  std::vector<int> models;  // indices into the workload's model list
};

struct placement {
  std::vector<std::string> model_names; // index -> name
  std::vector<group_placement> groups;
  int replicas() const {
    int n = 0;
    for (const auto& g : groups)
      n += static_cast<int>(g.models.size());
    return n;
  }
};

/// A placement that changes over time (Clockwork++ re-placement, `sr-replace-X`): placements[i] holds from
/// start_times[i] on (compat window rule in sim/: a request exactly at start_times[i+1] still belongs to
/// window i). A plain placement is a schedule with one entry and start time 0.
struct placement_schedule {
  std::vector<double> start_times;
  std::vector<placement> placements;
};

/// What the placement search needs from a simulator: score a candidate on the planning workload.
/// Implemented in sim/ (the fast simulator); policies/ never depends on sim/ (layer order).
struct evaluation {
  double attainment = 0;              // good / all
  double mean_latency = 0;            // dropped requests count as 0 (compat)
  std::vector<double> model_attainment; // [model]
  std::vector<long> model_requests;     // [model]
  std::vector<long> group_requests;     // [group] requests dispatched to the group, dropped ones included
  std::vector<long> model_good;         // [model] good requests (added by sim: the greedy's compat order needs counts)
  long requests = 0;                    // all requests of the evaluated trace (those of excluded models included)
  long good = 0;
  double score(int replicas) const { return attainment - mean_latency / 1e4 + replicas / 1e6; }
};

class placement_evaluator {
public:
  virtual ~placement_evaluator() = default;
  virtual evaluation evaluate(const placement& p) = 0;
};

} // namespace sy::policies
