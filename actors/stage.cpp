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
// Generation (issue 10): a step entry runs like a batch (behind a load on the device, counted in the
// model's in-flight work, handed on with its activations); the last stage samples the rows that end a
// sequence's context and returns a step_result to the group (which owns the sequences); any stage that
// fails a step returns the failure instead. A release entry frees sequences' KV at once (the group sends
// it only when none of their steps is in flight). The stage tells its group its devices' KV block use
// when it changed (kv_usage_report).
//
// The stage is the one owner of its shards' residency (issue 9 §2): the group and the controller keep views
// derived from the stage_events it sends (load_done / load_failed / evict_done, each with a typed code).
//
// Per model: absent --load--> loading --done ok--> resident --evict (0 in flight)--> evicting --done ok--> absent
//            loading --done failed--> absent;  evicting --done failed--> resident (still on the device)
// Per stage: running --stop--> stopping (new entries refused, enqueued device work completes and is answered)
//            --nothing pending--> quit. running --sticky device error--> unhealthy (reported once; entries
//            refused with device_unhealthy).
// Errors are classified once, here: a completion's status becomes a stage_error (device_unhealthy when the
// backend's health() reports a sticky error, out_of_memory for category "memory", else device_fault).
#include <deque>
#include <map>
#include <variant>
#if defined(__SANITIZE_ADDRESS__)
#define SY_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SY_LSAN 1
#endif
#endif
#ifdef SY_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/spawn.hpp"
#include "gpu/sampling.hpp"
#include "messages/logging.hpp"
#include "messages/step_events.hpp"

