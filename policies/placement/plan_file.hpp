#pragma once
// The plan file (YAML): what `switchyard plan` writes and `switchyard simulate` / `switchyard up` read.
//
//   policy: mp-search            # informational
//   devices: 8
//   mem_budget_bytes: 13958643712
//   expected_attainment: 0.97    # on the planning trace, untrimmed (informational)
//   slo_scale: 5                 # SLO = scale x single-device latency it was made for (informational)
//   models: [bert-1.3b-0, bert-1.3b-1]
//   windows:                     # one entry unless the policy re-places over time (sr-replace-X)
//     - start: 0
//       groups:
//         - {op: 1, pp: 2, devices: [0, 1], models: [bert-1.3b-0, bert-1.3b-1]}
//
// A file with top-level `groups:` instead of `windows:` is one window starting at 0. Models in groups are
// names from `models`. Errors name the file, line and column, the key, what was expected and what was found.
#include <string>

#include "messages/result.hpp"
#include "policies/placement/placement.hpp"

namespace sy::policies {

struct plan_file {
  std::string policy;
  int devices = 0;
  double mem_budget_bytes = 0;
  double expected_attainment = -1; // < 0: unknown
  double slo_scale = 0;            // the SLO scale the plan was made for (models without slo_ms); 0: unknown
  placement_schedule schedule;     // placements carry model_names = models
};

std::string to_yaml(const plan_file& p);
result<plan_file> parse_plan(const std::string& text, const std::string& source = "<plan>");
result<plan_file> load_plan(const std::string& path);
[[nodiscard]] status save_plan(const std::string& path, const plan_file& p);

} // namespace sy::policies
