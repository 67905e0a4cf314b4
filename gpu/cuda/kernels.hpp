#pragma once
// The CUDA kernels of the transformer forward pass (everything except GEMMs, which go through cuBLAS, see
// gemm.hpp). A small C++ facade: the .cu files include only this header (plus CUDA headers), and plain C++
// code calls the launchers without nvcc.
//
// Conventions for every launcher:
// - One params struct and a stream. The struct names each tensor's shape (row-major, innermost last) and
//   owner; all tensor pointers are DEVICE memory owned by the caller, which keeps them alive until the work
//   enqueued on `stream` has completed. Element type of every floating tensor is `type` (f32, f16 or bf16);
//   arithmetic is fp32 (statistics, accumulators, softmax).
// - `check()` validates shapes and pointers on the host (precise message, category "kernel"). The launcher
//   calls it too and returns cudaErrorInvalidValue without launching when it fails.
// - The return value is the launch status (cudaGetLastError after the launch); execution errors surface at
//   the next synchronising call on the stream, as usual in CUDA.
// - None of these kernels needs a workspace (workspace_bytes() below returns 0 for all of them; it exists so
//   that callers are written against the general shape of the interface).
// - Thread-safety: launchers are reentrant; call them from the thread that owns `stream`, with the stream's
//   device current (cudaSetDevice).
#include <cstdint>

#include <cuda_runtime_api.h>

#include "gpu/model_spec.hpp"
#include "gpu/ops.hpp"