namespace sy::actors {

namespace {

using namespace messages;

using entry = std::variant<batch_entry, load_entry, evict_entry, step_entry>;
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
  stage_error code = stage_error::none;
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
  // stop: new entries are refused at once, the device work already enqueued runs to its completion, and
  // only then does the actor quit (and drop `pending`, whose outputs and inputs the queued device work
  // still reads: a device_activation must outlive every stream that reads it).
  bool stopping = false;
  std::vector<caf::typed_response_promise<ack>> stop_waiters;
  // A sticky device error: reported to the group once; from then on every entry is refused.
  std::string unhealthy;
  stage_backend::kv_usage kv_reported; // the KV use last reported to the group
  std::vector<stage_backend::kv_usage> kv_reported_ranks{}; // per rank, as last reported to its gpu actor
};

/// How long a stop waits for the devices to finish the work enqueued before it. Past it (a hung device),
/// the stage quits and deliberately leaks the pending operations' buffers instead of freeing memory that
/// queued device work may still read.
constexpr auto stop_grace = std::chrono::seconds(30);

using self_ptr = stage_actor::stateful_pointer<stage_state>;

const std::string& model_of(const entry& e) {
  return std::visit([](const auto& x) -> const std::string& { return x.model; }, e);
}

void report(self_ptr self, stage_event ev) {
  ev.stage = self->state.index;
  if (self->state.group)
    self->send(self->state.group, std::move(ev));
}

void fail_batch(self_ptr self, const batch_entry& b, stage_error code, const std::string& why) {
  auto now = self->clock().now();
  for (std::size_t i = 0; i < b.requesters.size(); ++i)
    self->send(b.requesters[i], outcome_atom_v,
               request_outcome{b.ids[i], request_status::failed, why, {}, b.start, now, b.batch, b.load_wait,
                               client_code(code)});
  report(self, {stage_event_kind::batch_failed, 0, b.batch_id, b.model, b.batch, now - b.start, why, code});
}

/// A generation step failed on this stage: the group hears it (it owns the sequences and answers them).
void fail_step(self_ptr self, const step_entry& e, stage_error code, const std::string& why) {
  auto now = self->clock().now();
  step_result r{e.step_id, e.model, self->state.index, {}, now - e.start, why, code};
  if (self->state.group)
    self->send(self->state.group, std::move(r));
}

/// Fails a batch or a step entry.
void fail_work(self_ptr self, const entry& e, stage_error code, const std::string& why) {
  if (auto* b = std::get_if<batch_entry>(&e))
    fail_batch(self, *b, code, why);
  else if (auto* st = std::get_if<step_entry>(&e))
    fail_step(self, *st, code, why);
}

/// The start time point of a batch or step entry (stage 0 measures from it), else nullptr.
time_point* start_of(entry& e) {
  if (auto* b = std::get_if<batch_entry>(&e))
    return &b->start;
  if (auto* st = std::get_if<step_entry>(&e))
    return &st->start;
  return nullptr;
}

/// The failure class of a backend error: a sticky device error wins; then the error's category.
stage_error classify(self_ptr self, const std::string& category) {
  if (self->state.backend)
    if (auto h = self->state.backend->health(); !h) {
      if (self->state.unhealthy.empty()) {
        self->state.unhealthy = h.err().to_string();
        logger("stage")->error("stage {}: device unhealthy: {}", self->state.index, self->state.unhealthy);
        report(self, {stage_event_kind::device_unhealthy, 0, 0, {}, 0, duration{0}, self->state.unhealthy,
                      stage_error::device_unhealthy});
      }
      return stage_error::device_unhealthy;
    }
  if (category == "memory")
    return stage_error::out_of_memory;
  if (category == "input" || category == "engine")
    return stage_error::invalid_input;
  return stage_error::device_fault;
}

/// Posts the backend's completion for `token` back into the actor.
stage_backend::done_fn completion(self_ptr self, std::uint64_t token) {
  stage_actor handle{self};
  return [handle, token](status st) {
    stage_completion c{token, {}, {}};
    if (!st) {
      c.error_category = st.err().category;
      c.reason = st.err().message;
    }
    caf::anon_send(handle, completion_atom_v, std::move(c));
  };
}

template <class Entry>
void forward_entry(self_ptr self, const Entry& e) {
  if (self->state.next)
    self->send(self->state.next, e);
}

/// A step's point on this stage (messages/step_events.hpp: `--log-level trace` lines for scripts/step_trace.py,
/// `replay --fit-profile`'s observer).
step_event stage_step_event(self_ptr self, step_point what, const step_entry& e, time_point at) {
  step_event ev;
  ev.point = what;
  ev.group = self->state.group ? self->state.group.id() : 0;
  ev.model = e.model;
  ev.step = e.step_id;
  ev.stage = self->state.index;
  ev.seqs = static_cast<int>(e.seqs.size());
  for (auto c : e.counts)
    ev.tokens += c;
  ev.at = at;
  return ev;
}

void trace_step(self_ptr self, step_point what, const step_entry& e, time_point at) {
  if (step_events_wanted())
    emit_step_event(stage_step_event(self, what, e, at));
}

void on_batch_done(self_ptr self, pending_op& op, batch_entry& b, stage_error code, const std::string& error);
void on_step_done(self_ptr self, pending_op& op, step_entry& e, stage_error code, const std::string& error);
/// A batch or step entry's device work is over (with `code`).
void on_work_done(self_ptr self, pending_op& op, stage_error code, const std::string& error) {
  if (auto* b = std::get_if<batch_entry>(&op.what))
    on_batch_done(self, op, *b, code, error);
  else if (auto* e = std::get_if<step_entry>(&op.what))
    on_step_done(self, op, *e, code, error);
}

/// Starts `e` if its model's state allows it; false: it must wait. Load and evict entries are handed to
/// the next stage when they start here, which keeps every model's entries in order along the pipeline.
bool try_start(self_ptr self, entry& e) {
  auto& st = self->state;
  auto& slot = st.models[model_of(e)];
  auto now = self->clock().now();
  if (auto* b = std::get_if<batch_entry>(&e)) {
    if (slot.state != shard_state::resident && slot.state != shard_state::loading) {
      fail_batch(self, *b, stage_error::not_resident,
                 "model " + b->model + " is not resident on stage " + std::to_string(st.index));
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
    auto res = st.backend->forward(b->model, b->input, b->batch, b->seq, b->output, out, local_next,
                                   completion(self, token));
    if (!res) {
      fail_batch(self, *b, classify(self, res.err().category), res.err().to_string());
      return true;
    }
    ++slot.in_flight;
    st.pending.emplace(token, pending_op{std::move(e), std::move(out), now, behind, false, {}, stage_error::none});
    return true;
  }
  if (auto* se = std::get_if<step_entry>(&e)) {
    if (slot.state != shard_state::resident && slot.state != shard_state::loading) {
      fail_step(self, *se, stage_error::not_resident,
                "model " + se->model + " is not resident on stage " + std::to_string(st.index));
      return true;
    }
    std::uint64_t behind = slot.state == shard_state::loading ? slot.load_token : 0;
    if (st.index == 0)
      se->start = now;
    auto token = st.next_token++;
    auto out = std::make_shared<tensor>();
    const bool local_next = st.next && st.next->node() == self->node();
    auto done = completion(self, token);
    if (step_events_wanted())
      done = [done = std::move(done), ev = stage_step_event(self, step_point::device, *se, now)](status s) mutable {
        // on the device's thread: when its work on the step ended (the completion message follows)
        ev.at = std::chrono::steady_clock::now();
        emit_step_event(ev);
        done(std::move(s));
      };
    auto res = st.backend->step(se->model, se->seqs, se->counts, se->input, out, local_next, std::move(done));
    if (!res) {
      fail_step(self, *se, classify(self, res.err().category), res.err().to_string());
      return true;
    }
    trace_step(self, step_point::submit, *se, now);
    ++slot.in_flight;
    st.pending.emplace(token, pending_op{std::move(e), std::move(out), now, behind, false, {}, stage_error::none});
    return true;
  }
  if (auto* l = std::get_if<load_entry>(&e)) {
    if (slot.state == shard_state::evicting || st.evicting > 0)
      return false;
    bool here = slot.state == shard_state::absent;
    if (l->pipelined || !here)
      forward_entry(self, *l); // the next stage starts its copy while this one copies
    if (!here) {
      report(self, {stage_event_kind::load_done, 0, l->load_id, l->model, 0, duration{0}, {}, stage_error::none});
      return true;
    }
    auto token = st.next_token++;
    auto res = st.backend->load(l->model, completion(self, token));
    if (!res) {
      report(self, {stage_event_kind::load_failed, 0, l->load_id, l->model, 0, duration{0}, res.err().to_string(),
                    classify(self, res.err().category)});
      return true;
    }
    slot.state = shard_state::loading;
    slot.load_token = token;
    st.pending.emplace(token, pending_op{std::move(e), nullptr, now, 0, false, {}, stage_error::none});
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
    report(self, {stage_event_kind::evict_done, 0, ev.evict_id, ev.model, 0, duration{0}, {}, stage_error::none});
    return true;
  }
  auto token = st.next_token++;
  auto res = st.backend->evict(ev.model, completion(self, token));
  if (!res) {
    --st.evicting;
    report(self, {stage_event_kind::evict_done, 0, ev.evict_id, ev.model, 0, duration{0}, res.err().to_string(),
                  classify(self, res.err().category)});
    return true;
  }
  slot.state = shard_state::evicting;
  st.pending.emplace(token, pending_op{std::move(e), nullptr, now, 0, false, {}, stage_error::none});
  return true;
}

/// The load `token` of `model` completed (with `error`): the batches queued behind it on the device start
/// counting from now (stage 0: their load wait ends), fail if the load failed, and those the device already
/// finished are handled now, in submission order.
void release_behind_load(self_ptr self, std::uint64_t token, stage_error code, const std::string& error,
                         time_point now) {
  auto& st = self->state;
  std::vector<std::uint64_t> finished;
  for (auto& [t, op] : st.pending) {
    if (op.behind_load != token)
      continue;
    op.behind_load = 0;
    if (auto* b = std::get_if<batch_entry>(&op.what); b && st.index == 0) {
      b->load_wait = now - b->start;
      b->start = now;
    }
    if (code != stage_error::none) {
      op.error = "load of " + model_of(op.what) + " failed: " + error;
      op.code = code == stage_error::device_unhealthy ? code : stage_error::load_failed;
    }
    if (op.finished)
      finished.push_back(t);
  }
  for (auto t : finished) {
    auto it = st.pending.find(t);
    auto op = std::move(it->second);
    st.pending.erase(it);
    on_work_done(self, op, op.code, op.error);
  }
}

/// Starts the waiting entries of every model, in order, as far as their states allow.
void drain_waiting(self_ptr self) {
  for (auto& [name, slot] : self->state.models)
    while (!slot.waiting.empty() && try_start(self, slot.waiting.front()))
      slot.waiting.pop_front();
}

/// Refuses an entry that arrives after stop: batches fail, loads and evictions report failure.
/// Refuses an entry that arrives after stop or once the device is unhealthy: batches fail, loads and
/// evictions report failure.
void refuse(self_ptr self, const entry& e) {
  auto& st = self->state;
  const auto code = st.stopping ? stage_error::stopped : stage_error::device_unhealthy;
  const std::string why = st.stopping ? "stage " + std::to_string(st.index) + " stopped"
                                      : "stage " + std::to_string(st.index) + " device unhealthy: " + st.unhealthy;
  if (std::holds_alternative<batch_entry>(e) || std::holds_alternative<step_entry>(e))
    fail_work(self, e, code, why);
  else if (auto* l = std::get_if<load_entry>(&e))
    report(self, {stage_event_kind::load_failed, 0, l->load_id, l->model, 0, duration{0}, why, code});
  else if (auto* ev = std::get_if<evict_entry>(&e))
    report(self, {stage_event_kind::evict_done, 0, ev->evict_id, ev->model, 0, duration{0}, why, code});
}

/// Quits once a stop was requested and no device work of this stage is outstanding.
void finish_stop(self_ptr self) {
  auto& st = self->state;
  if (!st.stopping || !st.pending.empty())
    return;
  for (auto& p : std::exchange(st.stop_waiters, {}))
    p.deliver(ack{});
  self->quit();
}

void accept(self_ptr self, entry e) {
  if (self->state.stopping || !self->state.unhealthy.empty()) {
    if (std::holds_alternative<evict_entry>(e) && !self->state.stopping) {
      // an eviction still frees the shard on an unhealthy device (memory), handled normally below
    } else {
      return refuse(self, e);
    }
  }
  if (std::holds_alternative<evict_entry>(e))
    ++self->state.evicting; // later loads wait until this eviction has freed its memory
  auto& slot = self->state.models[model_of(e)];
  if (slot.waiting.empty() && try_start(self, e))
    return;
  if (auto* t = start_of(e); t && self->state.index == 0)
    *t = self->clock().now(); // parked: stage 0 measures the load wait from here
  slot.waiting.push_back(std::move(e));
}

void on_batch_done(self_ptr self, pending_op& op, batch_entry& b, stage_error code, const std::string& error) {
  auto& st = self->state;
  auto& slot = st.models[b.model];
  --slot.in_flight;
  if (code != stage_error::none) {
    fail_batch(self, b, code, error);
    return;
  }
  if (st.next && st.stopping) { // the next stage may be gone: answer here, once
    fail_batch(self, b, stage_error::stopped, "stage " + std::to_string(st.index) + " stopped");
    return;
  }
  if (st.next) {
    b.input = std::move(*op.output);
    self->send(st.next, std::move(b));
    return;
  }
  // last stage: each request its part of the output ([width], or [seq, width] for per-token kinds)
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
               request_outcome{b.ids[i], request_status::ok, {}, std::move(row), b.start, now, b.batch, b.load_wait, error_code::none});
  }
  report(self, {stage_event_kind::batch_done, 0, b.batch_id, b.model, b.batch, now - b.start, {}, stage_error::none});
}

