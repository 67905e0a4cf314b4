#pragma once
// The transformer ops of the device interface (gpu/device.hpp), one documented params struct per op
// (STYLE.md, TensorRT-LLM style). Every pointer in a params struct is DEVICE memory of the device the op is
// enqueued on (on the cpu backend that is ordinary host memory owned by that device's allocator), and it
// must stay allocated until the op has completed on its stream. Layouts are row-major; "stride" fields count
// ELEMENTS between the starts of consecutive rows (0 = densely packed, i.e. the row length).
//
// Every struct has check(): it validates sizes and non-null pointers on the host; a device's enqueue
// function calls it and returns its error without enqueuing anything. Plain value types, any thread.
#include <cstddef>
#include <cstdint>

#include "gpu/model_spec.hpp"
#include "messages/result.hpp"

namespace sy::gpu {

/// Element-wise activation applied after a bias (fused epilogue). gelu_tanh: the tanh approximation
/// (GPT-2); gelu_erf: 0.5 x (1 + erf(x / sqrt 2)) (BERT); relu: max(x, 0) (OPT); silu: x / (1 + e^-x).
enum class activation : std::uint8_t { none, gelu_tanh, tanh, gelu_erf, relu, silu };
/// The activation of an FFN kind (silu_gated -> silu, applied to the gate by gated_act).
activation ffn_activation(ffn_kind k) noexcept;

/// C = alpha * op(A) * op(B) + beta * C, then C[i, :] += bias, then C = act(C). Row-major.
/// op(A) is [m, k]: A is [m, k] with lda >= k, or, with trans_a, [k, m] with lda >= m. Likewise op(B) is
/// [k, n]: B is [k, n] (ldb >= n) or, with trans_b, [n, k] (ldb >= k). C is [m, n], ldc >= n.
/// A, B, C (and bias) have element type `type`; accumulation is always fp32.
struct gemm_params {
  const void* a = nullptr;
  const void* b = nullptr;
  void* c = nullptr;
  const void* bias = nullptr;  // optional, [n]
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldc = 0; // 0 = packed
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
  activation act = activation::none;
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// out[r, :] = tok_emb[tokens[r], :] + pos_emb[pos(r), :] + type_emb[token_types[r], :] for rows
/// r = b*seq + t, b < batch, t < seq; pos(r) = positions[r] when given, else t. pos_emb is optional (null:
/// rotary models have no position table), and so are token types (null type_emb: none; null token_types
/// with a type_emb: type 0 for every row). Packed variable-length sequences: batch 1, seq = total rows and
/// positions = each row's position within its sequence.
/// tokens, positions and types are int32 in device memory; the caller validated them (0 <= token < vocab,
/// 0 <= position < max_seq, 0 <= type < type_vocab) on the host.
struct embedding_params {
  const std::int32_t* tokens = nullptr; // [batch * seq]
  const void* tok_emb = nullptr;        // [vocab, hidden]
  const void* pos_emb = nullptr;        // [max_seq, hidden] or null
  void* out = nullptr;                  // [batch * seq, hidden]
  int batch = 0, seq = 0, hidden = 0, vocab = 0, max_seq = 0;
  const std::int32_t* positions = nullptr;   // [batch * seq] or null
  const void* type_emb = nullptr;            // [type_vocab, hidden] or null
  const std::int32_t* token_types = nullptr; // [batch * seq] or null (all 0)
  int type_vocab = 0;
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// out[r, :] = (in[r, :] - mean) / sqrt(var + eps) * gamma + beta for r < rows; with rms (RMSNorm):
/// out[r, :] = in[r, :] / sqrt(mean(in[r, :]^2) + eps) * gamma (no beta). Statistics in fp32. in and out
/// may alias when the strides are equal. Strides allow gathering rows (e.g. the last token of each
/// sequence).
struct layer_norm_params {
  const void* in = nullptr;    // rows x cols, row r starts at r * in_stride
  void* out = nullptr;         // rows x cols, row r starts at r * out_stride
  const void* gamma = nullptr; // [cols]
  const void* beta = nullptr;  // [cols]; layer norm only (must be null with rms)
  int rows = 0, cols = 0;
  int in_stride = 0, out_stride = 0; // 0 = cols
  float eps = 1e-5f;
  bool rms = false;
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// In place: x[r, c] = act(x[r, c] + bias[c]) for r < rows, c < cols (bias optional). The tanh of the
/// encoder pooler and the GELU of the FFN when not fused into the GEMM.
struct bias_act_params {
  void* x = nullptr;           // [rows, cols], packed
  const void* bias = nullptr;  // optional, [cols]
  int rows = 0, cols = 0;
  activation act = activation::none;
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// out[i] = a[i] + b[i] for i < count (the residual add). out may alias a or b.
struct add_params {
  void* out = nullptr;
  const void* a = nullptr;
  const void* b = nullptr;
  std::size_t count = 0;
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// Scaled dot-product attention for `heads` query heads of size head_dim, batch sequences of seq tokens
/// each. Token t of sequence b is row b*seq + t of q, k, v and out; query head h occupies columns
/// [h*head_dim, (h+1)*head_dim) of q and out rows, its key/value head g = h / (heads / kv_heads) the
/// columns [g*head_dim, (g+1)*head_dim) of k and v rows (grouped-query attention; kv_heads 0 = heads).
/// out = softmax(scale * Q K^T [+ causal mask]) V per (b, h). causal: token t attends to tokens 0..t
/// (decoder); otherwise to all tokens of its sequence (encoder). Softmax in fp32.
/// Packed variable-length sequences: with seq_starts (device int32 [batch + 1], seq_starts[0] = 0,
/// increasing), sequence b is rows seq_starts[b] .. seq_starts[b+1]-1 (at most `seq` rows: seq is the
/// longest) and attends only within itself; rows of other sequences are neither read nor written.
/// Any scratch memory is the backend's own (not counted against the budget).
struct attention_params {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  int batch = 0, seq = 0, heads = 0, head_dim = 0;
  int kv_heads = 0;                                             // 0 = heads
  const std::int32_t* seq_starts = nullptr;                     // [batch + 1] or null (fixed length seq)
  int q_stride = 0, k_stride = 0, v_stride = 0, out_stride = 0; // 0 = heads * head_dim (k, v: kv_heads * head_dim)
  bool causal = true;
  float scale = 0.0f; // 0 = 1/sqrt(head_dim)
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// Rotary position embedding (RoPE, the GPT-NeoX / Hugging Face Llama "rotate_half" layout), in place on
/// `heads` consecutive heads of each row (pass the q heads and the k heads of a packed QKV row together:
/// they are adjacent). For row r at position p = positions[r] and pair i < head_dim/2 of a head x:
///   angle = p' * inv_freq[i],  inv_freq[i] = theta^(-2i/head_dim) (scaled, below),  p' = p (or p/factor
///   for linear scaling); (x[i], x[i + d/2]) <- (x[i] cos - x[i + d/2] sin, x[i + d/2] cos + x[i] sin).
/// llama3 scaling rescales inv_freq per frequency (Llama 3.1): wavelengths above
/// original_max/low_freq_factor are divided by factor, below original_max/high_freq_factor kept, and
/// interpolated between. Angles in fp32 as transformers computes them.
enum class rope_scaling_kind : std::uint8_t { none, linear, llama3 };
struct rotary_params {
  void* x = nullptr;                       // [rows] x stride, the first heads*head_dim columns rotated
  const std::int32_t* positions = nullptr; // [rows], device memory
  int rows = 0, heads = 0, head_dim = 0;
  int stride = 0; // 0 = heads * head_dim
  float theta = 10000.0f;
  rope_scaling_kind scaling = rope_scaling_kind::none;
  float factor = 1.0f, low_freq_factor = 1.0f, high_freq_factor = 4.0f;
  int original_max_positions = 8192;
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};
/// The rotary parameters of a spec (x, positions, rows, heads and stride left to the caller).
rotary_params rotary_for(const model_spec& spec);
/// inv_freq[i] for pair i of a head (the host reference of the kernels' formula, in double).
double rotary_inv_freq(const rotary_params& p, int i) noexcept;

/// Gated activation (SwiGLU): out[r, c] = act(in[r, c]) * in[r, cols + c] for c < cols: each input row
/// holds the gate columns, then the up columns (the FFN-in GEMM output [rows, 2*cols]).
struct gated_act_params {
  const void* in = nullptr; // [rows, 2*cols]
  void* out = nullptr;      // [rows, cols]; must not alias in
  int rows = 0, cols = 0;
  activation act = activation::silu;
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// Per-sequence pooling of packed rows: sequence b is rows seq_starts[b] .. seq_starts[b+1]-1 of `in`
/// (or, without seq_starts, rows b*seq .. b*seq+seq-1). out[b, :] = its first row (first: CLS), its last
/// row (last: the decoder's last token), or the mean of its rows (mean); then, with l2_normalize,
/// out[b, :] /= max(||out[b, :]||_2, 1e-12). fp32 arithmetic.
enum class pool_kind : std::uint8_t { first, last, mean };
struct pool_params {
  const void* in = nullptr;                 // [rows, cols]
  void* out = nullptr;                      // [batch, cols]; must not alias in
  const std::int32_t* seq_starts = nullptr; // [batch + 1], device memory, or null
  int batch = 0, seq = 0, cols = 0;         // seq: the fixed length when seq_starts is null
  pool_kind kind = pool_kind::first;
  bool l2_normalize = false;
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// dst[i] = convert(src[i]) for i < count (f32 <-> f16 <-> bf16). The cpu backend supports f32 -> f32 only
/// (a copy) and returns an error for the others.
struct convert_params {
  const void* src = nullptr;
  void* dst = nullptr;
  std::size_t count = 0;
  dtype src_type = dtype::f32;
  dtype dst_type = dtype::f32;
  [[nodiscard]] status check() const;
};

// --- Paged KV cache (generation, issue 10; gpu/kv_cache.hpp owns the blocks) ---------------------------
//
// A block holds `block_tokens` consecutive tokens of one sequence for every layer of a (model, stage,
// tensor rank), laid out [layers][2 (K, V)][kv_heads][block_tokens][head_dim] in `type`: the K row of
// (layer l, kv head g, token slot t) starts at element ((l*2 + 0)*kv_heads + g)*block_tokens*head_dim +
// t*head_dim of the block, the V row at ((l*2 + 1)*kv_heads + g)*block_tokens*head_dim + t*head_dim. Token
// rows are contiguous so kv_append writes whole rows and both backends read a key with unit stride.
//
// A step batch: `seqs` sequences; sequence s contributes the rows query_start[s] .. query_start[s+1]-1 of
// the step's q/k/v (its new tokens: a prefill chunk of many tokens or one decode token), and after the
// step holds context_lens[s] tokens in its cache (the new ones included), so its new token i sits at
// position context_lens[s] - n_s + i. Token position p of s lives in block block_tables[s*max_blocks +
// p/block_tokens] at slot p % block_tokens.
struct paged_kv {
  void* const* block_tables = nullptr;       // [seqs, max_blocks] block base addresses (device memory)
  const std::int32_t* query_start = nullptr; // [seqs + 1], device memory, query_start[0] = 0, non-decreasing
  const std::int32_t* context_lens = nullptr; // [seqs], device memory, n_s <= context_lens[s] <= max_context
  int seqs = 0, tokens = 0;                  // tokens = query_start[seqs] (the rows of q/k/v/out)
  int max_blocks = 0;                        // columns of block_tables (>= ceil(max_context / block_tokens))
  int max_context = 0;                       // an upper bound of every context_lens[s] (kernel sizing)
  int layers = 0, layer = 0;                 // layers of the block layout, the layer this op reads/writes
  int kv_heads = 0, head_dim = 0, block_tokens = 0;
  [[nodiscard]] status check(const char* op) const;
};

/// Writes the step's new K and V rows into their blocks (before paged_attention of the same layer): row
/// r = query_start[s] + i of k (v) -> (layer, head g, position context_lens[s] - n_s + i) of sequence s,
/// for every g < kv_heads. k and v are [tokens] x stride with kv_heads*head_dim columns used (e.g. slices of
/// the packed QKV GEMM output).
struct kv_append_params {
  paged_kv kv;
  const void* k = nullptr;
  const void* v = nullptr;
  int k_stride = 0, v_stride = 0; // 0 = kv_heads * head_dim
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

/// Attention of a step batch over the paged cache: for row r = query_start[s] + i (position p =
/// context_lens[s] - n_s + i) and query head h, out[r, h] = softmax(scale * q[r, h] . K[s, g, 0..p]) V[s, g,
/// 0..p] with g = h / (heads / kv_heads) (grouped-query attention; kv_heads == heads is multi-head). Causal
/// within the sequence (keys 0..p), never across sequences; softmax in fp32. q rows are [tokens] x q_stride
/// with heads*head_dim columns used, out likewise. The layer's K/V must already be appended (kv_append).
struct paged_attention_params {
  paged_kv kv;
  const void* q = nullptr;
  void* out = nullptr; // must not alias q
  int heads = 0;
  int q_stride = 0, out_stride = 0; // 0 = heads * head_dim
  float scale = 0.0f;               // 0 = 1/sqrt(head_dim)
  dtype type = dtype::f32;
  [[nodiscard]] status check() const;
};

} // namespace sy::gpu
