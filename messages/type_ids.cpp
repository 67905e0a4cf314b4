#include "messages/type_ids.hpp"

#include <caf/actor_system_config.hpp>

#include "messages/controller.hpp"
#include "messages/interfaces.hpp"

namespace sy::messages {

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<tensor>("sy.tensor");
  cfg.add_message_type<infer_request>("sy.infer_request");
  cfg.add_message_type<infer_response>("sy.infer_response");
  cfg.add_message_type<sampling_options>("sy.sampling_options");
  cfg.add_message_type<token_frame>("sy.token_frame");
  cfg.add_message_type<generate_request>("sy.generate_request");
  cfg.add_message_type<generate_timings>("sy.generate_timings");
  cfg.add_message_type<generate_response>("sy.generate_response");
  cfg.add_message_type<token_sink_actor>("sy.token_sink_actor");
  cfg.add_message_type<request_timings>("sy.request_timings");
  cfg.add_message_type<ack>("sy.ack");
  cfg.add_message_type<model_command>("sy.model_command");
  cfg.add_message_type<model_info>("sy.model_info"); // also std::vector<model_info>
  cfg.add_message_type<replica_info>("sy.replica_info");
  cfg.add_message_type<swap_stats>("sy.swap_stats");
  cfg.add_message_type<request_counts>("sy.request_counts");
  cfg.add_message_type<latency_histogram>("sy.latency_histogram");
  cfg.add_message_type<health_report>("sy.health_report");
  cfg.add_message_type<metrics_snapshot>("sy.metrics_snapshot");
  cfg.add_message_type<controller_actor>("sy.controller_actor");
  cfg.add_message_type<policy_spec>("sy.policy_spec");
  cfg.add_message_type<policy_info>("sy.policy_info");
  cfg.add_message_type<placement_answer>("sy.placement_answer");
  cfg.add_message_type<placement_status>("sy.placement_status");
  cfg.add_message_type<replan_report>("sy.replan_report");
  add_internal_message_types(cfg);
}

} // namespace sy::messages