/// Tells the group the KV use of this stage's devices, and each device's gpu actor its own pool's (the
/// pool every model on the device shares), when it changed.
void report_kv(self_ptr self) {
  auto& st = self->state;
  if (!st.backend || !st.group)
    return;
  auto ranks = st.backend->kv_by_rank();
  for (std::size_t r = 0; r < ranks.size() && r < st.gpus.size(); ++r) {
    if (r < st.kv_reported_ranks.size() && ranks[r].blocks_used == st.kv_reported_ranks[r].blocks_used &&
        ranks[r].blocks_free == st.kv_reported_ranks[r].blocks_free)
      continue;
    self->send(st.gpus[r], kv_usage_report{st.index, ranks[r].blocks_used, ranks[r].blocks_free});
  }
  st.kv_reported_ranks = std::move(ranks);
  auto u = st.backend->kv();
  if (u.blocks_used == st.kv_reported.blocks_used && u.blocks_free == st.kv_reported.blocks_free)
    return;
  st.kv_reported = u;
  self->send(st.group, kv_usage_report{st.index, u.blocks_used, u.blocks_free});
}

void on_step_done(self_ptr self, pending_op& op, step_entry& e, stage_error code, const std::string& error) {
  auto& st = self->state;
  trace_step(self, step_point::done, e, self->clock().now());
  report_kv(self);
  --st.models[e.model].in_flight;
  if (code != stage_error::none)
    return fail_step(self, e, code, error);
  if (st.next && st.stopping)
    return fail_step(self, e, stage_error::stopped, "stage " + std::to_string(st.index) + " stopped");
  if (st.next) {
    e.input = std::move(*op.output);
    self->send(st.next, std::move(e));
    return;
  }
  // last stage: sample the rows that end a sequence's context (gpu/sampling.hpp: pure, keyed by the
  // request's seed and the token's index, so the token does not depend on the batch)
  const auto& out = *op.output;
  const int vocab = out.shape.size() == 2 ? static_cast<int>(out.shape[1]) : 0;
  step_result r{e.step_id, e.model, st.index, std::vector<std::int32_t>(e.seqs.size(), -1), duration{0}, {},
                stage_error::none};
  const auto* logits = reinterpret_cast<const float*>(out.bytes.data());
  for (std::size_t i = 0; i < e.seqs.size(); ++i) {
    if (i >= e.sample.size() || e.sample[i] < 0 || vocab <= 0)
      continue;
    const auto& so = i < e.sampling.size() ? e.sampling[i] : sampling_options{};
    gpu::sampling_params p{so.temperature, so.top_k, so.top_p, so.seed};
    r.tokens[i] = gpu::sample_token(logits + i * static_cast<std::size_t>(vocab), vocab, p,
                                    static_cast<std::uint64_t>(e.sample[i]));
  }
  r.elapsed = self->clock().now() - e.start;
  if (st.group)
    self->send(st.group, std::move(r));
}

