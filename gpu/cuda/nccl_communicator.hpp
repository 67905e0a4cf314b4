#pragma once
// NCCL communicators for one tensor-parallel group of GPUs in this process (private to libsy_cuda.so).
//
// The problem: the engine enqueues a whole forward for rank 0, then for rank 1, ... from ONE thread, but an
// NCCL collective issued for one rank of a single-thread group may block the host until the other ranks
// arrive (NCCL requires ncclGroupStart/End when one thread drives several devices).
//
// The solution, without ever blocking the caller or the host: all_reduce_sum on rank r
//   1. records an event `ready` on the caller's stream s (the reduction's input is complete there),
//   2. enqueues on s a device-side wait until the rank's flag (pinned, mapped host memory) reaches the
//      collective's sequence number (cuStreamWaitValue32), so later work on s runs after the reduction,
//   3. hands (data, count, type, ready) to the group's issuer thread and returns.
// The issuer thread, once every rank has posted its k-th collective, issues them in one
// ncclGroupStart/End: each on the rank's NCCL stream after waiting for `ready`, then writes the flag
// (cuStreamWriteValue32, with a memory fence) on that stream. Collectives of a group run in posting order.
// Ownership: the group state is shared by the communicators of one group; the last one destroyed stops the
// issuer (after draining posted work) and destroys the NCCL communicators.
#include <memory>
#include <vector>

#include "gpu/cuda/cuda_device.hpp"

namespace sy::gpu::cuda {

/// Creates one communicator per device (rank i = devs[i]). A group of one needs no NCCL (no-op reduce).
result<std::vector<std::unique_ptr<communicator>>> make_nccl_communicators(std::vector<cuda_device*> devs);

} // namespace sy::gpu::cuda
