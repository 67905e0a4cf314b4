// stage actor: one per (group, stage index). Executes batch, load and evict entries in arrival order per
// model (DESIGN.md §2): a load is handed to the next stage as soon as it starts here, then copied here (not
// pipelined, the bench baseline: handed on once its copy here finished); a batch of a model that is still
// loading goes to the device at once, queued behind the copy by the device's load event (no controller round
// trip, nothing parked here); an evict waits for the model's in-flight batches on this stage; a load waits for
// every earlier eviction on this stage (memory, including evictions still waiting for their model's in-flight
// batches). Device work completes through the backend's callback, posted back as a completion message; the
// completion of a batch that ran behind a load is held until the load's own completion has been handled
// (they come from different device threads), so that its outputs, the load_done and the next stage's entries
// keep their order. Never blocks.
//
// Per model: absent --load--> loading --done--> resident --evict (0 in flight)--> evicting --done--> absent
#include <deque>
#include <map>
#include <variant>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/spawn.hpp"
#include "messages/logging.hpp"

namespace sy::actors {

namespace {

using namespace messages;

using entry = std::variant<batch_entry, load_entry, evict_entry>;
enum class shard_state { absent, loading, resident, evicting };

struct model_slot {
  shard_state state = shard_state::absent;
  int in_flight = 0;
  std::uint64_t load_token = 0; // while loading: the load's token
  std::deque<entry> waiting; // entries of this model that cannot start yet, arrival order
};

struct pending_op {
  entry what;
  std::shared_ptr<tensor> output;
  time_point started{};
  std::uint64_t behind_load = 0; // batch: token of the load it was queued behind on the device (0: none)
  bool finished = false;          // batch: the device finished it before the load's completion was handled
  std::string error;              // with finished: the device's error
};

struct stage_state {
  std::int32_t index = 0;
  std::shared_ptr<stage_backend> backend;
  std::vector<gpu_actor> gpus;
  stage_input_actor next;
  group_events_actor group;
  std::map<std::string, model_slot> models;
  std::map<std::uint64_t, pending_op> pending;
  std::uint64_t next_token = 1;
  int evicting = 0; // evict entries accepted here and not finished (waiting or on the device)
  bool stopping = false;
};

using self_ptr = stage_actor::stateful_pointer<stage_state>;

const std::string& model_of(const entry& e) {
  return std::visit([](const auto& x) -> const std::string& { return x.model; }, e);
}

void report(self_ptr self, stage_event ev) {
  ev.stage = self->state.index;
  if (self->state.group)
    self->send(self->state.group, std::move(ev));
}

void fail_batch(self_ptr self, const batch_entry& b, const std::string& why) {
  auto now = self->clock().now();
  for (std::size_t i = 0; i < b.requesters.size(); ++i)
    self->send(b.requesters[i], outcome_atom_v,
               request_outcome{b.ids[i], request_status::failed, why, {}, b.start, now, b.batch, b.load_wait});
  report(self, {stage_event_kind::batch_failed, 0, b.batch_id, b.model, b.batch, now - b.start, why});
}

/// Posts the backend's completion for `token` back into the actor.
stage_backend::done_fn completion(self_ptr self, std::uint64_t token) {
  stage_actor handle{self};
  return [handle, token](std::string error) { caf::anon_send(handle, completion_atom_v, token, std::move(error)); };
}

template <class Entry>
void forward_entry(self_ptr self, const Entry& e) {
  if (self->state.next)
    self->send(self->state.next, e);
}

void on_batch_done(self_ptr self, pending_op& op, batch_entry& b, const std::string& error);

/// Starts `e` if its model's state allows it; false: it must wait. Load and evict entries are handed to
/// the next stage when they start here, which keeps every model's entries in order along the pipeline.
bool try_start(self_ptr self, entry& e) {
  auto& st = self->state;
  auto& slot = st.models[model_of(e)];
  auto now = self->clock().now();
  if (auto* b = std::get_if<batch_entry>(&e)) {
    if (slot.state != shard_state::resident && slot.state != shard_state::loading) {
      fail_batch(self, *b, "model " + b->model + " is not resident on stage " + std::to_string(st.index));
      return true;
    }
    // loading: the device runs it after the copy (load event); stage 0 measures the wait from now
    std::uint64_t behind = slot.state == shard_state::loading ? slot.load_token : 0;
    if (st.index == 0) {
      b->load_wait = behind != 0 || b->start == time_point{} ? duration{0} : now - b->start;
      b->start = now;
    }
    auto token = st.next_token++;
    auto out = std::make_shared<tensor>();
    // Activations stay on the device when the next stage runs in this process (DESIGN.md §2: a handle, or a
    // device-to-device copy); across processes they travel as bytes.
    const bool local_next = st.next && st.next->node() == self->node();
    auto res = st.backend->forward(b->model, b->input, b->batch, b->seq, out, local_next, completion(self, token));
    if (!res) {
      fail_batch(self, *b, res.err().to_string());
      return true;
    }
    if (slot.in_flight++ == 0) // the gpu actors count stages in use, not batches (2 messages per busy period)
      for (auto& g : st.gpus)
        self->send(g, acquire_atom_v, b->model);
    st.pending.emplace(token, pending_op{std::move(e), std::move(out), now, behind, false, {}});
    return true;
  }
  if (auto* l = std::get_if<load_entry>(&e)) {
    if (slot.state == shard_state::evicting || st.evicting > 0)
      return false;
    bool here = slot.state == shard_state::absent;
    if (l->pipelined || !here)
      forward_entry(self, *l); // the next stage starts its copy while this one copies
    if (!here) {
      report(self, {stage_event_kind::load_done, 0, l->load_id, l->model, 0, duration{0}, {}});
      return true;
    }
    auto token = st.next_token++;
    auto res = st.backend->load(l->model, completion(self, token));
    if (!res) {
      report(self, {stage_event_kind::load_failed, 0, l->load_id, l->model, 0, duration{0}, res.err().to_string()});
      return true;
    }
    slot.state = shard_state::loading;
    slot.load_token = token;
    st.pending.emplace(token, pending_op{std::move(e), nullptr, now, 0, false, {}});
    return true;
  }
  auto& ev = std::get<evict_entry>(e);
  if (slot.state == shard_state::loading || slot.state == shard_state::evicting
      || (slot.state == shard_state::resident && slot.in_flight > 0))
    return false;
  // every earlier batch of the model has left this stage: the next stage sees the evict after them
  forward_entry(self, ev);
  if (slot.state == shard_state::absent) {
    --st.evicting;
    report(self, {stage_event_kind::evict_done, 0, ev.evict_id, ev.model, 0, duration{0}, {}});
    return true;
  }
  auto token = st.next_token++;
  auto res = st.backend->evict(ev.model, completion(self, token));
  if (!res) {
    --st.evicting;
    report(self, {stage_event_kind::evict_done, 0, ev.evict_id, ev.model, 0, duration{0}, res.err().to_string()});
    return true;
  }
  slot.state = shard_state::evicting;
  st.pending.emplace(token, pending_op{std::move(e), nullptr, now, 0, false, {}});
  return true;
}

/// The load `token` of `model` completed (with `error`): the batches queued behind it on the device start
/// counting from now (stage 0: their load wait ends), fail if the load failed, and those the device already
/// finished are handled now, in submission order.
void release_behind_load(self_ptr self, std::uint64_t token, const std::string& error, time_point now) {
  auto& st = self->state;
  std::vector<std::uint64_t> finished;
  for (auto& [t, op] : st.pending) {
    if (op.behind_load != token)
      continue;
    op.behind_load = 0;
    auto& b = std::get<batch_entry>(op.what);
    if (st.index == 0) {
      b.load_wait = now - b.start;
      b.start = now;
    }
    if (!error.empty())
      op.error = "load of " + b.model + " failed: " + error;
    if (op.finished)
      finished.push_back(t);
  }
  for (auto t : finished) {
    auto it = st.pending.find(t);
    auto op = std::move(it->second);
    st.pending.erase(it);
    on_batch_done(self, op, std::get<batch_entry>(op.what), op.error);
  }
}

/// Starts the waiting entries of every model, in order, as far as their states allow.
void drain_waiting(self_ptr self) {
  for (auto& [name, slot] : self->state.models)
    while (!slot.waiting.empty() && try_start(self, slot.waiting.front()))
      slot.waiting.pop_front();
}

void accept(self_ptr self, entry e) {
  if (std::holds_alternative<evict_entry>(e))
    ++self->state.evicting; // later loads wait until this eviction has freed its memory
  auto& slot = self->state.models[model_of(e)];
  if (slot.waiting.empty() && try_start(self, e))
    return;
  if (auto* b = std::get_if<batch_entry>(&e); b && self->state.index == 0)
    b->start = self->clock().now(); // parked: stage 0 measures the load wait from here
  slot.waiting.push_back(std::move(e));
}

void on_batch_done(self_ptr self, pending_op& op, batch_entry& b, const std::string& error) {
  auto& st = self->state;
  auto& slot = st.models[b.model];
  if (--slot.in_flight == 0)
    for (auto& g : st.gpus)
      self->send(g, release_atom_v, b.model);
  if (!error.empty()) {
    fail_batch(self, b, error);
    return;
  }
  if (st.next) {
    b.input = std::move(*op.output);
    self->send(st.next, std::move(b));
    return;
  }
  // last stage: one output row per request
  auto now = self->clock().now();
  const auto& out = *op.output;
  auto rows = b.batch > 0 ? out.bytes.size() / static_cast<std::size_t>(b.batch) : 0;
  for (std::size_t i = 0; i < b.requesters.size(); ++i) {
    tensor row;
    row.type = out.type;
    row.shape.assign(out.shape.begin() + (out.shape.size() > 1 ? 1 : 0), out.shape.end());
    row.bytes.assign(out.bytes.begin() + static_cast<std::ptrdiff_t>(i * rows),
                     out.bytes.begin() + static_cast<std::ptrdiff_t>((i + 1) * rows));
    self->send(b.requesters[i], outcome_atom_v,
               request_outcome{b.ids[i], request_status::ok, {}, std::move(row), b.start, now, b.batch, b.load_wait});
  }
  report(self, {stage_event_kind::batch_done, 0, b.batch_id, b.model, b.batch, now - b.start, {}});
}

void on_completion(self_ptr self, std::uint64_t token, const std::string& error) {
  auto& st = self->state;
  auto it = st.pending.find(token);
  if (it == st.pending.end())
    return;
  if (it->second.behind_load != 0) { // its load's completion has not been handled yet: hold it
    it->second.finished = true;
    if (it->second.error.empty())
      it->second.error = error;
    return;
  }
  auto op = std::move(it->second);
  st.pending.erase(it);
  auto now = self->clock().now();
  if (auto* b = std::get_if<batch_entry>(&op.what)) {
    on_batch_done(self, op, *b, error.empty() ? op.error : error);
  } else if (auto* l = std::get_if<load_entry>(&op.what)) {
    auto& slot = st.models[l->model];
    slot.state = error.empty() ? shard_state::resident : shard_state::absent;
    slot.load_token = 0;
    auto bytes = st.backend->shard_bytes(l->model);
    if (error.empty())
      for (auto& g : st.gpus)
        self->send(g, swap_atom_v, swap_record{l->model, true, bytes, now - op.started});
    // batches that waited for a failed load fail in drain_waiting (model absent)
    report(self, {error.empty() ? stage_event_kind::load_done : stage_event_kind::load_failed, 0, l->load_id,
                  l->model, 0, now - op.started, error});
    if (!l->pipelined)
      forward_entry(self, *l); // not pipelined: the next stage copies only now
    release_behind_load(self, token, error, now);
  } else {
    auto& ev = std::get<evict_entry>(op.what);
    st.models[ev.model].state = error.empty() ? shard_state::absent : shard_state::resident;
    --st.evicting;
    if (error.empty())
      for (auto& g : st.gpus)
        self->send(g, swap_atom_v, swap_record{ev.model, false, st.backend->shard_bytes(ev.model), now - op.started});
    report(self, {stage_event_kind::evict_done, 0, ev.evict_id, ev.model, 0, now - op.started, error});
  }
  drain_waiting(self);
}

stage_actor::behavior_type stage_fn(self_ptr self, std::int32_t index, std::shared_ptr<stage_backend> backend,
                                    std::vector<gpu_actor> gpus) {
  self->state.index = index;
  self->state.backend = std::move(backend);
  self->state.gpus = std::move(gpus);
  return {
    [=](batch_entry& b) { accept(self, std::move(b)); },
    [=](load_entry& l) { accept(self, std::move(l)); },
    [=](evict_entry& e) { accept(self, std::move(e)); },
    [=](attach_atom, stage_input_actor next, group_events_actor group) {
      self->state.next = std::move(next);
      self->state.group = std::move(group);
    },
    [=](completion_atom, std::uint64_t token, std::string& error) { on_completion(self, token, error); },
    [=](stop_atom) -> ack {
      // Fail what waits; work on the devices completes before the backend is destroyed (its destructor
      // drains the streams).
      for (auto& [name, slot] : self->state.models)
        for (auto& e : slot.waiting)
          if (auto* b = std::get_if<batch_entry>(&e))
            fail_batch(self, *b, "stage stopped");
      for (auto& [token, op] : self->state.pending) // behind a load: their completions would be held forever
        if (op.behind_load != 0)
          fail_batch(self, std::get<batch_entry>(op.what), "stage stopped");
      self->state.models.clear();
      self->quit();
      return {};
    },
  };
}

} // namespace

stage_actor spawn_stage(caf::actor_system& sys, std::int32_t index, std::shared_ptr<stage_backend> backend,
                        std::vector<gpu_actor> gpus) {
  return sys.spawn(stage_fn, index, std::move(backend), std::move(gpus));
}

} // namespace sy::actors
