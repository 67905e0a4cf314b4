// cuda_device: async copies and the transformer ops (gpu/ops.hpp mapped onto gpu/cuda/kernels.hpp).
#include <climits>

#include "gpu/cuda/cuda_device.hpp"
#include "gpu/cuda/gemm.hpp"
#include "gpu/cuda/kernels.hpp"

namespace sy::gpu::cuda {

#define SY_ENTER(s, cs)                                                                                      \
  auto cs = native(s);                                                                                       \
  if (!cs)                                                                                                   \
    return cs.err();                                                                                         \
  if (auto st_ = enter(); !st_)                                                                              \
  return st_

status cuda_device::copy_to_device(void* dst, const void* host, std::size_t bytes, stream s) {
  if (bytes == 0)
    return {};
  if (dst == nullptr || host == nullptr)
    return make_error("device", name_ + ": copy_to_device with a null pointer");
  SY_ENTER(s, cs);
  auto* d = static_cast<char*>(dst);
  const auto* h = static_cast<const char*>(host);
  for (std::size_t off = 0; off < bytes; off += copy_chunk_bytes) {
    const std::size_t n = bytes - off < copy_chunk_bytes ? bytes - off : copy_chunk_bytes;
    if (auto e = cudaMemcpyAsync(d + off, h + off, n, cudaMemcpyHostToDevice, *cs); e != cudaSuccess)
      return launched("cudaMemcpyAsync (host to device)", e);
  }
  return {};
}

status cuda_device::copy_to_host(void* host, const void* src, std::size_t bytes, stream s) {
  if (bytes == 0)
    return {};
  if (src == nullptr || host == nullptr)
    return make_error("device", name_ + ": copy_to_host with a null pointer");
  SY_ENTER(s, cs);
  return launched("cudaMemcpyAsync (device to host)",
                  cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, *cs));
}

status cuda_device::copy_on_device(void* dst, const void* src, std::size_t bytes, stream s) {
  if (bytes == 0)
    return {};
  if (src == nullptr || dst == nullptr)
    return make_error("device", name_ + ": copy_on_device with a null pointer");
  SY_ENTER(s, cs);
  return launched("cudaMemcpyAsync (device to device)",
                  cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, *cs));
}

status cuda_device::copy_from_peer(void* dst, const device& src_device, const void* src, std::size_t bytes,
                                   stream s) {
  if (src_device.kind() != backend_kind::cuda)
    return make_error("device", name_ + ": copy_from_peer from " + src_device.name() + ", not a CUDA device");
  if (src_device.index() == ordinal_)
    return copy_on_device(dst, src, bytes, s);
  if (bytes == 0)
    return {};
  if (src == nullptr || dst == nullptr)
    return make_error("device", name_ + ": copy_from_peer with a null pointer");
  SY_ENTER(s, cs);
  // Goes over NVLink/PCIe peer access when enabled, else staged through the host by the driver.
  return launched("cudaMemcpyPeerAsync", cudaMemcpyPeerAsync(dst, ordinal_, src, src_device.index(), bytes, *cs));
}

status cuda_device::copy_to_host_2d(void* host, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                                    std::size_t row_bytes, std::size_t rows, stream s) {
  if (rows == 0 || row_bytes == 0)
    return {};
  if (src == nullptr || host == nullptr)
    return make_error("device", name_ + ": copy_to_host_2d with a null pointer");
  if (dst_pitch < row_bytes || src_pitch < row_bytes)
    return make_error("device", name_ + ": copy_to_host_2d: pitches (" + std::to_string(dst_pitch) + ", " +
                                  std::to_string(src_pitch) + ") must be at least row_bytes (" +
                                  std::to_string(row_bytes) + ")");
  SY_ENTER(s, cs);
  return launched("cudaMemcpy2DAsync",
                  cudaMemcpy2DAsync(host, dst_pitch, src, src_pitch, row_bytes, rows, cudaMemcpyDeviceToHost, *cs));
}

// --- ops ------------------------------------------------------------------------------------------------

status cuda_device::gemm(const gemm_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  std::lock_guard<std::mutex> g{ops_mutex_};
  auto h = cublas_for(s.value);
  if (!h)
    return h.err();
  auto st = invoke_gemm(*h, p, *cs);
  if (!st && st.err().category == "cuda")
    fail(name_ + ": " + st.err().message);
  return st;
}

