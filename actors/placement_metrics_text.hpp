#pragma once
// Prometheus text of the re-placement metrics (issue 11 §2) in a controller snapshot: re-plans by policy and
// outcome, migrations, models moved, bytes loaded, time to converge. Pure function; any thread.
#include <string>

#include "messages/control.hpp"

namespace sy::actors {

std::string render_placement_metrics(const messages::metrics_snapshot& s);

} // namespace sy::actors
