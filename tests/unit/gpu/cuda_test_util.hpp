#pragma once
// A tiny harness for the CUDA tests (label gpu). They are plain executables, not Catch2: without a device
// they print "SKIPPED: no CUDA device: <reason>" and exit 77, which CTest reports as skipped (SKIP_RETURN_CODE),
// and Catch2's test discovery would have to run them at build time. Each check prints one line.
#include <cmath>
#include <functional>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gpu/cuda/probe.hpp"
#include "gpu/device.hpp"

namespace sy::gpu::test {

/// Returns 77 with a visible reason when there is no CUDA device, else 0.
inline int skip_without_device() {
  auto n = cuda::probe_devices();
  if (!n) {
    std::printf("SKIPPED: %s\n", n.err().message.c_str());
    std::fflush(stdout);
    return 77;
  }
  return 0;
}

struct tally {
  int passed = 0, failed = 0;
  void check(bool ok, const std::string& what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    std::fflush(stdout);
    (ok ? passed : failed)++;
  }
  /// Requires a status; on error prints it and counts a failure.
  bool require(const status& st, const std::string& what) {
    if (!st)
      check(false, what + ": " + st.err().to_string());
    return st.ok();
  }
  int exit_code() const {
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
  }
};

inline std::vector<float> random_values(std::size_t n, float scale, unsigned seed) {
  std::mt19937 rng{seed};
  std::uniform_real_distribution<float> u{-scale, scale};
  std::vector<float> v(n);
  for (auto& x : v)
    x = u(rng);
  return v;
}

/// Largest |a - b| divided by max(1, largest |b|).
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size())
    return INFINITY;
  double worst = 0, scale = 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return worst / scale;
}

inline double tolerance(dtype t) {
  switch (t) {
    case dtype::f32: return 1e-4;
    case dtype::f16: return 1e-2;
    case dtype::bf16: return 4e-2;
  }
  return 0;
}

/// A device tensor holding `count` elements of `type`, created from f32 host values (converted on the
/// device when type != f32). Freed by the owner with d.free.
inline result<device_buffer> upload(device& d, const std::vector<float>& host, dtype type) {
  const std::size_t n = host.size();
  auto staging = d.allocate(n * 4);
  if (!staging)
    return staging.err();
  if (auto st = d.copy_to_device(staging->data, host.data(), n * 4, d.compute_stream()); !st)
    return st.err();
  if (type == dtype::f32) {
    if (auto st = d.synchronize(d.compute_stream()); !st)
      return st.err();
    return *staging;
  }
  auto out = d.allocate(n * dtype_size(type));
  if (!out)
    return out.err();
  convert_params c;
  c.src = staging->data;
  c.dst = out->data;
  c.count = n;
  c.src_type = dtype::f32;
  c.dst_type = type;
  if (auto st = d.convert(c, d.compute_stream()); !st)
    return st.err();
  if (auto st = d.synchronize(d.compute_stream()); !st)
    return st.err();
  d.free(*staging);
  return *out;
}

/// f32 host copy of `count` elements of `type` at `src`.
inline result<std::vector<float>> download(device& d, const void* src, std::size_t count, dtype type) {
  std::vector<float> host(count);
  const void* from = src;
  device_buffer tmp;
  if (type != dtype::f32) {
    auto t = d.allocate(count * 4);
    if (!t)
      return t.err();
    tmp = *t;
    convert_params c;
    c.src = src;
    c.dst = tmp.data;
    c.count = count;
    c.src_type = type;
    c.dst_type = dtype::f32;
    if (auto st = d.convert(c, d.compute_stream()); !st)
      return st.err();
    from = tmp.data;
  }
  if (auto st = d.copy_to_host(host.data(), from, count * 4, d.compute_stream()); !st)
    return st.err();
  if (auto st = d.synchronize(d.compute_stream()); !st)
    return st.err();
  if (tmp)
    d.free(tmp);
  return host;
}

/// Runs an op on device d with element type t. `inputs` are f32 host tensors uploaded as t; the op gets
/// their device pointers and an output buffer of out_count elements; returns the output as f32.
using op_fn = std::function<status(device&, dtype, const std::vector<void*>&, void* out)>;

inline result<std::vector<float>> run_op(device& d, dtype t, const std::vector<std::vector<float>>& inputs,
                                  std::size_t out_count, const op_fn& op, const std::vector<float>* out_init) {
  std::vector<device_buffer> bufs;
  std::vector<void*> ptrs;
  auto cleanup = [&] {
    for (auto& b : bufs)
      d.free(b);
  };
  for (const auto& in : inputs) {
    auto b = upload(d, in, t);
    if (!b) {
      cleanup();
      return b.err();
    }
    bufs.push_back(*b);
    ptrs.push_back(b->data);
  }
  auto out = out_init ? upload(d, *out_init, t) : d.allocate(out_count * dtype_size(t));
  if (!out) {
    cleanup();
    return out.err();
  }
  bufs.push_back(*out);
  if (auto st = op(d, t, ptrs, out->data); !st) {
    cleanup();
    return st.err();
  }
  auto host = download(d, out->data, out_count, t);
  cleanup();
  return host;
}

struct harness {
  device& cpu;
  device& gpu;
  tally& t;
  void compare(const std::string& name, const std::vector<std::vector<float>>& inputs, std::size_t out_count,
               const op_fn& op, const std::vector<float>* out_init = nullptr) {
    auto ref = run_op(cpu, dtype::f32, inputs, out_count, op, out_init);
    if (!t.require(ref.ok() ? status{} : status{ref.err()}, name + " on cpu"))
      return;
    for (dtype ty : {dtype::f32, dtype::f16, dtype::bf16}) {
      const std::string what = name + " " + std::string{to_string(ty)};
      auto got = run_op(gpu, ty, inputs, out_count, op, out_init);
      if (!t.require(got.ok() ? status{} : status{got.err()}, what))
        continue;
      const double err = relative_error(*got, *ref);
      t.check(err <= tolerance(ty), what + ": relative error " + std::to_string(err) + " (tolerance " +
                                      std::to_string(tolerance(ty)) + ")");
    }
  }
};

} // namespace sy::gpu::test
