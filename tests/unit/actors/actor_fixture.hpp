#pragma once
// Deterministic actor tests: CAF's test coordinator (virtual clock, run() processes every ready message in
// the calling thread) and a stage_backend whose device work completes only when the test says so.
#include <deque>
#include <stdexcept>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/spawn.hpp"
#include "messages/type_ids.hpp"

namespace sy::test {

struct test_config : caf::actor_system_config {
  test_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.file-verbosity", caf::atom("quiet"));
    set("logger.console-verbosity", caf::atom("quiet"));
    messages::add_message_types(*this);
  }
};

/// A stage backend whose operations wait in `ops` until complete() runs them (in the test thread). Like a
/// device, it runs a forward only after the copy of every load of that model enqueued before it (the load
/// event): complete() skips such forwards.
/// forward computes, per batch row r, value(r) = first element of row r * 10 + (stage + 1), so the output
/// of three stages on token 7 is 7123.
class manual_backend : public actors::stage_backend {
public:
  struct op {
    std::string kind; // "load", "evict", "forward"
    std::string model;
    messages::tensor input;
    int batch = 0;
    std::shared_ptr<messages::tensor> output;
    done_fn done;
  };

  manual_backend(int stage, std::int64_t bytes) : stage_(stage), bytes_(bytes) {}

  std::int64_t shard_bytes(const std::string&) const override { return bytes_; }
  status load(const std::string& m, done_fn done) override {
    ops.push_back({"load", m, {}, 0, nullptr, std::move(done)});
    return {};
  }
  status evict(const std::string& m, done_fn done) override {
    ops.push_back({"evict", m, {}, 0, nullptr, std::move(done)});
    return {};
  }
  status forward(const std::string& m, const messages::tensor& in, int batch, int, const std::string&,
                 std::shared_ptr<messages::tensor> out, bool, done_fn done) override { // host bytes only
    // Like the engine, the backend does not keep a device-side input alive: its caller (the stage) holds
    // in.device_data until `done`.
    auto kept = in;
    kept.device_data.reset();
    ops.push_back({"forward", m, std::move(kept), batch, std::move(out), std::move(done)});
    return {};
  }

  /// How many pending ops of `kind`.
  int pending(const std::string& kind) const {
    int n = 0;
    for (auto& o : ops)
      n += o.kind == kind;
    return n;
  }
  /// True if `o` (a forward) waits for a load of its model enqueued before it.
  bool behind_load(const op& o) const {
    for (auto& x : ops) {
      if (&x == &o)
        return false;
      if (o.kind == "forward" && x.kind == "load" && x.model == o.model)
        return true;
    }
    return false;
  }
  /// Completes the oldest pending op of `kind` (any kind if empty) that may run. False: none.
  bool complete(const std::string& kind = "", const std::string& error = "") {
    for (auto it = ops.begin(); it != ops.end(); ++it) {
      if ((!kind.empty() && it->kind != kind) || behind_load(*it))
        continue;
      auto o = std::move(*it);
      ops.erase(it);
      if (o.kind == "forward" && error.empty())
        compute(o);
      ++completed[o.kind];
      o.done(error.empty() ? status{} : status{make_error(error_category, error)});
      return true;
    }
    return false;
  }

  /// Removes the oldest pending op of `kind` without completing it: the device finished it but its completion
  /// callback has not run yet (call `done` later). Precondition: pending(kind) > 0.
  op take(const std::string& kind) {
    for (auto it = ops.begin(); it != ops.end(); ++it)
      if (it->kind == kind) {
        auto o = std::move(*it);
        ops.erase(it);
        ++completed[o.kind];
        return o;
      }
    throw std::logic_error("no pending " + kind);
  }

  /// ok, or the sticky error that health() reports (set it to make the device unhealthy).
  status health() const override { return sticky; }

