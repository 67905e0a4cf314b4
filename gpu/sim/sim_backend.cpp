#include "gpu/sim/sim_backend.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <sys/mman.h>

#include <fmt/format.h>

#include "gpu/cpu/cpu_device.hpp"

namespace sy::gpu {

result<double> sim_cost_table::seconds(const stage_work& w) const {
  auto it = entries.find({w.model, w.tp, w.pp});
  if (it == entries.end())
    return make_error("device", fmt::format("sim device: no profile entry for model '{}' with tensor {} x pipeline {}",
                                            w.model, w.tp, w.pp));
  const auto& c = it->second;
  if (w.what == stage_work::kind::load) {
    if (c.load_seconds.empty())
      return 0.0;
    if (w.stage < 0 || w.stage >= static_cast<int>(c.load_seconds.size()))
      return make_error("device", fmt::format("sim device: model '{}' has no load time for stage {}", w.model, w.stage));
    return c.load_seconds[static_cast<std::size_t>(w.stage)];
  }
  if (c.latency.empty() || w.stage < 0 || w.stage >= static_cast<int>(c.latency.front().size()))
    return make_error("device", fmt::format("sim device: model '{}' has no latency for stage {}", w.model, w.stage));
  // The next profiled batch size up; past the largest profiled row, linear in the batch size.
  const int b = std::max(1, w.batch);
  for (std::size_t row = 0; row < c.latency.size(); ++row)
    if ((1 << row) >= b)
      return c.latency[row][static_cast<std::size_t>(w.stage)];
  const std::size_t last = c.latency.size() - 1;
  return c.latency[last][static_cast<std::size_t>(w.stage)] * static_cast<double>(b) / static_cast<double>(1 << last);
}

namespace {

class sim_device final : public device {
public:
  sim_device(int index, std::size_t budget, std::shared_ptr<const sim_cost_table> costs)
    : index_(index), budget_(budget), costs_(std::move(costs)), inner_(index, budget) {}

  ~sim_device() override {
    (void)inner_.synchronize(inner_.compute_stream());
    (void)inner_.synchronize(inner_.copy_stream());
    std::lock_guard<std::mutex> l{mutex_};
    for (auto& [p, n] : maps_)
      ::munmap(p, n);
    maps_.clear();
  }

  int index() const noexcept override { return index_; }
  std::string name() const override { return "sim:" + std::to_string(index_); }
  backend_kind kind() const noexcept override { return backend_kind::sim; }
  bool supports(dtype t) const noexcept override { return t == dtype::f32; }

  status simulate(const stage_work& w, stream s) override {
    auto sec = costs_->seconds(w);
    if (!sec)
      return sec.err();
    const auto d = std::chrono::duration<double>(*sec);
    return inner_.submit(s, w.what == stage_work::kind::load ? "sim_load" : "sim_forward",
                         [d] { std::this_thread::sleep_for(d); });
  }

  // --- memory: budgeted, lazily backed zero pages ---
  result<device_buffer> allocate(std::size_t bytes) override {
    const std::size_t n = std::max<std::size_t>(bytes, 1);
    std::size_t used = used_.load();
    do {
      if (used + n > budget_)
        return make_error("memory", fmt::format("{}: allocating {} bytes with {} of {} bytes used exceeds the budget",
                                                name(), bytes, used, budget_));
    } while (!used_.compare_exchange_weak(used, used + n));
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      used_ -= n;
      return make_error("memory", fmt::format("{}: mapping {} bytes failed: {}", name(), bytes, std::strerror(errno)));
    }
    std::lock_guard<std::mutex> l{mutex_};
    maps_[p] = n;
    return device_buffer{p, bytes};
  }
  void free(device_buffer buffer) override { release(buffer.data); }
  status free_after(device_buffer buffer, stream s) override {
    return inner_.submit(s, "free", [this, p = buffer.data] { release(p); });
  }
  std::size_t memory_budget() const noexcept override { return budget_; }
  std::size_t memory_used() const noexcept override { return used_.load(); }

  // --- streams, events, callbacks: the cpu backend's ---
  stream compute_stream() const noexcept override { return inner_.compute_stream(); }
  stream copy_stream() const noexcept override { return inner_.copy_stream(); }
  result<stream> create_stream() override { return inner_.create_stream(); }
  status synchronize(stream s) override { return inner_.synchronize(s); }
  result<event> create_event() override { return inner_.create_event(); }
  void destroy_event(event e) override { inner_.destroy_event(e); }
  status record(event e, stream s) override { return inner_.record(e, s); }
  status wait(stream s, event e) override { return inner_.wait(s, e); }
  result<bool> query(event e) override { return inner_.query(e); }
  status synchronize(event e) override { return inner_.synchronize(e); }
  using device::on_complete;
  status on_complete(stream s, std::function<void(status)> fn) override { return inner_.on_complete(s, std::move(fn)); }

