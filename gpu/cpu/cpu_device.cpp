#include "gpu/cpu/cpu_device.hpp"

#include <cstdlib>
#include <cstring>
#include <exception>

#include "gpu/cpu/cpu_kernels.hpp"
#include "messages/logging.hpp"

namespace sy::gpu::cpu {

namespace {
constexpr std::size_t alignment = 64;
std::size_t round_up(std::size_t n) {
  return (n + alignment - 1) / alignment * alignment;
}
std::string mib(std::size_t b) {
  return std::to_string(b) + " bytes (" + std::to_string(b / (1024 * 1024)) + " MiB)";
}
} // namespace

cpu_device::cpu_device(int index, std::size_t budget) : index_(index), budget_(budget) {
  streams_.push_back(std::make_unique<cpu_stream>(name() + "/compute"));
  streams_.push_back(std::make_unique<cpu_stream>(name() + "/copy"));
}

cpu_device::~cpu_device() {
  // Drain every stream (their tasks may still use the allocations and this object), then join them.
  std::size_t n;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    n = streams_.size();
  }
  for (std::size_t i = 0; i < n; ++i) {
    cpu_stream* s = worker(stream{static_cast<std::uint32_t>(i)});
    s->wait_for(s->last_ticket());
  }
  std::deque<std::unique_ptr<cpu_stream>> streams;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    streams.swap(streams_);
  }
  streams.clear();
  for (auto& [p, bytes] : allocations_)
    std::free(p);
}

std::string cpu_device::name() const {
  return "cpu:" + std::to_string(index_);
}

result<device_buffer> cpu_device::allocate(std::size_t bytes) {
  if (bytes == 0)
    return make_error("memory", name() + ": allocation of 0 bytes");
  std::size_t rounded = round_up(bytes);
  std::lock_guard<std::mutex> lock{mutex_};
  std::size_t used = used_.load();
  if (used + rounded > budget_)
    return make_error("memory", name() + ": out of device memory: requested " + mib(rounded) + ", used " +
                                  mib(used) + ", budget " + mib(budget_));
  void* p = std::aligned_alloc(alignment, rounded);
  if (!p)
    return make_error("memory", name() + ": host allocation of " + mib(rounded) + " failed");
  allocations_.emplace(p, rounded);
  used_ += rounded;
  return device_buffer{p, bytes};
}

void cpu_device::release(void* data) {
  std::lock_guard<std::mutex> lock{mutex_};
  auto it = allocations_.find(data);
  if (it == allocations_.end()) {
    logger("engine")->error("{}: free of a pointer this device did not allocate (or freed twice)", name());
    return;
  }
  used_ -= it->second;
  std::free(it->first);
  allocations_.erase(it);
}

void cpu_device::free(device_buffer buffer) {
  if (buffer.data)
    release(buffer.data);
}

status cpu_device::free_after(device_buffer buffer, stream s) {
  if (!buffer.data)
    return {};
  return submit(s, "free_after", [this, p = buffer.data] { release(p); });
}

cpu_stream* cpu_device::worker(stream s) const {
  std::lock_guard<std::mutex> lock{mutex_};
  return s.value < streams_.size() ? streams_[s.value].get() : nullptr;
}

result<stream> cpu_device::create_stream() {
  std::lock_guard<std::mutex> lock{mutex_};
  auto id = static_cast<std::uint32_t>(streams_.size());
  streams_.push_back(std::make_unique<cpu_stream>(name() + "/stream" + std::to_string(id)));
  return stream{id};
}

status cpu_device::synchronize(stream s) {
  auto* w = worker(s);
  if (!w)
    return make_error("device", name() + ": unknown stream " + std::to_string(s.value));
  w->wait_for(w->last_ticket());
  return health();
}

result<event> cpu_device::create_event() {
  std::lock_guard<std::mutex> lock{mutex_};
  auto id = next_event_++;
  events_.emplace(id, event_state{});
  return event{id};
}

void cpu_device::destroy_event(event e) {
  std::lock_guard<std::mutex> lock{mutex_};
  events_.erase(e.value);
}

result<cpu_device::event_state> cpu_device::lookup(event e) const {
  std::lock_guard<std::mutex> lock{mutex_};
  auto it = events_.find(e.value);
  if (it == events_.end())
    return make_error("device", name() + ": unknown event " + std::to_string(e.value));
  return it->second;
}

status cpu_device::record(event e, stream s) {
  auto* w = worker(s);
  if (!w)
    return make_error("device", name() + ": unknown stream " + std::to_string(s.value));
  std::lock_guard<std::mutex> lock{mutex_};
  auto it = events_.find(e.value);
  if (it == events_.end())
    return make_error("device", name() + ": unknown event " + std::to_string(e.value));
  it->second = event_state{w, w->last_ticket()};
  return {};
}

status cpu_device::wait(stream s, event e) {
  auto st = lookup(e);
  if (!st)
    return st.err();
  auto* w = worker(s);
  if (!w)
    return make_error("device", name() + ": unknown stream " + std::to_string(s.value));
  if (!st->stream || st->stream == w || st->stream->done(st->ticket))
    return {}; // nothing to wait for, or already ordered by the stream itself
  return submit(s, "wait", [target = st->stream, ticket = st->ticket] { target->wait_for(ticket); });
}

