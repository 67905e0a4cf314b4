#pragma once
// Live migration from one placement to another (issue 11 §2): what changes, and in which order. Pure
// functions over group shapes; any thread. The controller (controller_migration.hpp) runs the steps.
//
// The diff: a current group whose shape (tensor x pipeline, devices in order) and model set equal a target
// group's is kept as it is; every other current group leaves and every other target group is built. A group
// whose models or shape change is therefore drained and rebuilt (the stages shard their models at build).
//
// The order (next_steps, run again after every event: a group ready, a group's devices freed, a request
// answered):
// - A target group starts building (its replicas load through load entries) once none of its devices is held:
//   by a current group (kept, leaving and not yet gone), another target, or a group outside the migration.
// - A leaving group retires (takes no new requests, answers what it accepted, then frees its devices) when
//   its devices are wanted by a target not started yet, or when every target is ready (the final clean-up),
//   and, in both cases, only if every model it holds is served meanwhile by another group that is ready and
//   not retiring (a kept group, a ready target, or another leaving group that stays for now).
// - Forced: when nothing is in progress (no target building, no leaving group retiring or freeing its
//   devices) and a target still waits for devices, the leaving groups on the first such target's devices
//   retire although they hold a model's last replica; that model is refused with a reason until its new
//   replica is resident. Never lost: a retiring group answers everything it accepted.
#include <set>
#include <string>
#include <vector>

#include "config/cluster_config.hpp"

namespace sy::actors::internal {

struct group_shape {
  int op = 1, pp = 1;
  std::vector<config::device_ref> devices; // [s * op + r]
  std::set<std::string> models;
};

struct placement_diff {
  std::vector<std::pair<std::size_t, std::size_t>> kept; // (current, target)
  std::vector<std::size_t> leaving;                      // current groups that go
  std::vector<std::size_t> building;                     // target groups to build
};

/// Matches current to target groups (equal shape, devices and models); each is matched at most once.
[[nodiscard]] placement_diff diff_placement(const std::vector<group_shape>& current,
                                            const std::vector<group_shape>& target);

enum class target_phase { pending, building, ready };
enum class leaving_phase {
  serving,  // takes requests as before
  retiring, // takes no new requests, answers those it accepted
  freeing,  // retired, its stages stop (its devices are still held)
  gone,     // its devices are free
};

struct migration_view {
  struct target {
    group_shape shape;
    target_phase phase = target_phase::pending;
  };
  struct leaving {
    group_shape shape;
    leaving_phase phase = leaving_phase::serving;
  };
  std::vector<target> targets;
  std::vector<leaving> leaving_groups;
  std::vector<group_shape> kept;              // serve throughout (ready)
  std::set<config::device_ref> held_elsewhere; // devices of groups outside the migration
};

struct migration_steps {
  std::vector<std::size_t> start;  // targets to build now
  std::vector<std::size_t> retire; // leaving groups to retire now
  std::vector<std::string> forced; // the models that lose their last serving replica (reason for the log)
  bool done = false;               // every target ready, every leaving group gone
  bool blocked = false;            // a target waits for devices that only groups outside the migration hold
};

/// The steps to take now (see the header comment). Deterministic: targets and leaving groups in index order.
[[nodiscard]] migration_steps next_steps(const migration_view& v);

} // namespace sy::actors::internal
