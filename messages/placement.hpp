#pragma once
// Re-placement while serving (issue 11 §2): the controller's answers to GET and POST /v2/placement.
// Payloads only; any thread.
#include <cstdint>
#include <string>

namespace sy::messages {

/// What became of a placement asked for (POST /v2/placement, a re-placement policy's proposal).
enum class placement_outcome : std::uint8_t {
  accepted,    // the migration started (202), `id` names it
  invalid,     // the plan is wrong for this deployment (400), `reason` says where; nothing changed
  busy,        // a migration is in progress (409), `id` names it; nothing changed
  unavailable, // the cluster is not ready, draining or stopping (503)
  unchanged,   // the plan equals the placement served (200): nothing to do
  conflict,    // the cluster's state refuses it now (409), `reason` says what: a device on a lost node or a
               // failed one, a group still loading or stopping (a node loss's re-placement); nothing changed
};

/// HTTP status of an outcome.
constexpr int http_status(placement_outcome o) noexcept {
  switch (o) {
    case placement_outcome::accepted: return 202;
    case placement_outcome::invalid: return 400;
    case placement_outcome::busy: return 409;
    case placement_outcome::unavailable: return 503;
    case placement_outcome::unchanged: return 200;
    case placement_outcome::conflict: return 409;
  }
  return 500;
}

constexpr const char* to_string(placement_outcome o) noexcept {
  switch (o) {
    case placement_outcome::accepted: return "accepted";
    case placement_outcome::invalid: return "invalid";
    case placement_outcome::busy: return "busy";
    case placement_outcome::unavailable: return "unavailable";
    case placement_outcome::unchanged: return "unchanged";
    case placement_outcome::conflict: return "conflict";
  }
  return "invalid";
}

struct placement_answer {
  placement_outcome outcome = placement_outcome::invalid;
  std::string id;     // the migration (accepted, busy)
  std::string reason; // why (invalid, unavailable), or what it does (accepted)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_answer& x) {
  return f(x.outcome, x.id, x.reason);
}

/// The placement now served, as the controller knows it (GET /v2/placement).
struct placement_status {
  std::int64_t generation = 0; // migrations completed (0: the placement started with)
  std::string groups_json;     // JSON array of {name, tensor, pipeline, devices ["node:ordinal"], models}
  std::string migration_json;  // JSON object of the migration in progress; empty: none
  std::string last_json;       // JSON object of the last migration finished; empty: none
  std::string replan_json;     // JSON object of the re-placement policy (its re-plan in flight, the last
                               // re-plan's outcome); empty: no policy
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, placement_status& x) {
  return f(x.generation, x.groups_json, x.migration_json, x.last_json, x.replan_json);
}

/// A re-plan's result, from the planner (a detached actor) to the controller (controller_replan.cpp).
struct replan_report {
  std::uint64_t seq = 0;       // which re-plan
  std::string error;           // non-empty: the planner failed
  std::string plan_json;       // the candidate placement (GET /v2/placement's form)
  double served_score = -1;    // predicted attainment of the placement served on the window's rates
  double candidate_score = -1; // ... of the candidate
  double planning_s = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replan_report& x) {
  return f(x.seq, x.error, x.plan_json, x.served_score, x.candidate_score, x.planning_s);
}

} // namespace sy::messages
