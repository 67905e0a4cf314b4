#pragma once
// The controller's state (actors/controller.cpp): cluster view, groups, in-flight requests, metrics.
// Owned by the controller actor; only its handlers touch it.
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/typed_response_promise.hpp>

#include <optional>

#include "actors/internal/arrival_stats.hpp"
#include "actors/internal/group_plan.hpp"
#include "actors/internal/ttft_predictor.hpp"
#include "messages/interfaces.hpp"
#include "policies/policy_registry.hpp"
#include "policies/profile.hpp"

namespace sy::actors::internal {

struct group_slot {
  planned_group plan;
  messages::model_group_actor actor;
  messages::group_report report; // latest, plus optimistic updates at dispatch
  std::vector<messages::stage_actor> stages;
  int stages_pending = 0;
  bool ready = false;
  std::string down;       // non-empty: why the group serves nothing now (a node lost, a device unhealthy)
  std::uint64_t epoch = 0; // bumped on every (re)build and loss: answers of an older build are ignored
  messages::error_code down_code = messages::error_code::none; // why down (node_lost, device_error)
  // Re-placement (controller_nodes.cpp). A replacement group is built after a loss for the replicas it took,
  // on devices that serve nothing; it is not in the configured placement and goes once that is whole again:
  //   building -> ready -> retiring (no new requests) -> stopping (its stages stop) -> retired
  // (or straight to retired when it goes down itself). Slots are never erased: indices are ids.
  bool replacement = false;
  std::string origin;      // replacement: the loss it stands in for ("node b lost: ...")
  bool retiring = false;   // replacement: takes no new requests; stops once its last one is answered
  int stages_stopping = 0; // replacement: stage stops not yet acknowledged
  bool retired = false;    // replacement: gone for good
  // Live migration (controller_migration.hpp, issue 11 §2): a configured group that a new placement leaves
  // (it retires like a replacement group and is never restored), or a group that a migration builds.
  bool leaving = false;
  bool migrating = false; // built by the migration in progress and not ready yet (not "missing" in health)
  // generations sent to this group that its last report may not count yet, per model (controller_generate.cpp)
  std::map<std::string, pending_generations> gen_pending{};
};

/// A migration from the placement served to another (controller_migration.hpp).
struct migration_run {
  std::string id;                       // "m<N>"
  std::string source;                   // "POST /v2/placement", "policy windowed", ...
  messages::time_point started{};
  std::vector<planned_group> targets;   // the groups to build
  std::vector<std::ptrdiff_t> target_slot; // their slots once started (-1: not yet)
  std::vector<std::size_t> leaving;     // slots that go
  std::vector<std::size_t> kept;        // slots that stay as they are
  std::vector<std::string> forced;      // models refused meanwhile because devices forced it
  std::string failed;                   // non-empty: a target could not be built (the migration stopped)
  std::vector<std::string> dropped;     // groups down at the start (node loss) that leave the placement
  bool blocked = false;                 // a target waits for devices held outside the migration
};

struct in_flight_request {
  std::string model;
  std::size_t group = 0;
  messages::request_actor who;
  std::uint64_t seq = 0; // key in controller_state::by_seq
};

struct controller_state {
  std::shared_ptr<const config::cluster_config> cfg;
  policies::admission_fn admission;
  policies::dispatch_fn dispatch;
  policies::batching_fn batching;
  policies::eviction_fn eviction;
  std::shared_ptr<const policies::policy_registry> registry; // built-ins + the config's plug-ins
  std::map<std::string, messages::policy_actor> policy_actors; // by kind (controller_policies.cpp)
  std::map<std::string, messages::node_registration> nodes; // present now
  std::map<std::string, messages::time_point> last_seen;    // remote nodes: their last heartbeat answer
  std::map<std::string, std::string> lost_nodes;            // expected, lost, not back yet: why
  bool beating = false;                                     // the heartbeat timer runs
  std::vector<group_slot> groups;
  bool wiring = false;
  bool ready = false;
  bool draining = false;
  bool stopping = false;
  std::vector<std::string> problems;
  std::unordered_map<caf::actor_addr, in_flight_request> in_flight;
  // Request deadlines, earliest first (entries of answered requests are dropped when they come up): the
  // controller's periodic tick (deadline_tick, armed while requests are in flight) sends their request
  // actors timeout_atom, instead of one clock event per request.
  // (Entries name requests by a sequence number, not by actor address: an address is a weak reference that
  // would keep the finished actor's memory until its deadline.)
  struct deadline_entry {
    messages::time_point at;
    std::uint64_t seq;
    bool operator>(const deadline_entry& o) const { return at > o.at; }
  };
  std::priority_queue<deadline_entry, std::vector<deadline_entry>, std::greater<deadline_entry>> deadlines;
  std::unordered_map<std::uint64_t, caf::actor_addr> by_seq; // in-flight requests by sequence number
  std::uint64_t next_seq = 1;
  messages::time_point tick_at = messages::time_point::max(); // the earliest tick on its way
  std::vector<caf::typed_response_promise<messages::ack>> drain_waiters;
  std::vector<caf::typed_response_promise<messages::ack>> stop_waiters;
  // metrics
  std::map<std::string, messages::request_counts> counts;
  std::map<std::string, messages::latency_histogram> latency;
  std::map<std::string, std::uint64_t> rejected_by_reason;
  std::uint64_t replacements = 0; // replacement groups built
  std::uint64_t models_moved = 0; // model replicas placed on them
  int next_replacement = 1;       // names r<N>
  std::string last_cause;         // the last loss that asked for re-placement, for the log
  std::set<config::device_ref> suspect_devices; // a replacement failed there: not used again until its node rejoins
  // issue 11 §2: arrivals per model (the re-placement policies read them), the migration in progress
  arrival_stats arrivals;
  std::optional<migration_run> migration;
  std::uint64_t next_migration = 1;
  std::int64_t placement_generation = 0; // migrations completed
  std::string last_migration_json;       // the last one finished, for GET /v2/placement
  std::uint64_t migration_models_moved = 0; // replicas built by migrations (a model in a new group)
  std::uint64_t migration_bytes_loaded = 0; // their shard bytes, summed over devices
  std::map<std::string, std::map<std::string, std::uint64_t>> replans; // by policy, outcome
  std::vector<double> converge_seconds;  // each migration's accepted -> done time
  // the re-placement policy (controller_replan.hpp); empty: off
  policies::replacement_fn replan;
  std::string replan_name;
  std::chrono::milliseconds replan_window{30000};
  std::shared_ptr<const policies::profile_db> replan_db;
  std::map<std::string, double> assumed_rps; // what the served placement was planned for
  messages::time_point last_replan{};
  bool replan_ticking = false;
  std::uint64_t replan_seq = 0;     // the re-plan in flight (0: none)
  std::uint64_t replans_started = 0;
  std::map<std::string, double> replan_rates; // the rates it plans on
  std::string last_replan_reason;  // the policy's last word, for the log and GET
  std::string last_replan_json;    // the last re-plan's outcome (applied, kept, ...), for GET /v2/placement
  std::string replan_deferred;     // the last deferral's reason (counted once), empty once a re-plan started
  std::string replan_without;      // the devices the re-plan in flight plans without (lost, failed), for GET
};

/// Histogram bounds (seconds) of every latency histogram.
const std::vector<double>& latency_bounds();

/// The re-placement metrics (issue 11 §2) into a snapshot.
void add_placement_metrics(const controller_state& st, messages::metrics_snapshot& snap);

/// Records one terminal answer in the metrics.
void record(controller_state& st, const std::string& model, messages::request_status s, const std::string& reason,
            double seconds);

} // namespace sy::actors::internal