status cuda_device::embedding(const gpu::embedding_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  cuda::embedding_params k;
  k.type = p.type;
  k.tokens = p.tokens;
  k.tok_table = p.tok_emb;
  k.pos_table = p.pos_emb;
  k.out = p.out;
  k.batch = p.batch;
  k.seq = p.seq;
  k.hidden = p.hidden;
  k.vocab = p.vocab;
  k.max_seq = p.max_seq;
  k.positions = p.positions;
  k.type_table = p.type_emb;
  k.token_types = p.token_types;
  k.type_vocab = p.type_vocab;
  if (auto st = k.check(); !st)
    return st;
  return launched("embedding", invoke_embedding(k, *cs));
}

status cuda_device::layer_norm(const gpu::layer_norm_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  cuda::layer_norm_params k;
  k.type = p.type;
  k.in = p.in;
  k.out = p.out;
  k.gamma = p.gamma;
  k.beta = p.beta;
  k.rows = p.rows;
  k.cols = p.cols;
  k.in_stride = p.in_stride;
  k.out_stride = p.out_stride;
  k.eps = p.eps;
  k.rms = p.rms;
  if (auto st = k.check(); !st)
    return st;
  return launched("layer_norm", invoke_layer_norm(k, *cs));
}

status cuda_device::bias_act(const gpu::bias_act_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  cuda::bias_act_params k;
  k.type = p.type;
  k.in = p.x;
  k.out = p.x;
  k.bias = p.bias;
  k.rows = p.rows;
  k.cols = p.cols;
  k.act = p.act;
  if (auto st = k.check(); !st)
    return st;
  return launched("bias_act", invoke_bias_act(k, *cs));
}

status cuda_device::add(const add_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  cuda::residual_add_params k;
  k.type = p.type;
  k.a = p.a;
  k.b = p.b;
  k.out = p.out;
  k.rows = static_cast<std::int64_t>(p.count);
  k.cols = 1;
  if (auto st = k.check(); !st)
    return st;
  return launched("add", invoke_residual_add(k, *cs));
}

status cuda_device::attention(const gpu::attention_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  cuda::attention_params k;
  k.type = p.type;
  k.q = p.q;
  k.k = p.k;
  k.v = p.v;
  k.out = p.out;
  k.batch = p.batch;
  k.seq = p.seq;
  k.heads = p.heads;
  k.head_dim = p.head_dim;
  k.kv_heads = p.kv_heads;
  k.seq_starts = p.seq_starts;
  k.q_stride = p.q_stride;
  k.k_stride = p.k_stride;
  k.v_stride = p.v_stride;
  k.out_stride = p.out_stride;
  k.causal = p.causal;
  k.scale = p.scale;
  if (auto st = k.check(); !st)
    return st;
  return launched("attention", invoke_attention(k, *cs));
}

status cuda_device::convert(const gpu::convert_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  cuda::convert_params k;
  k.src_type = p.src_type;
  k.dst_type = p.dst_type;
  k.src = p.src;
  k.dst = p.dst;
  k.count = static_cast<std::int64_t>(p.count);
  if (auto st = k.check(); !st)
    return st;
  return launched("convert", invoke_convert(k, *cs));
}

status cuda_device::rotary(const gpu::rotary_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  return launched("rotary", invoke_rotary(p, *cs));
}

status cuda_device::gated_act(const gpu::gated_act_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  return launched("gated_act", invoke_gated_act(p, *cs));
}

status cuda_device::pool(const gpu::pool_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  if (p.batch > 65535 * 32)
    return make_error("kernel", "pool: batch must be at most 2097120, found " + std::to_string(p.batch));
  SY_ENTER(s, cs);
  return launched("pool", invoke_pool(p, *cs));
}

status cuda_device::kv_append(const gpu::kv_append_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  SY_ENTER(s, cs);
  return launched("kv_append", invoke_kv_append(p, *cs));
}

status cuda_device::paged_attention(const gpu::paged_attention_params& p, stream s) {
  if (auto st = p.check(); !st)
    return st;
  if (p.kv.head_dim > 256)
    return make_error("kernel", "paged_attention: head_dim must be at most 256, found " +
                                  std::to_string(p.kv.head_dim));
  SY_ENTER(s, cs);
  return launched("paged_attention", invoke_paged_attention(p, *cs));
}

} // namespace sy::gpu::cuda