result<bool> cpu_device::query(event e) {
  auto st = lookup(e);
  if (!st)
    return st.err();
  return !st->stream || st->stream->done(st->ticket);
}

status cpu_device::synchronize(event e) {
  auto st = lookup(e);
  if (!st)
    return st.err();
  if (st->stream)
    st->stream->wait_for(st->ticket);
  return health();
}

status cpu_device::on_complete(stream s, std::function<void()> fn) {
  if (!fn)
    return make_error("device", name() + ": on_complete with an empty callback");
  return submit(s, "callback", std::move(fn));
}

status cpu_device::submit(stream s, const char* what, std::function<void()> task) {
  auto* w = worker(s);
  if (!w)
    return make_error("device", name() + ": unknown stream " + std::to_string(s.value));
  w->enqueue([this, what, task = std::move(task)] {
    try {
      task();
    } catch (const std::exception& e) {
      fail(std::string{what} + ": " + e.what());
    } catch (...) {
      fail(std::string{what} + ": unknown exception");
    }
  });
  return {};
}

void cpu_device::fail(std::string message) {
  std::lock_guard<std::mutex> lock{mutex_};
  if (error_.empty()) {
    error_ = std::move(message);
    logger("engine")->error("{}: {}", name(), error_);
  }
}

status cpu_device::health() const {
  std::lock_guard<std::mutex> lock{mutex_};
  if (error_.empty())
    return {};
  return make_error("device", name() + ": " + error_);
}

status cpu_device::copy_to_device(void* dst, const void* host, std::size_t bytes, stream s) {
  if (!dst || !host)
    return make_error("device", name() + ": copy_to_device with a null pointer");
  return submit(s, "copy_to_device", [=] { std::memcpy(dst, host, bytes); });
}

status cpu_device::copy_to_host(void* host, const void* src, std::size_t bytes, stream s) {
  if (!host || !src)
    return make_error("device", name() + ": copy_to_host with a null pointer");
  return submit(s, "copy_to_host", [=] { std::memcpy(host, src, bytes); });
}

status cpu_device::copy_on_device(void* dst, const void* src, std::size_t bytes, stream s) {
  if (!dst || !src)
    return make_error("device", name() + ": copy_on_device with a null pointer");
  return submit(s, "copy_on_device", [=] { std::memmove(dst, src, bytes); });
}

status cpu_device::copy_from_peer(void* dst, const device& src_device, const void* src, std::size_t bytes,
                                  stream s) {
  if (src_device.kind() != backend_kind::cpu)
    return make_error("device", name() + ": copy_from_peer from " + src_device.name() + ", not a cpu device");
  return copy_on_device(dst, src, bytes, s); // one address space: the source is ready, so a plain copy
}

status cpu_device::copy_to_host_2d(void* host, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                                   std::size_t row_bytes, std::size_t rows, stream s) {
  if (!host || !src)
    return make_error("device", name() + ": copy_to_host_2d with a null pointer");
  if (row_bytes > dst_pitch || row_bytes > src_pitch)
    return make_error("device", name() + ": copy_to_host_2d row_bytes exceeds a pitch");
  return submit(s, "copy_to_host_2d", [=] {
    for (std::size_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<char*>(host) + r * dst_pitch, static_cast<const char*>(src) + r * src_pitch,
                  row_bytes);
  });
}

status cpu_device::check_type(const char* op, dtype t) const {
  if (t != dtype::f32)
    return make_error("device", name() + ": " + op + " in " + std::string{to_string(t)} +
                                  ": the cpu backend computes in f32 only");
  return {};
}

#define SY_CPU_OP(fn, kernel)                                                                         \
  status cpu_device::fn(const fn##_params& p, stream s) {                                            \
    if (auto st = p.check(); !st)                                                                    \
      return st;                                                                                     \
    if (auto st = check_type(#fn, p.type); !st)                                                      \
      return st;                                                                                     \
    return submit(s, #fn, [p] { kernel(p); });                                                       \
  }

SY_CPU_OP(gemm, run_gemm)
SY_CPU_OP(embedding, run_embedding)
SY_CPU_OP(layer_norm, run_layer_norm)
SY_CPU_OP(bias_act, run_bias_act)
SY_CPU_OP(add, run_add)
SY_CPU_OP(attention, run_attention)
SY_CPU_OP(rotary, run_rotary)
SY_CPU_OP(gated_act, run_gated_act)
SY_CPU_OP(pool, run_pool)
SY_CPU_OP(kv_append, run_kv_append)
SY_CPU_OP(paged_attention, run_paged_attention)
#undef SY_CPU_OP

status cpu_device::convert(const convert_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  if (p.src_type != dtype::f32 || p.dst_type != dtype::f32)
    return make_error("device", name() + ": convert " + std::string{to_string(p.src_type)} + " -> " +
                                  std::string{to_string(p.dst_type)} + ": the cpu backend supports f32 only");
  return submit(s, "convert", [p] { std::memmove(p.dst, p.src, p.count * sizeof(float)); });
}

} // namespace sy::gpu::cpu
