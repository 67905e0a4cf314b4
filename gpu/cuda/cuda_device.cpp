#include "gpu/cuda/cuda_device.hpp"

#include <cstdint>
#include <memory>

#include "gpu/cuda/gemm.hpp"
#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {

error cuda_error(const std::string& what, cudaError_t e) {
  return make_error("cuda", what + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

#define SY_CUDA_TRY(what, expr)                                                                              \
  do {                                                                                                       \
    if (cudaError_t sy_e_ = (expr); sy_e_ != cudaSuccess)                                                    \
      return cuda_error(what, sy_e_);                                                                        \
  } while (false)

result<std::unique_ptr<cuda_device>> cuda_device::open(int ordinal, std::size_t budget) {
  SY_CUDA_TRY("cudaSetDevice(" + std::to_string(ordinal) + ")", cudaSetDevice(ordinal));
  cudaDeviceProp prop{};
  SY_CUDA_TRY("cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, ordinal));
  std::size_t free_bytes = 0, total_bytes = 0;
  SY_CUDA_TRY("cudaMemGetInfo", cudaMemGetInfo(&free_bytes, &total_bytes));
  if (budget == 0)
    budget = free_bytes / 10 * 9;
  if (budget > free_bytes)
    return make_error("memory", "cuda:" + std::to_string(ordinal) + ": budget of " + std::to_string(budget) +
                                  " bytes exceeds the free device memory (" + std::to_string(free_bytes) + " of " +
                                  std::to_string(total_bytes) + " bytes)");
  std::unique_ptr<cuda_device> d{
    new cuda_device(ordinal, "cuda:" + std::to_string(ordinal) + " (" + prop.name + ")", budget)};
  // Keep freed pool memory cached instead of returning it to the driver at every synchronisation.
  cudaMemPool_t pool = nullptr;
  SY_CUDA_TRY("cudaDeviceGetDefaultMemPool", cudaDeviceGetDefaultMemPool(&pool, ordinal));
  std::uint64_t keep = UINT64_MAX;
  SY_CUDA_TRY("cudaMemPoolSetAttribute", cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  // allocate() synchronises its own (empty) allocation stream; with internal dependencies the pool could
  // make that stream wait for another stream's pending free, and allocate() would then block the host
  // until the GPU catches up. Without them, memory is reused once its free has completed, or mapped anew.
  int no = 0;
  SY_CUDA_TRY("cudaMemPoolSetAttribute",
              cudaMemPoolSetAttribute(pool, cudaMemPoolReuseAllowInternalDependencies, &no));
  for (int i = 0; i < 2; ++i) {
    cudaStream_t s = nullptr;
    SY_CUDA_TRY("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    d->streams_.push_back(s);
  }
  SY_CUDA_TRY("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&d->alloc_stream_, cudaStreamNonBlocking));
  // cuBLAS works (fails otherwise) only with a device: create the compute stream's handle now, so that a
  // broken cuBLAS is reported at open time rather than at the first GEMM.
  if (auto h = d->cublas_for(0); !h)
    return h.err();
  return d;
}

cuda_device::cuda_device(int ordinal, std::string name, std::size_t budget)
  : ordinal_(ordinal), name_(std::move(name)), budget_(budget) {}

cuda_device::~cuda_device() {
  cudaSetDevice(ordinal_);
  for (auto s : streams_)
    cudaStreamSynchronize(s);
  if (alloc_stream_)
    cudaStreamSynchronize(alloc_stream_);
  for (auto& [p, bytes] : allocations_)
    cudaFree(p);
  for (auto& [id, e] : events_)
    cudaEventDestroy(e);
  for (auto h : cublas_)
    if (h)
      cublasDestroy(h);
  for (auto s : streams_)
    cudaStreamDestroy(s);
  if (alloc_stream_)
    cudaStreamDestroy(alloc_stream_);
}

status cuda_device::enter() const {
  SY_CUDA_TRY(name_ + ": cudaSetDevice", cudaSetDevice(ordinal_));
  return {};
}

void cuda_device::fail(const std::string& message) const {
  std::lock_guard<std::mutex> g{mutex_};
  if (error_.empty())
    error_ = message;
}

status cuda_device::launched(const char* op, cudaError_t e) {
  if (e == cudaSuccess)
    return {};
  auto err = cuda_error(name_ + ": " + op, e);
  if (e != cudaErrorInvalidValue) // invalid params are the caller's error, not the device's
    fail(err.message);
  return err;
}

result<cudaStream_t> cuda_device::native(stream s) const {
  std::lock_guard<std::mutex> g{mutex_};
  if (s.value >= streams_.size())
    return make_error("device", name_ + ": unknown stream " + std::to_string(s.value));
  return streams_[s.value];
}

result<cublasHandle_t> cuda_device::cublas_for(std::uint32_t stream_index) {
  // Caller holds ops_mutex_ (or is open(), before the device is shared).
  if (cublas_.size() <= stream_index)
    cublas_.resize(stream_index + 1, nullptr);
  if (cublas_[stream_index] == nullptr) {
    if (auto st = enter(); !st)
      return st.err();
    cublasHandle_t h = nullptr;
    if (auto s = cublasCreate(&h); s != CUBLAS_STATUS_SUCCESS)
      return make_error("cuda", name_ + ": cublasCreate: " + cublas_status_name(s));
    cublas_[stream_index] = h;
  }
  return cublas_[stream_index];
}

// --- memory ---------------------------------------------------------------------------------------------

result<device_buffer> cuda_device::allocate(std::size_t bytes) {
  if (bytes == 0)
    return make_error("memory", name_ + ": allocation of 0 bytes");
  std::size_t used = used_.load();
  do {
    if (used + bytes > budget_)
      return make_error("memory", name_ + ": allocation of " + std::to_string(bytes) +
                                    " bytes exceeds the budget (used " + std::to_string(used) + " of " +
                                    std::to_string(budget_) + " bytes)");
  } while (!used_.compare_exchange_weak(used, used + bytes));
  void* p = nullptr;
  cudaError_t e = cudaSetDevice(ordinal_);
  if (e == cudaSuccess)
    e = cudaMallocAsync(&p, bytes, alloc_stream_);
  if (e == cudaSuccess) // usable from any stream once the allocation has been ordered
    e = cudaStreamSynchronize(alloc_stream_);
  if (e != cudaSuccess) {
    used_ -= bytes;
    return make_error("memory", name_ + ": cudaMallocAsync of " + std::to_string(bytes) + " bytes: " +
                                  cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  }
  std::lock_guard<std::mutex> g{mutex_};
  allocations_.emplace(p, bytes);
  return device_buffer{p, bytes};
}

void cuda_device::free(device_buffer buffer) {
  if (!buffer)
    return;
  std::size_t bytes = 0;
  {
    std::lock_guard<std::mutex> g{mutex_};
    auto it = allocations_.find(buffer.data);
    if (it == allocations_.end())
      return; // not ours or freed twice: ignore rather than corrupt the pool
    bytes = it->second;
    allocations_.erase(it);
  }
  cudaSetDevice(ordinal_);
  if (auto e = cudaFreeAsync(buffer.data, alloc_stream_); e != cudaSuccess)
    fail(cuda_error(name_ + ": cudaFreeAsync", e).message);
  used_ -= bytes;
}

status cuda_device::free_after(device_buffer buffer, stream s) {
  auto cs = native(s);
  if (!cs)
    return cs.err();
  std::size_t bytes = 0;
  {
    std::lock_guard<std::mutex> g{mutex_};
    auto it = allocations_.find(buffer.data);
    if (it == allocations_.end())
      return make_error("device", name_ + ": free_after of a buffer this device did not allocate");
    bytes = it->second;
    allocations_.erase(it);
  }
  if (auto st = enter(); !st)
    return st;
  if (auto e = cudaFreeAsync(buffer.data, *cs); e != cudaSuccess)
    return launched("cudaFreeAsync", e);
  // Stop counting the bytes once the stream has reached the free.
  struct release {
    std::atomic<std::size_t>* used;
    std::size_t bytes;
  };
  auto* r = new release{&used_, bytes};
  auto fn = [](void* arg) {
    std::unique_ptr<release> r{static_cast<release*>(arg)};
    *r->used -= r->bytes;
  };
  if (auto e = cudaLaunchHostFunc(*cs, fn, r); e != cudaSuccess) {
    delete r;
    used_ -= bytes;
    return launched("cudaLaunchHostFunc", e);
  }
  return {};
}

// --- streams and events ---------------------------------------------------------------------------------

result<stream> cuda_device::create_stream() {
  if (auto st = enter(); !st)
    return st.err();
  cudaStream_t s = nullptr;
  SY_CUDA_TRY(name_ + ": cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  std::lock_guard<std::mutex> g{mutex_};
  streams_.push_back(s);
  return stream{static_cast<std::uint32_t>(streams_.size() - 1)};
}

status cuda_device::synchronize(stream s) {
  auto cs = native(s);
  if (!cs)
    return cs.err();
  if (auto st = enter(); !st)
    return st;
  return launched("cudaStreamSynchronize", cudaStreamSynchronize(*cs));
}

result<event> cuda_device::create_event() {
  if (auto st = enter(); !st)
    return st.err();
  cudaEvent_t e = nullptr;
  SY_CUDA_TRY(name_ + ": cudaEventCreateWithFlags", cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  std::lock_guard<std::mutex> g{mutex_};
  const std::uint64_t id = next_event_++;
  events_.emplace(id, e);
  return event{id};
}

void cuda_device::destroy_event(event e) {
  cudaEvent_t ce = nullptr;
  {
    std::lock_guard<std::mutex> g{mutex_};
    auto it = events_.find(e.value);
    if (it == events_.end())
      return;
    ce = it->second;
    events_.erase(it);
  }
  cudaSetDevice(ordinal_);
  cudaEventDestroy(ce); // resources are released once pending work on it completes
}

namespace {
result<cudaEvent_t> find_event(std::mutex& m, const std::unordered_map<std::uint64_t, cudaEvent_t>& events,
                               event e, const std::string& dev) {
  std::lock_guard<std::mutex> g{m};
  auto it = events.find(e.value);
  if (it == events.end())
    return make_error("device", dev + ": unknown event " + std::to_string(e.value));
  return it->second;
}
} // namespace

status cuda_device::record(event e, stream s) {
  auto ce = find_event(mutex_, events_, e, name_);
  if (!ce)
    return ce.err();
  auto cs = native(s);
  if (!cs)
    return cs.err();
  if (auto st = enter(); !st)
    return st;
  return launched("cudaEventRecord", cudaEventRecord(*ce, *cs));
}

status cuda_device::wait(stream s, event e) {
  auto ce = find_event(mutex_, events_, e, name_);
  if (!ce)
    return ce.err();
  auto cs = native(s);
  if (!cs)
    return cs.err();
  if (auto st = enter(); !st)
    return st;
  return launched("cudaStreamWaitEvent", cudaStreamWaitEvent(*cs, *ce, 0));
}

result<bool> cuda_device::query(event e) {
  auto ce = find_event(mutex_, events_, e, name_);
  if (!ce)
    return ce.err();
  if (auto st = enter(); !st)
    return st.err();
  const cudaError_t r = cudaEventQuery(*ce);
  if (r == cudaSuccess)
    return true;
  if (r == cudaErrorNotReady)
    return false;
  if (auto st = launched("cudaEventQuery", r); !st)
    return st.err();
  return false;
}

status cuda_device::synchronize(event e) {
  auto ce = find_event(mutex_, events_, e, name_);
  if (!ce)
    return ce.err();
  if (auto st = enter(); !st)
    return st;
  return launched("cudaEventSynchronize", cudaEventSynchronize(*ce));
}

status cuda_device::on_complete(stream s, std::function<void(status)> fn) {
  auto cs = native(s);
  if (!cs)
    return cs.err();
  if (auto st = enter(); !st)
    return st;
  struct call {
    std::function<void(status)> fn;
    std::string device;
  };
  auto* heap = new call{std::move(fn), name_};
  // cudaStreamAddCallback, not cudaLaunchHostFunc: it passes the status of the stream's work (an error of an
  // earlier operation, or a sticky device error) to the callback, which turns it into the completion's status.
  auto trampoline = [](cudaStream_t, cudaError_t e, void* arg) {
    std::unique_ptr<call> c{static_cast<call*>(arg)};
    try {
      if (c->fn)
        c->fn(e == cudaSuccess ? status{} : status{cuda_error(c->device, e)});
    } catch (...) {
      // A callback must not throw into the CUDA runtime's thread; nothing sensible to do here.
    }
  };
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const cudaError_t e = cudaStreamAddCallback(*cs, trampoline, heap, 0);
#pragma GCC diagnostic pop
  if (e != cudaSuccess) {
    delete heap;
    return launched("cudaStreamAddCallback", e);
  }
  return {};
}

status cuda_device::health() const {
  {
    std::lock_guard<std::mutex> g{mutex_};
    if (!error_.empty())
      return make_error("cuda", error_);
  }
  // A sticky device error (e.g. an illegal address in a kernel) is reported by every later call.
  cudaSetDevice(ordinal_);
  cudaStream_t s = nullptr;
  {
    std::lock_guard<std::mutex> g{mutex_};
    s = streams_.front();
  }
  if (auto e = cudaStreamQuery(s); e != cudaSuccess && e != cudaErrorNotReady) {
    fail(cuda_error(name_, e).message);
    return cuda_error(name_, e);
  }
  return {};
}

} // namespace sy::gpu::cuda
