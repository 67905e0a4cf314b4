#pragma once
// controller_actor: the client interface of the cluster, what ingress, `switchyard up` and `replay` talk to
// (DESIGN.md §1). One controller per cluster; its handle may be used from any actor or scoped_actor, in any
// process (all payloads are serializable). The controller never answers an infer with an error: every
// request gets exactly one infer_response (ok, rejected, deadline_exceeded or failed).
//
// Lifecycle:  starting --(all nodes registered, groups wired)--> ready --drain--> draining --stop--> stopped
// Requests that arrive before ready or while draining are answered `rejected` ("not ready" / "draining").
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/control.hpp"
#include "messages/generate.hpp"
#include "messages/infer.hpp"
#include "messages/placement.hpp"
#include "messages/policy.hpp"

namespace sy::messages {

using controller_actor = caf::typed_actor<
  // One inference. The answer arrives when the output is ready or the request ends otherwise.
  caf::replies_to<infer_atom, infer_request>::with<infer_response>,
  // One generation (issue 10): token frames go to req.stream as they come, then the one response.
  caf::replies_to<generate_atom, generate_request>::with<generate_response>,
  // Load a model's weights onto its group(s) (cmd.group empty: every group hosting it), evicting others if
  // needed. Answers once resident. Concurrent loads of one model load it once.
  caf::replies_to<load_atom, model_command>::with<ack>,
  // Evict a model from its group(s). Answers once its shards are freed, after its in-flight requests
  // completed. A later request for it loads it again (swap-in).
  caf::replies_to<unload_atom, model_command>::with<ack>,
  // Every configured model with its replicas and their residency.
  caf::replies_to<list_atom>::with<std::vector<model_info>>,
  caf::replies_to<health_atom>::with<health_report>,
  caf::replies_to<metrics_atom>::with<metrics_snapshot>,
  // Reject new requests from now on; answers once every accepted request has been answered.
  caf::replies_to<drain_atom>::with<ack>,
  // Drain, then stop every node, gpu, stage and group actor; answers when they are gone. The controller
  // quits after answering.
  caf::replies_to<stop_atom>::with<ack>,
  // The runtime policy of a kind (admission | dispatch | batching | eviction) now in effect.
  caf::replies_to<policy_atom, std::string>::with<policy_info>,
  // Swap the runtime policy of spec.kind at run time (built-in or plug-in name): answers with the new policy
  // once the controller uses it (the groups get it right after), or ok=false and why (the old one stays).
  caf::replies_to<policy_atom, policy_spec>::with<policy_info>,
  // The placement served now and the migration in progress (issue 11 §2).
  caf::replies_to<placement_atom>::with<placement_status>,
  // Apply a plan (a plan file's text, YAML or JSON, or GET /v2/placement's JSON): answers once the migration
  // is accepted (it then runs live), or why not (nothing changed).
  caf::replies_to<placement_atom, std::string>::with<placement_answer>>;

} // namespace sy::messages
