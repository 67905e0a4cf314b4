#include "gpu/cuda/nccl_communicator.hpp"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

#include <cuda.h>
#include <nccl.h>

#include "messages/logging.hpp"

namespace sy::gpu::cuda {
namespace {

ncclDataType_t nccl_type(dtype t) {
  switch (t) {
    case dtype::f32: return ncclFloat32;
    case dtype::f16: return ncclFloat16;
    case dtype::bf16: return ncclBfloat16;
  }
  return ncclFloat32;
}

// Stream memory operations from the driver, looked up through the runtime (cudaGetDriverEntryPointByVersion),
// so that libsy_cuda.so does not link libcuda.so.1 and loads (and reports "no GPU") where no driver exists.
using wait_value_fn = CUresult (*)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);
using write_value_fn = CUresult (*)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);

struct driver_fns {
  wait_value_fn wait = nullptr;
  write_value_fn write = nullptr;
};

result<driver_fns> load_driver_fns() {
  driver_fns f;
  void* p = nullptr;
  cudaDriverEntryPointQueryResult q{};
  if (auto e = cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", &p, 12000, cudaEnableDefault, &q);
      e != cudaSuccess || q != cudaDriverEntryPointSuccess || p == nullptr)
    return make_error("cuda", "the CUDA driver has no cuStreamWaitValue32 (needed by the tensor-parallel "
                              "communicator)");
  f.wait = reinterpret_cast<wait_value_fn>(p);
  p = nullptr;
  if (auto e = cudaGetDriverEntryPointByVersion("cuStreamWriteValue32", &p, 12000, cudaEnableDefault, &q);
      e != cudaSuccess || q != cudaDriverEntryPointSuccess || p == nullptr)
    return make_error("cuda", "the CUDA driver has no cuStreamWriteValue32 (needed by the tensor-parallel "
                              "communicator)");
  f.write = reinterpret_cast<write_value_fn>(p);
  return f;
}

struct posted_op {
  void* data = nullptr;
  std::size_t count = 0;
  dtype type = dtype::f32;
  cudaEvent_t ready = nullptr;
  std::uint32_t seq = 0;
};

struct group_state {
  std::vector<cuda_device*> devs;
  std::vector<ncclComm_t> comms;
  std::vector<cudaStream_t> nccl_streams;
  std::uint32_t* flags = nullptr;        // pinned, mapped host memory, one per rank
  std::vector<CUdeviceptr> flag_dev;     // device addresses of flags[r]
  driver_fns drv;
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::deque<posted_op>> queues;
  std::vector<std::uint32_t> posted;     // collectives posted per rank
  bool stopping = false;
  std::thread issuer;

  ~group_state() {
    {
      std::lock_guard<std::mutex> g{mutex};
      stopping = true;
    }
    cv.notify_all();
    if (issuer.joinable())
      issuer.join();
    // Collectives posted by some ranks but never by all (a caller bug) would leave their streams waiting
    // forever: release them (their reductions did not happen).
    if (flags)
      for (std::size_t r = 0; r < devs.size(); ++r)
        reinterpret_cast<volatile std::uint32_t*>(flags)[r] = posted[r];
    for (std::size_t r = 0; r < devs.size(); ++r) {
      cudaSetDevice(devs[r]->index());
      if (r < nccl_streams.size() && nccl_streams[r]) {
        cudaStreamSynchronize(nccl_streams[r]);
        cudaStreamDestroy(nccl_streams[r]);
      }
      if (r < comms.size() && comms[r])
        ncclCommDestroy(comms[r]);
      for (auto& op : queues[r]) // posted but never matched by the other ranks (a caller bug)
        cudaEventDestroy(op.ready);
    }
    if (flags)
      cudaFreeHost(flags);
  }

  void fail_all(const std::string& message) {
    logger("cuda")->error("tensor-parallel group of {} GPUs: {}", devs.size(), message);
  }

  void run() {
    std::unique_lock<std::mutex> lock{mutex};
    for (;;) {
      cv.wait(lock, [&] {
        if (stopping)
          return true;
        for (auto& q : queues)
          if (q.empty())
            return false;
        return true;
      });
      bool all = true;
      for (auto& q : queues)
        all = all && !q.empty();
      if (!all)
        return; // stopping, nothing complete left to issue
      std::vector<posted_op> ops;
      for (auto& q : queues) {
        ops.push_back(q.front());
        q.pop_front();
      }
      lock.unlock();
      issue(ops);
      lock.lock();
    }
  }

  void issue(const std::vector<posted_op>& ops) {
    for (std::size_t r = 0; r < ops.size(); ++r) {
      cudaSetDevice(devs[r]->index());
      cudaStreamWaitEvent(nccl_streams[r], ops[r].ready, 0);
    }
    ncclGroupStart();
    for (std::size_t r = 0; r < ops.size(); ++r) {
      cudaSetDevice(devs[r]->index());
      ncclAllReduce(ops[r].data, ops[r].data, ops[r].count, nccl_type(ops[r].type), ncclSum, comms[r],
                    nccl_streams[r]);
    }
    const ncclResult_t res = ncclGroupEnd();
    for (std::size_t r = 0; r < ops.size(); ++r) {
      cudaSetDevice(devs[r]->index());
      // Release the waiting compute stream even if NCCL failed, so that nothing hangs; the failure is
      // reported through the devices' health (sticky CUDA error) or the log of the caller.
      drv.write(reinterpret_cast<CUstream>(nccl_streams[r]), flag_dev[r], ops[r].seq,
                           CU_STREAM_WRITE_VALUE_DEFAULT);
      cudaEventDestroy(ops[r].ready);
    }
    if (res != ncclSuccess)
      fail_all(std::string{"ncclAllReduce: "} + ncclGetErrorString(res));
  }
};