void on_completion(self_ptr self, stage_completion& c) {
  auto& st = self->state;
  auto it = st.pending.find(c.token);
  if (it == st.pending.end())
    return;
  const auto code = c.reason.empty() && c.error_category.empty() ? stage_error::none : classify(self, c.error_category);
  const std::string& error = c.reason;
  const auto token = c.token;
  if (it->second.behind_load != 0) { // its load's completion has not been handled yet: hold it
    it->second.finished = true;
    if (it->second.code == stage_error::none) {
      it->second.error = error;
      it->second.code = code;
    }
    return;
  }
  auto op = std::move(it->second);
  st.pending.erase(it);
  auto now = self->clock().now();
  if (std::holds_alternative<batch_entry>(op.what) || std::holds_alternative<step_entry>(op.what)) {
    if (code != stage_error::none)
      on_work_done(self, op, code, error);
    else
      on_work_done(self, op, op.code, op.error);
  } else if (auto* l = std::get_if<load_entry>(&op.what)) {
    auto& slot = st.models[l->model];
    const bool ok = code == stage_error::none;
    slot.state = ok ? shard_state::resident : shard_state::absent;
    slot.load_token = 0;
    auto bytes = st.backend->shard_bytes(l->model);
    if (ok)
      for (auto& g : st.gpus)
        self->send(g, swap_atom_v, swap_record{l->model, true, bytes, now - op.started});
    // batches that waited for a failed load fail in drain_waiting (model absent)
    report(self, {ok ? stage_event_kind::load_done : stage_event_kind::load_failed, 0, l->load_id, l->model, 0,
                  now - op.started, error, code});
    if (!l->pipelined)
      forward_entry(self, *l); // not pipelined: the next stage copies only now
    release_behind_load(self, token, code, error, now);
  } else {
    auto& ev = std::get<evict_entry>(op.what);
    const bool ok = code == stage_error::none;
    // A failed eviction on a healthy device leaves the shard resident (the stage says so); on an unhealthy
    // one nothing can run on it any more, so the shard counts as gone.
    st.models[ev.model].state = ok || code == stage_error::device_unhealthy ? shard_state::absent : shard_state::resident;
    --st.evicting;
    if (ok)
      for (auto& g : st.gpus)
        self->send(g, swap_atom_v, swap_record{ev.model, false, st.backend->shard_bytes(ev.model), now - op.started});
    report(self, {stage_event_kind::evict_done, 0, ev.evict_id, ev.model, 0, now - op.started, error, code});
  }
  drain_waiting(self);
  finish_stop(self);
}

