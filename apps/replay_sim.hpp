#pragma once
// `switchyard replay --simulate`: the replay's trace through the fast simulator (sim/) instead of a live
// cluster, on the config's placement (actors::runtime_placement: the groups `up` would build), so that the
// per-request CSV and the summary JSON compare one to one with a live replay of the same trace.
#include "apps/commands.hpp"
#include "apps/replay/driver.hpp"
#include "config/cluster_config.hpp"
#include "messages/result.hpp"
#include "sim/workload.hpp"

namespace sy::apps {

/// Records in trace order, as the live driver returns them (group names, status names, client-side times
/// from the trace start); wall_s is the simulator's run time. Errors: profile/hardware inputs, a placement
/// that does not fit, a trace model the profile lacks.
result<driver::driver_result> simulate_replay(const replay_options& o, const config::cluster_config& cfg,
                                              const sim::trace& trace);

} // namespace sy::apps
