#pragma once
// Parallelization of one model for one group shape (DESIGN.md §4 "parallelization" policy): the intra-op
// ILP picks the sharding of a layer for the tensor degree, the inter-op DP cuts the layers into stages.
// Output feeds profile entries (stage boundaries, per-stage costs) and the engine (sharding plan).
// Pure function; any thread.
#include <vector>

#include "gpu/model_spec.hpp"
#include "messages/result.hpp"
#include "policies/cost_model.hpp"
#include "policies/parallel/inter_op.hpp"
#include "policies/parallel/intra_op.hpp"
#include "policies/profile.hpp"

namespace sy::policies::parallel {

struct model_plan {
  parallel_config config;
  stage_split stages;            // boundaries and batch-1 stage seconds (cost model)
  sharding_plan layer_sharding;  // the ILP's choice for every layer (layers are identical)
  double ilp_layer_seconds = 0;  // the ILP objective of one layer at the profiled tokens
  double model_layer_seconds = 0;// the cost model's layer_seconds for comparison
};

/// Plans `m` on `c` with the cost model's hardware and sequence length (batch 1). Errors: invalid config,
/// memory (no stage split fits; the ILP is run with the per-device memory limit of the layer's share),
/// solver failures.
result<model_plan> plan_model(const gpu::model_spec& m, parallel_config c, const cost_model& cm,
                              const ilp_options& o = {});

} // namespace sy::policies::parallel