/// Keeps `p` for the rest of the process on purpose; under LeakSanitizer it and what it holds are not leaks.
template <class T>
void leak_on_purpose(T* p) {
#ifdef SY_LSAN
  __lsan_ignore_object(p);
#else
  (void)p;
#endif
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
    [=](step_entry& e) { accept(self, std::move(e)); },
    [=](release_entry& r) { // the group's sequences are done: no step of theirs is in flight anywhere
      if (self->state.backend)
        self->state.backend->release(r.model, r.seqs);
      report_kv(self);
    },
    [=](kv_swap_entry& e) -> kv_swap_result { // preemption by swap: no step of this sequence is in flight
      auto& st = self->state;
      kv_swap_result r;
      if (st.stopping) {
        r.code = stage_error::stopped;
        r.error = "stage " + std::to_string(st.index) + " is stopping";
        return r;
      }
      auto moved = st.backend ? st.backend->swap_kv(e.model, e.seq, e.out)
                              : result<std::int64_t>{make_error("input", "no backend")};
      if (moved) {
        r.bytes = *moved;
      } else {
        r.code = classify(self, moved.err().category);
        r.error = moved.err().message;
      }
      report_kv(self);
      return r;
    },
    [=](attach_atom, stage_input_actor next, group_events_actor group) {
      self->state.next = std::move(next);
      self->state.group = std::move(group);
    },
    [=](completion_atom, stage_completion& c) { on_completion(self, c); },
    [=](stop_atom) -> caf::result<ack> {
      auto& st = self->state;
      auto p = self->make_response_promise<ack>();
      st.stop_waiters.push_back(p);
      if (st.stopping)
        return p;
      st.stopping = true;
      // Refuse what waits; the work already on the devices completes (and is answered) before the actor
      // quits and drops the buffers that work reads.
      for (auto& [name, slot] : st.models)
        for (auto& e : std::exchange(slot.waiting, {}))
          refuse(self, e);
      if (!st.pending.empty())
        self->delayed_send(self, stop_grace, tick_atom_v);
      finish_stop(self);
      return p;
    },
    [=](tick_atom) { // the stop's grace period is over
      auto& st = self->state;
      if (!st.stopping || st.pending.empty())
        return;
      logger("stage")->error("stage {}: {} device operations did not complete within {} s of the stop; "
                             "quitting and leaking their buffers", st.index, st.pending.size(),
                             std::chrono::duration_cast<std::chrono::seconds>(stop_grace).count());
      for (auto& [token, op] : st.pending)
        fail_work(self, op.what, stage_error::stopped, "stage " + std::to_string(st.index) + " stopped: its device did not finish");
      // never freed: queued device work may still read them (a deliberate leak: LeakSanitizer is told so)
      leak_on_purpose(new std::map<std::uint64_t, pending_op>(std::move(st.pending)));
      leak_on_purpose(new std::shared_ptr<stage_backend>(std::move(st.backend)));
      st.pending.clear();
      finish_stop(self);
    },
  };
}

} // namespace

stage_actor spawn_stage(caf::actor_system& sys, std::int32_t index, std::shared_ptr<stage_backend> backend,
                        std::vector<gpu_actor> gpus) {
  return sys.spawn(stage_fn, index, std::move(backend), std::move(gpus));
}

} // namespace sy::actors
