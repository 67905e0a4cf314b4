#pragma once
// The cpu backend's kernels: fp32 reference-quality implementations of gpu/ops.hpp, run synchronously on
// the calling thread (a device's stream worker). GEMMs go to OpenBLAS (cblas_sgemm). Parameters were
// checked (params.check()) and have type f32.
#include "gpu/ops.hpp"

namespace sy::gpu::cpu {

void run_gemm(const gemm_params& p);
void run_embedding(const embedding_params& p);
void run_layer_norm(const layer_norm_params& p);
void run_bias_act(const bias_act_params& p);
void run_add(const add_params& p);
void run_attention(const attention_params& p);
// Architecture options (cpu_arch_kernels.cpp): rotary embeddings, gated activations, pooling.
void run_rotary(const rotary_params& p);
void run_gated_act(const gated_act_params& p);
void run_pool(const pool_params& p);
/// act(x) of one value (the activations of gpu/ops.hpp).
float activate(float x, activation act) noexcept;
// Paged KV cache (cpu_paged_kernels.cpp).
void run_kv_append(const kv_append_params& p);
void run_paged_attention(const paged_attention_params& p);

/// x[r*ld + c] = act(x[r*ld + c] + bias[c]) (bias may be null).
void bias_act_rows(float* x, const float* bias, int rows, int cols, int ld, activation act);

} // namespace sy::gpu::cpu