  std::deque<op> ops;
  std::map<std::string, int> completed; // by kind
  std::string error_category = "device"; // of the errors complete() reports
  status sticky;

private:
  void compute(op& o) {
    std::vector<float> out(static_cast<std::size_t>(o.batch));
    auto per_row = o.input.bytes.size() / static_cast<std::size_t>(o.batch);
    for (int r = 0; r < o.batch; ++r) {
      const char* p = o.input.bytes.data() + static_cast<std::size_t>(r) * per_row;
      float first = 0;
      if (o.input.type == messages::element_type::i32) {
        std::int32_t t;
        std::memcpy(&t, p, sizeof t);
        first = static_cast<float>(t);
      } else {
        std::memcpy(&first, p, sizeof first);
      }
      out[static_cast<std::size_t>(r)] = first * 10 + static_cast<float>(stage_ + 1);
    }
    *o.output = messages::tensor::from_f32(out.data(), {o.batch, 1});
  }
  int stage_;
  std::int64_t bytes_;
};

/// Collects what actors send to a request actor / a group.
struct inbox {
  std::vector<messages::request_outcome> outcomes;
  std::vector<messages::stage_event> events;
  std::vector<messages::step_result> steps;
  int count(messages::stage_event_kind k) const {
    int n = 0;
    for (auto& e : events)
      n += e.kind == k;
    return n;
  }
};

inline messages::request_actor spawn_request_probe(caf::actor_system& sys, std::shared_ptr<inbox> box) {
  return sys.spawn([box]() -> messages::request_actor::behavior_type {
    return {
      [](messages::infer_atom, messages::infer_request&) -> messages::infer_response { return {}; },
      [box](messages::outcome_atom, messages::request_outcome& o) { box->outcomes.push_back(std::move(o)); },
      [](messages::timeout_atom) {},
      [](messages::generate_atom, messages::generate_request&) -> messages::generate_response { return {}; },
      [](messages::token_atom, messages::token_frame&) {},
      [](messages::outcome_atom, messages::generation_outcome&) {},
      [](messages::cancel_atom) {},
    };
  });
}

inline messages::group_events_actor spawn_group_probe(caf::actor_system& sys, std::shared_ptr<inbox> box) {
  return sys.spawn([box]() -> messages::group_events_actor::behavior_type {
    return {[box](messages::stage_event& e) { box->events.push_back(std::move(e)); },
            [box](messages::step_result& r) { box->steps.push_back(std::move(r)); },
            [](messages::kv_usage_report&) {}};
  });
}

/// The backends a manual node created, one per stage it spawned (in spawn order).
using manual_backends = std::shared_ptr<std::vector<std::shared_ptr<manual_backend>>>;

/// A node actor whose stages run on manual_backends (each shard `bytes` large), for controller tests.
inline messages::node_actor spawn_manual_node(caf::actor_system& sys, manual_backends backends,
                                              std::int64_t bytes = 100) {
  return sys.spawn([backends, bytes](messages::node_actor::pointer self) -> messages::node_actor::behavior_type {
    return {
      [=](messages::spawn_stage_atom, messages::stage_spec& spec) -> messages::stage_actor {
        auto b = std::make_shared<manual_backend>(spec.stage, bytes);
        backends->push_back(b);
        return actors::spawn_stage(self->system(), spec.stage, b, {});
      },
      [](messages::spawn_stage_atom, std::uint64_t, messages::stage_actor&, std::string&) {},
      [](messages::heartbeat_atom) { return messages::ack{}; },
      [](messages::stop_atom) { return messages::ack{}; },
    };
  });
}

struct fixture {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::scoped_actor self{sys};

  void run() { sched.run(); }
  messages::time_point now() { return sched.clock().now(); }
};

/// A batch entry for stage 0: one sequence per token.
inline messages::batch_entry make_batch(std::uint64_t id, const std::string& model, std::vector<std::int32_t> tokens,
                                        const std::vector<messages::request_actor>& who) {
  messages::batch_entry b;
  b.batch_id = id;
  b.model = model;
  b.batch = static_cast<std::int32_t>(tokens.size());
  b.seq = 1;
  b.input.type = messages::element_type::i32;
  b.input.shape = {b.batch, 1};
  b.input.bytes.resize(tokens.size() * sizeof(std::int32_t));
  std::memcpy(b.input.bytes.data(), tokens.data(), b.input.bytes.size());
  for (std::size_t i = 0; i < tokens.size(); ++i)
    b.ids.push_back(request_id{i + 1});
  b.requesters = who;
  return b;
}

} // namespace sy::test
