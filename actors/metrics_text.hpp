#pragma once
// Prometheus text for the controller's metrics snapshot (messages/control.hpp): requests by model and
// status, latency histograms, queue depths, swaps per device (count, bytes, seconds), resident models,
// rejections by reason. Pure function; any thread.
#include <string>

#include "messages/control.hpp"

namespace sy::actors {

std::string render_snapshot(const messages::metrics_snapshot& s);

} // namespace sy::actors
