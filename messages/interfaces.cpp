#include "messages/interfaces.hpp"

#include <caf/actor_system_config.hpp>

namespace sy::messages {

void add_internal_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<request_outcome>("sy.request_outcome");
  cfg.add_message_type<queued_request>("sy.queued_request");
  cfg.add_message_type<generation_outcome>("sy.generation_outcome");
  cfg.add_message_type<queued_generation>("sy.queued_generation");
  cfg.add_message_type<step_entry>("sy.step_entry");
  cfg.add_message_type<step_result>("sy.step_result");
  cfg.add_message_type<release_entry>("sy.release_entry");
  cfg.add_message_type<kv_swap_entry>("sy.kv_swap_entry");
  cfg.add_message_type<kv_swap_result>("sy.kv_swap_result");
  cfg.add_message_type<kv_usage_report>("sy.kv_usage_report");
  cfg.add_message_type<batch_entry>("sy.batch_entry");
  cfg.add_message_type<load_entry>("sy.load_entry");
  cfg.add_message_type<evict_entry>("sy.evict_entry");
  cfg.add_message_type<stage_event>("sy.stage_event");
  cfg.add_message_type<swap_record>("sy.swap_record");
  cfg.add_message_type<stage_completion>("sy.stage_completion");
  cfg.add_message_type<stage_spec>("sy.stage_spec");
  cfg.add_message_type<node_registration>("sy.node_registration");
  cfg.add_message_type<gen_load>("sy.gen_load");
  cfg.add_message_type<group_report>("sy.group_report");
  cfg.add_message_type<request_record>("sy.request_record");
  cfg.add_message_type<request_actor>("sy.request_actor");
  cfg.add_message_type<stage_input_actor>("sy.stage_input_actor");
  cfg.add_message_type<group_events_actor>("sy.group_events_actor");
  cfg.add_message_type<stage_actor>("sy.stage_actor");
  cfg.add_message_type<gpu_actor>("sy.gpu_actor");
  cfg.add_message_type<node_actor>("sy.node_actor");
  cfg.add_message_type<model_group_actor>("sy.model_group_actor");
  cfg.add_message_type<controller_full_actor>("sy.controller_full_actor");
  cfg.add_message_type<policy_actor>("sy.policy_actor");
}

} // namespace sy::messages