class nccl_communicator final : public communicator {
public:
  nccl_communicator(std::shared_ptr<group_state> g, int rank) : g_(std::move(g)), rank_(rank) {}
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return static_cast<int>(g_->devs.size()); }
  device& dev() const noexcept override { return *g_->devs[static_cast<std::size_t>(rank_)]; }

  status all_reduce_sum(void* data, std::size_t count, dtype type, stream s) override {
    auto* d = g_->devs[static_cast<std::size_t>(rank_)];
    if (data == nullptr || count == 0)
      return make_error("device", d->name() + ": all_reduce_sum needs data and a positive count");
    auto cs = d->native(s);
    if (!cs)
      return cs.err();
    if (size() == 1)
      return {};
    if (auto st = d->enter(); !st)
      return st;
    cudaEvent_t ready = nullptr;
    if (auto e = cudaEventCreateWithFlags(&ready, cudaEventDisableTiming); e != cudaSuccess)
      return cuda_error(d->name() + ": cudaEventCreate", e);
    if (auto e = cudaEventRecord(ready, *cs); e != cudaSuccess) {
      cudaEventDestroy(ready);
      return cuda_error(d->name() + ": cudaEventRecord", e);
    }
    std::lock_guard<std::mutex> lock{g_->mutex};
    const std::uint32_t seq = ++g_->posted[static_cast<std::size_t>(rank_)];
    if (auto r = g_->drv.wait(reinterpret_cast<CUstream>(*cs), g_->flag_dev[static_cast<std::size_t>(rank_)],
                                     seq, CU_STREAM_WAIT_VALUE_GEQ);
        r != CUDA_SUCCESS) {
      --g_->posted[static_cast<std::size_t>(rank_)];
      cudaEventDestroy(ready);
      return make_error("cuda", d->name() + ": cuStreamWaitValue32 failed with CUresult " + std::to_string(r));
    }
    g_->queues[static_cast<std::size_t>(rank_)].push_back(posted_op{data, count, type, ready, seq});
    g_->cv.notify_all();
    return {};
  }

private:
  std::shared_ptr<group_state> g_;
  int rank_;
};

} // namespace

result<std::vector<std::unique_ptr<communicator>>> make_nccl_communicators(std::vector<cuda_device*> devs) {
  auto g = std::make_shared<group_state>();
  const int n = static_cast<int>(devs.size());
  g->devs = devs;
  g->queues.resize(devs.size());
  g->posted.assign(devs.size(), 0);
  if (n > 1) {
    auto drv = load_driver_fns();
    if (!drv)
      return drv.err();
    g->drv = *drv;
    // Waits use CU_STREAM_WAIT_VALUE_GEQ on 32-bit values: supported on every device of compute
    // capability >= 7.0 with a current driver (sm_90 here).
    if (auto e = cudaHostAlloc(reinterpret_cast<void**>(&g->flags), sizeof(std::uint32_t) * devs.size(),
                               cudaHostAllocMapped | cudaHostAllocPortable);
        e != cudaSuccess)
      return cuda_error("cudaHostAlloc (communicator flags)", e);
    for (std::size_t r = 0; r < devs.size(); ++r) {
      g->flags[r] = 0;
      if (auto st = devs[r]->enter(); !st)
        return st.err();
      void* p = nullptr;
      if (auto e = cudaHostGetDevicePointer(&p, g->flags + r, 0); e != cudaSuccess)
        return cuda_error(devs[r]->name() + ": cudaHostGetDevicePointer", e);
      g->flag_dev.push_back(reinterpret_cast<CUdeviceptr>(p));
      cudaStream_t s = nullptr;
      if (auto e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking); e != cudaSuccess)
        return cuda_error(devs[r]->name() + ": cudaStreamCreate (nccl)", e);
      g->nccl_streams.push_back(s);
    }
    std::vector<int> ordinals;
    for (auto* d : devs)
      ordinals.push_back(d->index());
    g->comms.assign(devs.size(), nullptr);
    if (auto r = ncclCommInitAll(g->comms.data(), n, ordinals.data()); r != ncclSuccess) {
      g->comms.clear();
      return make_error("cuda", std::string{"ncclCommInitAll over "} + std::to_string(n) +
                                  " GPUs: " + ncclGetErrorString(r));
    }
    g->issuer = std::thread([raw = g.get()] { raw->run(); });
  }
  std::vector<std::unique_ptr<communicator>> out;
  for (int r = 0; r < n; ++r)
    out.push_back(std::make_unique<nccl_communicator>(g, r));
  return out;
}

} // namespace sy::gpu::cuda
