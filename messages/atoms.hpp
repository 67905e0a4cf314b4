#pragma once
// Every atom of switchyard's actor interfaces (CAF 0.17: atom text at most 10 characters). Names differ
// from CAF's own atoms (caf::ok_atom, caf::get_atom, ...) so that both can be used unqualified.
#include <caf/atom.hpp>

namespace sy::messages {

// client interface of the controller (messages/controller.hpp)
using infer_atom = caf::atom_constant<caf::atom("sy_infer")>;
using load_atom = caf::atom_constant<caf::atom("sy_load")>;
using unload_atom = caf::atom_constant<caf::atom("sy_unload")>;
using list_atom = caf::atom_constant<caf::atom("sy_list")>;
using health_atom = caf::atom_constant<caf::atom("sy_health")>;
using metrics_atom = caf::atom_constant<caf::atom("sy_metrics")>;
using drain_atom = caf::atom_constant<caf::atom("sy_drain")>;
using stop_atom = caf::atom_constant<caf::atom("sy_stop")>;
using policy_atom = caf::atom_constant<caf::atom("sy_policy")>;
using generate_atom = caf::atom_constant<caf::atom("sy_gen")>; // issue 10: a generation request
using token_atom = caf::atom_constant<caf::atom("sy_token")>;  // issue 10: one streamed token
using placement_atom = caf::atom_constant<caf::atom("sy_place")>; // issue 11: the placement, re-placement

// runtime-internal interfaces (messages/interfaces.hpp)
using register_atom = caf::atom_constant<caf::atom("sy_reg")>;
using spawn_stage_atom = caf::atom_constant<caf::atom("sy_spstage")>;
using attach_atom = caf::atom_constant<caf::atom("sy_attach")>;
using enqueue_atom = caf::atom_constant<caf::atom("sy_enqueue")>;
using cancel_atom = caf::atom_constant<caf::atom("sy_cancel")>;
using outcome_atom = caf::atom_constant<caf::atom("sy_outcome")>;
using done_atom = caf::atom_constant<caf::atom("sy_done")>;
using report_atom = caf::atom_constant<caf::atom("sy_report")>;
using swap_atom = caf::atom_constant<caf::atom("sy_swap")>;
using status_atom = caf::atom_constant<caf::atom("sy_status")>;
using timeout_atom = caf::atom_constant<caf::atom("sy_timeout")>;
using completion_atom = caf::atom_constant<caf::atom("sy_compl")>;
using tick_atom = caf::atom_constant<caf::atom("sy_tick")>;
using heartbeat_atom = caf::atom_constant<caf::atom("sy_beat")>;
using ready_atom = caf::atom_constant<caf::atom("sy_ready")>;

constexpr infer_atom infer_atom_v{};
constexpr load_atom load_atom_v{};
constexpr unload_atom unload_atom_v{};
constexpr list_atom list_atom_v{};
constexpr health_atom health_atom_v{};
constexpr metrics_atom metrics_atom_v{};
constexpr drain_atom drain_atom_v{};
constexpr stop_atom stop_atom_v{};
constexpr policy_atom policy_atom_v{};
constexpr generate_atom generate_atom_v{};
constexpr token_atom token_atom_v{};
constexpr placement_atom placement_atom_v{};
constexpr register_atom register_atom_v{};
constexpr spawn_stage_atom spawn_stage_atom_v{};
constexpr attach_atom attach_atom_v{};
constexpr enqueue_atom enqueue_atom_v{};
constexpr cancel_atom cancel_atom_v{};
constexpr outcome_atom outcome_atom_v{};
constexpr done_atom done_atom_v{};
constexpr report_atom report_atom_v{};
constexpr swap_atom swap_atom_v{};
constexpr status_atom status_atom_v{};
constexpr timeout_atom timeout_atom_v{};
constexpr completion_atom completion_atom_v{};
constexpr tick_atom tick_atom_v{};
constexpr heartbeat_atom heartbeat_atom_v{};
constexpr ready_atom ready_atom_v{};

} // namespace sy::messages