  // --- copies: nothing reaches the device; what comes back is zeros ---
  status copy_to_device(void*, const void*, std::size_t, stream) override { return {}; }
  status copy_to_host(void* host, const void*, std::size_t bytes, stream s) override {
    return inner_.submit(s, "copy_to_host", [host, bytes] { std::memset(host, 0, bytes); });
  }
  status copy_on_device(void*, const void*, std::size_t, stream) override { return {}; }
  status copy_from_peer(void*, const device&, const void*, std::size_t, stream) override { return {}; }
  status copy_to_host_2d(void* host, std::size_t dst_pitch, const void*, std::size_t, std::size_t row_bytes,
                         std::size_t rows, stream s) override {
    return inner_.submit(s, "copy_to_host_2d", [host, dst_pitch, row_bytes, rows] {
      for (std::size_t r = 0; r < rows; ++r)
        std::memset(static_cast<std::byte*>(host) + r * dst_pitch, 0, row_bytes);
    });
  }

  // --- ops: free (the stage's time is taken by simulate) ---
  status gemm(const gemm_params&, stream) override { return {}; }
  status embedding(const embedding_params&, stream) override { return {}; }
  status layer_norm(const layer_norm_params&, stream) override { return {}; }
  status bias_act(const bias_act_params&, stream) override { return {}; }
  status add(const add_params&, stream) override { return {}; }
  status attention(const attention_params&, stream) override { return {}; }
  status convert(const convert_params&, stream) override { return {}; }
  status rotary(const rotary_params&, stream) override { return {}; }
  status gated_act(const gated_act_params&, stream) override { return {}; }
  status pool(const pool_params&, stream) override { return {}; }
  status kv_append(const kv_append_params&, stream) override { return {}; }
  status paged_attention(const paged_attention_params&, stream) override { return {}; }

  status health() const override { return inner_.health(); }

private:
  void release(void* p) {
    if (!p)
      return;
    std::size_t n = 0;
    {
      std::lock_guard<std::mutex> l{mutex_};
      auto it = maps_.find(p);
      if (it == maps_.end())
        return;
      n = it->second;
      maps_.erase(it);
    }
    ::munmap(p, n);
    used_ -= n;
  }

  int index_;
  std::size_t budget_;
  std::shared_ptr<const sim_cost_table> costs_;
  std::atomic<std::size_t> used_{0};
  std::mutex mutex_;
  std::unordered_map<void*, std::size_t> maps_;
  cpu::cpu_device inner_; // streams, events and callbacks (its own memory is never used); destroyed first
};

/// Collectives among sim devices move nothing and take no time (their cost is inside the stage's).
class sim_communicator final : public communicator {
public:
  sim_communicator(int rank, int size, device& d) : rank_(rank), size_(size), dev_(&d) {}
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  device& dev() const noexcept override { return *dev_; }
  status all_reduce_sum(void*, std::size_t, dtype, stream) override { return {}; }

private:
  int rank_, size_;
  device* dev_;
};

class sim_backend final : public backend {
public:
  explicit sim_backend(const backend_options& o) : budget_(o.budget_bytes ? o.budget_bytes : std::size_t{1} << 30) {
    for (int i = 0; i < o.devices; ++i)
      devs_.push_back(std::make_unique<sim_device>(i, budget_, o.sim_costs));
  }
  backend_kind kind() const noexcept override { return backend_kind::sim; }
  std::string describe() const override {
    return fmt::format("sim backend: {} device(s), budget {} MiB each, ops take their profiled time", devs_.size(),
                       budget_ >> 20);
  }
  int device_count() const noexcept override { return static_cast<int>(devs_.size()); }
  device& dev(int i) override { return *devs_.at(static_cast<std::size_t>(i)); }
  result<pinned_buffer> allocate_pinned(std::size_t bytes) override {
    if (bytes == 0)
      return make_error("memory", "pinned allocation of 0 bytes");
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
      return make_error("memory", "pinned host allocation of " + std::to_string(bytes) + " bytes failed");
    return pinned_buffer{p, bytes, [](void* q) { std::free(q); }};
  }
  result<std::vector<std::unique_ptr<communicator>>> make_communicators(const std::vector<int>& ids) override {
    if (ids.empty())
      return make_error("device", "make_communicators: no devices");
    std::vector<std::unique_ptr<communicator>> out;
    for (std::size_t r = 0; r < ids.size(); ++r) {
      if (ids[r] < 0 || ids[r] >= device_count())
        return make_error("device", "make_communicators: device " + std::to_string(ids[r]) + " out of range");
      out.push_back(std::make_unique<sim_communicator>(static_cast<int>(r), static_cast<int>(ids.size()), dev(ids[r])));
    }
    return out;
  }

private:
  std::size_t budget_;
  std::vector<std::unique_ptr<sim_device>> devs_;
};

} // namespace

result<std::unique_ptr<backend>> make_sim_backend(const backend_options& options) {
  if (!options.sim_costs)
    return make_error("backend", "sim backend: no profile (backend_options::sim_costs) to take the devices' time from");
  if (options.devices <= 0)
    return make_error("backend", "device count must be positive, found " + std::to_string(options.devices));
  return std::unique_ptr<backend>{std::make_unique<sim_backend>(options)};
}

} // namespace sy::gpu