namespace sy::gpu::cuda {

/// out[b, s, :] = tok_table[tokens[b, s], :] + pos_table[pos, :] + type_table[token_types[b, s], :] with
/// pos = positions[b*seq + s] when given, else pos_offset + s. pos_table and type_table are optional (null:
/// no such term); null token_types with a type_table: type 0.
/// A token id outside [0, vocab) yields a zero row (the engine validates ids on the host before); positions
/// and types are clamped into their tables.
struct embedding_params {
  dtype type = dtype::f16;
  const std::int32_t* tokens = nullptr; // [batch, seq]
  const void* tok_table = nullptr;      // [vocab, hidden]
  const void* pos_table = nullptr;      // [max_seq, hidden] or null
  void* out = nullptr;                  // [batch, seq, hidden]
  int batch = 0, seq = 0, hidden = 0, vocab = 0, max_seq = 0;
  int pos_offset = 0; // first position (pos_offset + seq <= max_seq) when positions is null
  const std::int32_t* positions = nullptr;   // [batch * seq] or null
  const void* type_table = nullptr;          // [type_vocab, hidden] or null
  const std::int32_t* token_types = nullptr; // [batch * seq] or null
  int type_vocab = 0;
  [[nodiscard]] status check() const;
};
[[nodiscard]] cudaError_t invoke_embedding(const embedding_params& p, cudaStream_t stream);

/// out[r, :] = (in[r, :] - mean_r) / sqrt(var_r + eps) * gamma + beta, with fp32 statistics. Rows are
/// strided, so that e.g. the last token of each sequence can be normalised directly
/// (in = x + (seq-1)*hidden, in_stride = seq*hidden). `out` may alias `in` when the strides are equal.
struct layer_norm_params {
  dtype type = dtype::f16;
  const void* in = nullptr;    // [rows] x in_stride, first `cols` of each row used
  const void* gamma = nullptr; // [cols]
  const void* beta = nullptr;  // [cols]
  void* out = nullptr;         // [rows] x out_stride
  std::int64_t rows = 0;
  int cols = 0;
  std::int64_t in_stride = 0;  // elements between rows; 0 means cols
  std::int64_t out_stride = 0; // elements between rows; 0 means cols
  float eps = 1e-5f;
  bool rms = false; // RMSNorm: in / sqrt(mean(in^2) + eps) * gamma, beta must be null
  [[nodiscard]] status check() const;
};
[[nodiscard]] cudaError_t invoke_layer_norm(const layer_norm_params& p, cudaStream_t stream);

// activation: sy::gpu::activation (gpu/ops.hpp): none, gelu_tanh (tanh approximation), tanh, gelu_erf,
// relu, silu.

/// out[r, c] = act(in[r, c] + bias[c]); bias may be null (then act(in)). `out` may alias `in`.
struct bias_act_params {
  dtype type = dtype::f16;
  const void* in = nullptr;   // [rows] x ld, first cols of each row used
  const void* bias = nullptr; // [cols] or null
  void* out = nullptr;        // [rows] x ld
  std::int64_t rows = 0;
  int cols = 0;
  std::int64_t ld = 0; // elements between rows of in and out; 0 means cols
  activation act = activation::none;
  [[nodiscard]] status check() const;
};
[[nodiscard]] cudaError_t invoke_bias_act(const bias_act_params& p, cudaStream_t stream);
/// Shorthands of invoke_bias_act with act fixed.
[[nodiscard]] cudaError_t invoke_bias_add(bias_act_params p, cudaStream_t stream);
[[nodiscard]] cudaError_t invoke_bias_gelu(bias_act_params p, cudaStream_t stream);
[[nodiscard]] cudaError_t invoke_bias_tanh(bias_act_params p, cudaStream_t stream);

/// out[r, c] = a[r, c] + b[r, c] + bias[c] (bias may be null). The residual connection after a
/// row-parallel GEMM: a = residual stream, b = GEMM output (after the all-reduce), bias = its bias, added
/// once after the reduction. `out` may alias `a` or `b`.
struct residual_add_params {
  dtype type = dtype::f16;
  const void* a = nullptr;    // [rows, cols]
  const void* b = nullptr;    // [rows, cols]
  const void* bias = nullptr; // [cols] or null
  void* out = nullptr;        // [rows, cols]
  std::int64_t rows = 0;
  int cols = 0;
  [[nodiscard]] status check() const;
};
[[nodiscard]] cudaError_t invoke_residual_add(const residual_add_params& p, cudaStream_t stream);

/// dst[i] = src[i] converted between f32, f16 and bf16 (round to nearest even), i < count.
struct convert_params {
  dtype src_type = dtype::f32;
  dtype dst_type = dtype::f16;
  const void* src = nullptr; // [count]
  void* dst = nullptr;       // [count], must not overlap src unless the types are equal and dst == src
  std::int64_t count = 0;
  [[nodiscard]] status check() const;
};
[[nodiscard]] cudaError_t invoke_convert(const convert_params& p, cudaStream_t stream);

/// Multi-head softmax attention, out = softmax(q k^T * scale + mask) v, per (batch, head), fp32 softmax.
/// Element (b, s, h, d) of q is at q[(b*seq + s)*q_stride + h*head_dim + d], likewise for k, v, out: with
/// a packed QKV GEMM output [tokens, 3*heads*head_dim] pass q = qkv, k = qkv + heads*head_dim,
/// v = qkv + 2*heads*head_dim and strides 3*heads*head_dim. `heads` is the number of heads on this device
/// (the tensor-parallel shard). causal: key j is visible to query i iff j <= i (decoders); otherwise all
/// keys are (encoders). seq_lens (optional, device, [batch]): keys >= seq_lens[b] are masked, and rows
/// >= seq_lens[b] of out are written as zeros. seq_starts (optional, device, [batch + 1]; not with
/// seq_lens): packed variable-length sequences, sequence b is rows seq_starts[b] .. seq_starts[b+1]-1 (at
/// most seq); only its own rows are read and written. kv_heads (0 = heads): query head h reads key/value
/// head h / (heads / kv_heads) (grouped-query attention).
/// Limits: head_dim <= 256, batch and heads <= 65535 (grid: one block per (32-query tile, head, batch)).
struct attention_params {
  dtype type = dtype::f16;
  const void* q = nullptr; // see above
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr; // must not alias q, k or v
  const std::int32_t* seq_lens = nullptr; // [batch] or null (all sequences have `seq` tokens)
  const std::int32_t* seq_starts = nullptr; // [batch + 1] or null
  int batch = 0, seq = 0, heads = 0, head_dim = 0;
  int kv_heads = 0; // 0 = heads
  std::int64_t q_stride = 0, k_stride = 0, v_stride = 0, out_stride = 0; // elements; 0 = heads*head_dim
  bool causal = true;
  float scale = 0.0f; // 0 means 1/sqrt(head_dim)
  [[nodiscard]] status check() const;
};
[[nodiscard]] cudaError_t invoke_attention(const attention_params& p, cudaStream_t stream);

/// The paged KV cache ops of gpu/ops.hpp (kv_append, paged_attention: layout, step metadata and
/// semantics there; the block tables and metadata are device memory). paged_attention: head_dim <= 256.
/// Both return cudaErrorInvalidValue without launching when check() fails.
[[nodiscard]] cudaError_t invoke_kv_append(const gpu::kv_append_params& p, cudaStream_t stream);
[[nodiscard]] cudaError_t invoke_paged_attention(const gpu::paged_attention_params& p, cudaStream_t stream);

/// The architecture-option ops of gpu/ops.hpp (rotary, gated_act, pool; semantics there), checked with
/// their check() (cudaErrorInvalidValue without launching when it fails). arch_kernels.cu.
[[nodiscard]] cudaError_t invoke_rotary(const gpu::rotary_params& p, cudaStream_t stream);
[[nodiscard]] cudaError_t invoke_gated_act(const gpu::gated_act_params& p, cudaStream_t stream);
[[nodiscard]] cudaError_t invoke_pool(const gpu::pool_params& p, cudaStream_t stream);

/// Scratch bytes a kernel needs besides its operands (0 for all kernels in this header).
template <class Params>
constexpr std::size_t workspace_bytes(const Params&) noexcept {
  return 0;
}

} // namespace sy::gpu::cuda
