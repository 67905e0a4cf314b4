#pragma once
// The controller's side of generation requests (issue 10 §2): checks a generate_request against the
// model's spec, admits it (TTFT rule: internal/ttft_predictor.hpp over the group's report), picks a group hosting the model and hands it to a request actor,
// which streams its tokens and gives the one answer. Called from the controller's handlers only.
#include <caf/typed_event_based_actor.hpp>

#include "actors/internal/controller_policies.hpp"
#include "actors/spawn.hpp"

namespace sy::actors::internal {

caf::result<messages::generate_response> on_generate(controller_self self, messages::generate_request& req);

/// The generation part of a group's report in the metrics snapshot (keys "group/model", "group/stage").
void add_generation_metrics(const std::string& group, const messages::group_report& r, messages::metrics_snapshot& snap);

/// The group options of generation for a model_group of `plan` (the decoders it hosts, their eos).
void add_generation_init(const controller_state& st, const planned_group& plan, model_group_init& init);

} // namespace sy::actors::internal
