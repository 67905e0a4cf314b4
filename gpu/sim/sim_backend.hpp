#pragma once
// The sim backend (DESIGN §3, issue 11 §3): devices whose cost is exactly a profile's, so that the real
// runtime (actors, policies, batching, swapping) runs against devices that behave like the simulator's.
//
// A sim device has a memory budget (allocations are lazily backed anonymous mappings: zero pages, so that a
// large model's weights cost no host memory until written, and nothing is ever written), streams, events and
// completion callbacks with the cpu backend's semantics (a worker thread per stream), and ops that take no
// time and compute nothing: copies to the device are dropped, copies to the host write zeros (outputs are
// zeros of the right shape). The time comes from device::simulate, which the stage executor calls for each
// stage forward (compute stream) and shard load (copy stream): the stream's thread sleeps for the profiled
// time of that (model, tp, pp, stage) at that batch size, or the stage's load seconds.
//
// Batch sizes between the profiled ones (1, 2, 4, 8, 16) take the time of the next profiled size up (the
// simulator forms only profiled sizes); beyond the largest profiled size the time grows linearly. Work with
// no entry in the table fails the stream (a device error naming the model and config).
//
// Threads: as gpu/device.hpp. The cost table is immutable and shared.
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "gpu/backend.hpp"

namespace sy::gpu {

struct sim_stage_costs {
  std::vector<std::vector<double>> latency; // [batch row: 1, 2, 4, 8, 16 prefix][stage] seconds
  std::vector<double> load_seconds;         // [stage]; empty: loads take no time
};

struct sim_cost_table {
  std::map<std::tuple<std::string, int, int>, sim_stage_costs> entries; // (model, tp, pp)
  /// Seconds of `w` (forward: its stage at its batch size; load: its stage's load); error when the table
  /// has no entry for it.
  result<double> seconds(const stage_work& w) const;
};

} // namespace sy::gpu
