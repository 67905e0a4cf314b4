// model_group actor: one per group of devices with one (tp, pp). Keeps a queue per hosted model, forms
// batches through the batching policy, keeps at most max_in_flight batches in the pipeline, and manages
// residency: a request for a model that is not resident starts a load entry through the stages (evicting
// through the eviction policy when the budget requires it) and its batches are sent right behind the load.
//
// Residency is owned by the stages (each reports its loads and evictions as stage events); the group's
// per-model state is a view derived from those events, never ahead of them:
//   evicted --load entry--> loading --every stage load_done--> resident --evict entry--> unloading
//   unloading --every stage evict_done ok--> evicted;  unloading --a stage's eviction failed--> evicted,
//   its bytes still counted ("stranded") until the next load, which copies only where the shard is gone
//   loading --a stage load_failed--> evicted (queued requests fail with the reason)
// A model's bytes count as used from its load entry until every stage confirmed its eviction; the eviction
// policy may plan with the bytes of unloading models (each stage starts a load only after its earlier
// evictions freed their memory). A device_unhealthy event from any stage makes the group refuse work: its
// queued and new requests fail with the reason, and the controller is told (group_report::unhealthy).
//
// Generation (issue 10 §2, DESIGN.md §10). The group is the ONE owner of every generating sequence's
// state: its prompt and tokens so far, the KV id the stages cache it under, its admission and TTFT
// deadline, and the KV block accounting view (blocks held per sequence = ceil(fed / block_tokens)), kept
// per model in an internal::generation_queue. Stages hold only the KV blocks of the ids they are given
// and free them on a release entry; request actors hold only copies of the streamed tokens. Each
// iteration (continuous batching) the group plans one step entry per model (running decodes, then
// prefill chunks of running and newly admitted sequences within the token budget) and sends it to
// stage 0; with p stages up to p steps of disjoint sequences are in flight (micro-batches). The last
// stage samples and returns a step_result; the group streams each new token to its request actor, and
// a sequence that stops gets exactly one terminal generation_outcome, its KV released on every stage.
// A step that fails for lack of KV blocks sends its sequences back to wait (KV dropped, recomputed later
// from prompt + tokens; counted as preemptions) while other sequences hold blocks; with none left to
// wait for, they fail. A model with running or waiting sequences is never an eviction victim (pinned).
// For TTFT admission the group fits each model's step times against the prompt tokens they carried
// (internal::step_cost_fit) and reports the fit with its queue (group_report::gen_loads).
#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/internal/generation_queue.hpp"
#include "actors/internal/ttft_predictor.hpp"
#include "actors/spawn.hpp"
#include "messages/logging.hpp"
#include "messages/step_events.hpp"

namespace sy::actors {

namespace {

using namespace messages;

struct model_entry {
  std::int64_t bytes = 0;
  residency state = residency::evicted;
  int pending_loads = 0;  // stages that have not finished the current load
  int pending_evicts = 0; // stage acknowledgements of evictions outstanding
  std::string evict_error; // the first failed stage eviction of the current unload
  bool stranded = false;   // an eviction failed on some stage: its bytes still count (a load re-adds none)
  std::uint64_t load_id = 0;
  time_point load_started{};
  int load_sharers = 1; // loads in progress in the group when this one started, itself included
  std::deque<queued_request> queue;
  std::uint64_t last_used = 0;
  int in_pipeline = 0;
  bool pinned = false;           // an explicit load waits for it
  bool unload_requested = false; // evict once its queue is empty
  double demand = 0;             // recency-weighted request count
  std::vector<double> latency_s; // EWMA per batch size - 1 (0: unknown)
  double load_s = 0;
  std::vector<caf::typed_response_promise<ack>> load_waiters, unload_waiters;
  std::unique_ptr<internal::generation_queue> gen; // generating decoders only
  internal::step_cost_fit step_fit;                // its steps' seconds vs prompt tokens (TTFT admission)
  std::int64_t gen_enqueued = 0;                   // generations received (the controller's pending view)
  bool gen_busy() const { return gen && !gen->idle(); }
};

struct cancel_hash {
  std::size_t operator()(const std::pair<std::uint64_t, caf::actor_addr>& k) const noexcept {
    return std::hash<std::uint64_t>{}(k.first) ^ (std::hash<caf::actor_addr>{}(k.second) << 1);
  }
};

struct group_state {
  model_group_init init;
  std::vector<stage_actor> stages;
  std::map<std::string, model_entry> models;
  std::int64_t used = 0; // bytes per device of loading + resident models
  int in_flight = 0;
  std::uint64_t next_id = 1;
  std::uint64_t use_clock = 0;
  std::set<std::string> preloading;
  bool ready_sent = false;
  time_point last_report{};  // when the last report left
  bool report_dirty = false; // a change since then that was not reported yet
  bool tick_armed = false;   // a tick_atom is on its way (flushes a dirty report)
  std::string unhealthy;     // a stage's device has a sticky error: the group refuses work
  std::int64_t steps_in_flight = 0; // generation steps (counted in in_flight too)
  std::vector<std::int64_t> kv_used, kv_free; // per stage, as the stages last reported
  std::map<std::string, std::int64_t> gen_tokens; // per model: new tokens sampled
  // Requests cancelled by their request actor (deadline passed) while queued: dropped lazily when batching
  // reaches them, so that a cancel costs O(1) instead of a scan of every queue. Key: (id, requester).
  std::unordered_set<std::pair<std::uint64_t, caf::actor_addr>, cancel_hash> cancelled;
};

/// Queue lengths and latencies change with every request: the controller gets them at most once per
/// report_period (coalesced; a tick sends the last change), residency changes at once.
constexpr auto report_period = std::chrono::milliseconds(1);

using self_ptr = model_group_actor::stateful_pointer<group_state>;

void answer(self_ptr self, const queued_request& q, request_status s, std::string why,
            error_code code = error_code::none /* none: the client code follows from the status */) {
  auto now = self->clock().now();
  self->send(q.requester, outcome_atom_v, request_outcome{q.id, s, std::move(why), {}, {}, now, 0, duration{0}, code});
}

/// The terminal answer of a generation (its request actor passes it on).
void answer_gen(self_ptr self, const internal::gen_ptr& s, request_status status, std::string why,
                error_code code, std::string finish_reason = {}) {
  generation_outcome o{s->req.id, status, std::move(why), code, s->out, std::move(finish_reason), s->admitted,
                       s->times, s->preemptions};
  self->send(s->req.requester, outcome_atom_v, std::move(o));
}

/// Frees sequences' KV on every stage (none of their steps is in flight).
void release_kv(self_ptr self, const std::string& model, std::vector<std::uint64_t> ids) {
  if (ids.empty())
    return;
  for (auto& stage : self->state.stages)
    self->send(stage, release_entry{model, ids});
}

void pump(self_ptr self);
void report_soon(self_ptr self);

/// Swaps the KV of sequences out to (`out`) or in from the host on every stage (preemption by swap); each
/// stage's answer goes to the model's generation_queue, which lets the sequence wait or run on when the
/// last one came (or falls back to recompute when one failed).
void send_swaps(self_ptr self, const std::string& model, const std::vector<std::uint64_t>& ids, bool out) {
  for (auto id : ids)
    for (auto& stage : self->state.stages)
      self->request(stage, std::chrono::seconds(30), kv_swap_entry{model, id, out})
        .then(
          [=](kv_swap_result& r) {
            auto it = self->state.models.find(model);
            if (it == self->state.models.end() || !it->second.gen)
              return;
            std::vector<std::uint64_t> release;
            it->second.gen->on_swap_answer(id, r.code == stage_error::none, release);
            release_kv(self, model, std::move(release));
            pump(self);
            report_soon(self);
          },
          [=](caf::error&) { // the stage is gone or did not answer: recompute
            auto it = self->state.models.find(model);
            if (it == self->state.models.end() || !it->second.gen)
              return;
            std::vector<std::uint64_t> release;
            it->second.gen->on_swap_answer(id, false, release);
            release_kv(self, model, std::move(release));
            pump(self);
          });
}

/// Fails every generation of `m` (stop, unhealthy device, failed load).
void fail_generations(self_ptr self, const std::string& name, model_entry& m, const std::string& why, error_code code) {
  if (!m.gen)
    return;
  std::vector<std::uint64_t> release;
  for (auto& s : m.gen->take_all(release))
    answer_gen(self, s, request_status::failed, why, code);
  release_kv(self, name, std::move(release));
}

void report(self_ptr self) {
  auto& st = self->state;
  if (!st.init.controller)
    return;
  group_report r;
  r.group = st.init.name;
  r.in_pipeline = st.in_flight;
  r.unhealthy = st.unhealthy;
  for (auto& [name, m] : st.models) {
    r.models[name] = m.state;
    r.queued[name] = static_cast<std::int64_t>(m.queue.size()) + m.in_pipeline
                     + (m.gen ? static_cast<std::int64_t>(m.gen->waiting() + m.gen->running()) : 0);
    if (!m.latency_s.empty() && m.latency_s[0] > 0)
      r.latency_s[name] = m.latency_s[0];
    if (m.load_s > 0)
      r.load_s[name] = m.load_s;
    if (m.gen) {
      r.gen_running[name] = static_cast<std::int64_t>(m.gen->running());
      r.gen_waiting[name] = static_cast<std::int64_t>(m.gen->waiting());
      r.preemptions[name] = m.gen->preemptions();
      r.kv_swaps[name] = m.gen->swaps();
      r.kv_swap_fallbacks[name] = m.gen->swap_fallbacks();
      r.gen_tokens[name] = st.gen_tokens[name];
      auto q = m.gen->load();
      auto& gl = r.gen_loads[name];
      gl.step_base_s = m.step_fit.base_s();
      gl.prefill_token_s = m.step_fit.per_token_s();
      gl.steps = m.step_fit.steps();
      gl.prefill_ahead = q.prefill_ahead;
      gl.running_left = std::move(q.running_left);
      gl.waiting_new_tokens = q.waiting_new_tokens;
      gl.enqueued = m.gen_enqueued;
    }
  }
  r.kv_used = st.kv_used;
  r.kv_free = st.kv_free;
  st.last_report = self->clock().now();
  st.report_dirty = false;
  self->send(st.init.controller, report_atom_v, std::move(r));
}

/// Reports now if the last report is older than report_period, else once the period is over.
void report_soon(self_ptr self) {
  auto& st = self->state;
  if (!st.init.controller)
    return;
  auto since = self->clock().now() - st.last_report;
  if (since >= report_period)
    return report(self);
  st.report_dirty = true;
  if (!st.tick_armed) {
    st.tick_armed = true;
    self->delayed_send(self, report_period - since, tick_atom_v);
  }
}

void maybe_ready(self_ptr self) {
  auto& st = self->state;
  if (st.ready_sent || !st.preloading.empty() || st.stages.empty())
    return;
  st.ready_sent = true;
  if (st.init.controller)
    self->send(st.init.controller, ready_atom_v, st.init.name,
               st.unhealthy.empty() ? ack{} : ack{false, "unhealthy: " + st.unhealthy});
}

void start_evict(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto& m = st.models[name];
  m.state = residency::unloading; // bytes stay used until every stage confirmed the eviction
  m.unload_requested = false;
  m.evict_error.clear();
  m.pending_evicts += static_cast<int>(st.stages.size());
  self->send(st.stages.front(), evict_entry{st.next_id++, name});
}

void start_load(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto& m = st.models[name];
  m.state = residency::loading;
  if (!std::exchange(m.stranded, false))
    st.used += m.bytes;
  m.pending_loads = static_cast<int>(st.stages.size());
  m.load_id = st.next_id++;
  m.load_started = self->clock().now();
  m.load_sharers = 1;
  for (auto& [other, o] : st.models)
    if (&o != &m && o.state == residency::loading)
      ++m.load_sharers;
  self->send(st.stages.front(), load_entry{m.load_id, name, st.init.load_pipelining});
}

/// Starts loading `name` (evicting through the policy if needed). False: it does not fit now.
bool ensure_resident(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto& m = st.models[name];
  if (m.state == residency::loading || m.state == residency::resident)
    return true;
  if (m.state == residency::unloading)
    return true; // loads again once the stages confirmed the eviction (on_event)
  if (st.stages.empty() || m.bytes > st.init.budget_bytes)
    return false;
  policies::eviction_view v;
  v.needed_bytes = m.stranded ? 0 : m.bytes; // stranded: its bytes are still counted as used
  std::int64_t unloading = 0; // freed by evictions on their way (a stage loads only after its evictions)
  for (auto& [other, o] : st.models)
    if (o.state == residency::unloading)
      unloading += o.bytes;
  v.free_bytes = st.init.budget_bytes - st.used + unloading;
  for (auto& [other, o] : st.models)
    if (o.state == residency::resident || o.state == residency::loading)
      v.resident.push_back({other, o.bytes, o.last_used, static_cast<std::int64_t>(o.queue.size()),
                            o.pinned || o.state == residency::loading || o.gen_busy(), o.demand, o.load_s,
                            o.in_pipeline});
  auto d = st.init.eviction(v);
  if (!d.possible)
    return false;
  for (auto& victim : d.victims)
    start_evict(self, victim);
  start_load(self, name);
  return true;
}

std::vector<std::chrono::nanoseconds> latency_table(const model_entry& m) {
  std::vector<std::chrono::nanoseconds> out;
  for (double s : m.latency_s) {
    if (s <= 0)
      break;
    out.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s)));
  }
  return out;
}

/// Forms one batch of `name` and sends it to stage 0. False: nothing to send.
bool send_batch(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto& m = st.models[name];
  auto now = self->clock().now();
  // candidates: the oldest max_candidates queued requests with the head's length and output kind (no
  // padding inside a batch); later ones are looked at by later batches (and their request actors watch their deadlines)
  constexpr std::size_t max_candidates = 256;
  auto len = m.queue.front().tokens.size();
  const std::string kind = m.queue.front().output; // one output kind per batch
  std::vector<std::size_t> idx;
  policies::batching_view v;
  v.latency = latency_table(m);
  std::size_t scanned = 0; // queue positions looked at: [0, scanned)
  std::vector<std::size_t> dropped; // cancelled meanwhile: leave without an answer (they have theirs)
  for (; scanned < m.queue.size() && idx.size() < max_candidates; ++scanned) {
    auto& q = m.queue[scanned];
    if (!st.cancelled.empty()) {
      auto c = st.cancelled.find({q.id.value, q.requester.address()});
      if (c != st.cancelled.end()) {
        st.cancelled.erase(c);
        dropped.push_back(scanned);
        continue;
      }
    }
    if (q.tokens.size() == len && q.output == kind) {
      idx.push_back(scanned);
      v.time_left.push_back(q.deadline - now);
    }
  }
  auto d = st.init.batching(v);
  // 0: stays, 1: expired, 2: taken (positions in [0, scanned))
  std::vector<char> fate(scanned, 0);
  for (auto e : d.expired)
    fate[idx[e]] = 1;
  for (auto i : dropped)
    fate[i] = 3;
  batch_entry b;
  b.batch_id = st.next_id++;
  b.model = name;
  b.seq = static_cast<std::int32_t>(len);
  b.output = kind;
  b.input.type = element_type::i32;
  std::size_t taken = 0;
  b.input.bytes.reserve(std::min<std::size_t>(d.take, idx.size()) * len * sizeof(std::int32_t));
  for (std::size_t k = 0; k < idx.size() && taken < d.take; ++k) {
    if (fate[idx[k]] != 0)
      continue;
    fate[idx[k]] = 2;
    ++taken;
    auto& q = m.queue[idx[k]];
    b.ids.push_back(q.id);
    b.requesters.push_back(q.requester);
    auto* p = reinterpret_cast<const char*>(q.tokens.data());
    b.input.bytes.insert(b.input.bytes.end(), p, p + q.tokens.size() * sizeof(std::int32_t));
  }
  bool any_expired = false;
  std::size_t end = 0; // one past the last position that leaves the queue
  for (std::size_t i = 0; i < scanned; ++i)
    if (fate[i] != 0)
      end = i + 1;
  std::vector<queued_request> kept; // requests that stay, from before `end` (FIFO batches: none)
  for (std::size_t i = 0; i < end; ++i) {
    if (fate[i] == 1) {
      any_expired = true;
      answer(self, m.queue[i], request_status::deadline_exceeded, "cannot finish before its deadline");
    } else if (fate[i] == 0) {
      kept.push_back(std::move(m.queue[i]));
    }
  }
  m.queue.erase(m.queue.begin(), m.queue.begin() + static_cast<std::ptrdiff_t>(end));
  m.queue.insert(m.queue.begin(), std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()));
  if (b.ids.empty())
    return any_expired || !dropped.empty();
  b.batch = static_cast<std::int32_t>(b.ids.size());
  b.input.shape = {b.batch, b.seq};
  m.last_used = ++st.use_clock;
  ++m.in_pipeline;
  ++st.in_flight;
  self->send(st.stages.front(), std::move(b));
  return true;
}

/// A step's point at the group: planned and sent to stage 0, or its result back (messages/step_events.hpp:
/// `--log-level trace` lines for scripts/step_trace.py, `replay --fit-profile`'s observer).
step_event group_step_event(self_ptr self, step_point what, const std::string& model, std::uint64_t step_id,
                            int seqs, time_point at) {
  step_event ev;
  ev.point = what;
  ev.group = self->id();
  ev.model = model;
  ev.step = step_id;
  ev.seqs = seqs;
  ev.at = at;
  return ev;
}

/// Plans and sends the next generation steps of `name` while the pipeline has room: up to one per stage
/// (disjoint sequences), within the group's in-flight limit.
void send_steps(self_ptr self, const std::string& name, model_entry& m, int limit) {
  auto& st = self->state;
  auto now = self->clock().now();
  m.gen->expire(now); // waited past their TTFT deadline: their request actors answer them
  while (st.in_flight < limit && m.gen->steps_in_flight() < static_cast<int>(st.stages.size())) {
    auto step = m.gen->plan(st.next_id, now);
    if (!step)
      break;
    ++st.next_id;
    step->start = now;
    m.last_used = ++st.use_clock;
    ++m.in_pipeline;
    ++st.in_flight;
    ++st.steps_in_flight;
    if (step_events_wanted()) {
      auto ev = group_step_event(self, step_point::plan, name, step->step_id, static_cast<int>(step->seqs.size()), now);
      for (auto c : step->counts)
        ev.tokens += c;
      const auto t = m.gen->terms(step->step_id);
      ev.decodes = t.decodes;
      ev.ctx = t.context;
      ev.pairs = t.prefill_pairs;
      emit_step_event(ev);
    }
    self->send(st.stages.front(), std::move(*step));
  }
  send_swaps(self, name, m.gen->take_swap_ins(), false);
}

void pump(self_ptr self) {
  auto& st = self->state;
  if (st.stages.empty())
    return;
  for (auto& [name, m] : st.models)
    if ((!m.queue.empty() || m.gen_busy()) && m.state == residency::evicted)
      ensure_resident(self, name); // its batches follow the load entry at once
  int limit = st.init.max_in_flight > 0 ? st.init.max_in_flight : static_cast<int>(st.stages.size()) + 1;
  for (auto& [name, m] : st.models)
    if (m.gen_busy() && (m.state == residency::loading || m.state == residency::resident))
      send_steps(self, name, m, limit);
  while (st.in_flight < limit) {
    const std::string* pick = nullptr;
    time_point oldest = time_point::max();
    for (auto& [name, m] : st.models)
      if (!m.queue.empty() && (m.state == residency::loading || m.state == residency::resident)
          && m.queue.front().arrival < oldest) {
        oldest = m.queue.front().arrival;
        pick = &name;
      }
    if (!pick || !send_batch(self, *pick))
      break;
  }
  for (auto& [name, m] : st.models) {
    if (m.unload_requested && m.queue.empty() && !m.gen_busy()
        && (m.state == residency::resident || m.state == residency::loading) && m.pending_loads == 0)
      start_evict(self, name);
    if (!m.unload_requested && m.pending_evicts == 0) { // the stages confirmed (maybe reloaded by demand since)
      for (auto& w : std::exchange(m.unload_waiters, {}))
        w.deliver(m.evict_error.empty() ? ack{} : ack{false, "eviction failed: " + m.evict_error});
      m.evict_error.clear();
    }
  }
}

double ewma(double old, double sample) {
  return old <= 0 ? sample : 0.8 * old + 0.2 * sample;
}

/// A stage's device has a sticky error: nothing of this group can run any more.
void on_unhealthy(self_ptr self, const stage_event& e) {
  auto& st = self->state;
  if (!st.unhealthy.empty())
    return;
  st.unhealthy = "stage " + std::to_string(e.stage) + ": " + e.error;
  for (auto& [name, m] : st.models) {
    for (auto& q : std::exchange(m.queue, {}))
      answer(self, q, request_status::failed, "group " + st.init.name + " unhealthy: " + st.unhealthy,
             error_code::device_error);
    fail_generations(self, name, m, "group " + st.init.name + " unhealthy: " + st.unhealthy, error_code::device_error);
    for (auto& w : std::exchange(m.load_waiters, {}))
      w.deliver(ack{false, "group " + st.init.name + " unhealthy: " + st.unhealthy});
  }
  st.preloading.clear();
  report(self);
}

void on_event(self_ptr self, stage_event& e) {
  auto& st = self->state;
  if (e.kind == stage_event_kind::device_unhealthy) {
    on_unhealthy(self, e);
    maybe_ready(self);
    return;
  }
  auto it = st.models.find(e.model);
  if (it == st.models.end())
    return;
  auto& m = it->second;
  auto secs = std::chrono::duration<double>(e.elapsed).count();
  switch (e.kind) {
    case stage_event_kind::load_done:
      if (e.entry_id == m.load_id && m.state == residency::loading && --m.pending_loads == 0) {
        m.state = residency::resident;
        // Measured, per load: loads started together share the devices' copy engines, so a load that ran
        // beside k others counts 1/(k+1) of its time (the start-up preloads all run at once; admission
        // predicts a later load that runs alone).
        m.load_s = ewma(m.load_s, std::chrono::duration<double>(self->clock().now() - m.load_started).count()
                                    / m.load_sharers);
        m.pinned = false;
        for (auto& w : std::exchange(m.load_waiters, {}))
          w.deliver(ack{});
        st.preloading.erase(e.model);
      }
      break;
    case stage_event_kind::load_failed:
      if (e.entry_id == m.load_id && m.state == residency::loading) {
        m.state = residency::evicted;
        m.pending_loads = 0;
        st.used -= m.bytes;
        m.pinned = false;
        for (auto& w : std::exchange(m.load_waiters, {}))
          w.deliver(ack{false, "load failed: " + e.error});
        for (auto& q : std::exchange(m.queue, {}))
          answer(self, q, request_status::failed, "load of " + e.model + " failed: " + e.error, client_code(e.code));
        fail_generations(self, e.model, m, "load of " + e.model + " failed: " + e.error, client_code(e.code));
        st.preloading.erase(e.model);
      }
      break;
    case stage_event_kind::device_unhealthy:
      break; // handled before the switch
    case stage_event_kind::evict_done:
      --m.pending_evicts;
      if (e.code != stage_error::none && e.code != stage_error::device_unhealthy && m.evict_error.empty())
        m.evict_error = e.error; // that stage still holds the shard
      if (m.pending_evicts == 0 && m.state == residency::unloading) {
        if (m.evict_error.empty()) {
          m.state = residency::evicted;
          st.used -= m.bytes;
          if (!m.load_waiters.empty() && !ensure_resident(self, e.model)) { // a load asked for meanwhile
            m.pinned = false;
            for (auto& w : std::exchange(m.load_waiters, {}))
              w.deliver(ack{false, "model " + e.model + " does not fit group " + st.init.name + " now"});
          }
        } else {
          // Some stages freed their shard, others still hold it: the model needs a load before it serves
          // (stages that hold the shard acknowledge a load at once), and its bytes stay counted.
          m.state = residency::evicted;
          m.stranded = true;
        }
      }
      break;
    case stage_event_kind::batch_done:
    case stage_event_kind::batch_failed:
      --m.in_pipeline;
      --st.in_flight;
      if (e.kind == stage_event_kind::batch_done && e.batch > 0) {
        if (m.latency_s.size() < static_cast<std::size_t>(e.batch))
          m.latency_s.resize(static_cast<std::size_t>(e.batch), 0.0);
        auto& slot = m.latency_s[static_cast<std::size_t>(e.batch) - 1];
        slot = ewma(slot, secs);
      }
      break;
  }
  pump(self);
  maybe_ready(self);
  if (e.kind == stage_event_kind::batch_done || e.kind == stage_event_kind::batch_failed)
    report_soon(self);
  else
    report(self);
}

/// A generation step came back from the last stage (or failed on some stage).
void on_step(self_ptr self, step_result& r) {
  auto& st = self->state;
  auto it = st.models.find(r.model);
  if (it == st.models.end() || !it->second.gen)
    return;
  auto& m = it->second;
  --m.in_pipeline;
  --st.in_flight;
  --st.steps_in_flight;
  if (step_events_wanted())
    emit_step_event(group_step_event(self, step_point::result, r.model, r.step_id,
                                     static_cast<int>(r.tokens.size()), self->clock().now()));
  auto out = m.gen->on_result(r, self->clock().now());
  if (r.code == stage_error::none) // measured: group -> every stage -> group, with its prompt tokens
    m.step_fit.add(out.prefill_tokens, std::chrono::duration<double>(r.elapsed).count());
  st.gen_tokens[r.model] += static_cast<std::int64_t>(out.tokens.size());
  for (auto& t : out.tokens)
    self->send(t.seq->req.requester, token_atom_v, token_frame{t.seq->req.id, t.index, t.value});
  for (std::size_t i = 0; i < out.finished.size(); ++i)
    answer_gen(self, out.finished[i], request_status::ok, {}, error_code::none, out.finish_reasons[i]);
  for (auto& [s, code] : out.failed)
    answer_gen(self, s, request_status::failed, "generation step failed on stage " + std::to_string(r.stage) + ": " + r.error,
               client_code(code));
  release_kv(self, r.model, std::move(out.release));
  send_swaps(self, r.model, out.swap_out, true);
  pump(self);
  report_soon(self);
}

model_group_actor::behavior_type group_fn(self_ptr self, model_group_init init) {
  for (auto& [name, bytes] : init.models)
    self->state.models[name].bytes = bytes;
  for (auto& [name, eos] : init.generators)
    if (auto it = self->state.models.find(name); it != self->state.models.end())
      it->second.gen = std::make_unique<internal::generation_queue>(
        internal::generation_options{init.gen_max_seqs, init.gen_token_budget, init.kv_block_tokens, init.stages,
                                     init.gen_swap, std::max<int>(1, init.stages)},
        eos);
  self->state.init = std::move(init);
  return {
    [=](stage_event& e) { on_event(self, e); },
    [=](step_result& r) { on_step(self, r); },
    [=](kv_usage_report& k) {
      auto& st = self->state;
      auto s = static_cast<std::size_t>(std::max(0, k.stage));
      if (st.kv_used.size() <= s) {
        st.kv_used.resize(s + 1, 0);
        st.kv_free.resize(s + 1, 0);
      }
      st.kv_used[s] = k.blocks_used;
      st.kv_free[s] = k.blocks_free;
      report_soon(self);
    },
    [=](enqueue_atom, queued_generation& q) {
      auto& st = self->state;
      auto fail = [&](request_status s, std::string why, error_code code) {
        generation_outcome o{q.id, s, std::move(why), code, {}, {}, {}, {}, 0};
        self->send(q.requester, outcome_atom_v, std::move(o));
      };
      if (!st.unhealthy.empty())
        return fail(request_status::failed, "group " + st.init.name + " unhealthy: " + st.unhealthy,
                    error_code::device_error);
      auto it = st.models.find(q.model);
      if (it == st.models.end())
        return fail(request_status::rejected, "model " + q.model + " is not hosted by group " + st.init.name,
                    error_code::not_resident);
      ++it->second.gen_enqueued;
      report_soon(self); // the controller's pending view of it ends with a report that counts it
      if (!it->second.gen)
        return fail(request_status::rejected, "model " + q.model + " does not generate (not a decoder)",
                    error_code::invalid_request);
      if (it->second.bytes > st.init.budget_bytes)
        return fail(request_status::failed, "model " + q.model + " does not fit the devices of group " + st.init.name,
                    error_code::internal);
      it->second.demand += 1;
      it->second.gen->enqueue(std::move(q));
      pump(self);
      report_soon(self);
    },
    [=](attach_atom, std::vector<stage_actor>& stages) {
      auto& st = self->state;
      st.stages = std::move(stages);
      for (std::size_t s = 0; s < st.stages.size(); ++s)
        self->send(st.stages[s], attach_atom_v,
                   s + 1 < st.stages.size() ? stage_input_actor{st.stages[s + 1]} : stage_input_actor{},
                   group_events_actor{self});
      for (auto& name : st.init.preload) {
        auto it = st.models.find(name);
        if (it != st.models.end() && it->second.state == residency::evicted
            && st.used + it->second.bytes <= st.init.budget_bytes) {
          st.preloading.insert(name);
          start_load(self, name);
        }
      }
      pump(self);
      maybe_ready(self);
      report(self);
    },
    [=](enqueue_atom, queued_request& q) {
      if (!self->state.unhealthy.empty()) {
        answer(self, q, request_status::failed,
               "group " + self->state.init.name + " unhealthy: " + self->state.unhealthy, error_code::device_error);
        return;
      }
      auto it = self->state.models.find(q.model);
      if (it == self->state.models.end()) {
        answer(self, q, request_status::rejected, "model " + q.model + " is not hosted by group " + self->state.init.name);
        return;
      }
      for (auto& [name, m] : self->state.models)
        m.demand *= 0.99;
      it->second.demand += 1;
      if (it->second.bytes > self->state.init.budget_bytes) {
        answer(self, q, request_status::failed, "model " + q.model + " does not fit the devices of group " + self->state.init.name);
        return;
      }
      it->second.queue.push_back(std::move(q));
      pump(self);
      report_soon(self);
    },
    [=](cancel_atom, request_id id) { // O(1): dropped when batching reaches it (send_batch)
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
      for (auto& [name, m] : st.models) { // a generation: forgotten now, its KV freed once no step is in flight
        std::vector<std::uint64_t> release;
        if (m.gen && m.gen->cancel(id, sender, release)) {
          release_kv(self, name, std::move(release));
          pump(self);
          report_soon(self);
          return;
        }
      }
      st.cancelled.insert({id.value, caf::actor_cast<caf::actor_addr>(self->current_sender())});
      // bound the set if cancels arrive for requests that already left the queue (they are never reached)
      std::size_t queued = 0;
      for (auto& [name, m] : st.models)
        queued += m.queue.size();
      if (st.cancelled.size() > 2 * queued + 1024)
        st.cancelled.clear(); // stale keys only cost a little: their requests answered once already
    },
    [=](load_atom, std::string& name) -> caf::result<ack> {
      auto it = self->state.models.find(name);
      if (it == self->state.models.end())
        return ack{false, "model " + name + " is not hosted by group " + self->state.init.name};
      auto& m = it->second;
      if (m.state == residency::resident)
        return ack{};
      m.pinned = true;
      if (!ensure_resident(self, name)) {
        m.pinned = false;
        return ack{false, "model " + name + " does not fit group " + self->state.init.name + " now"};
      }
      auto p = self->make_response_promise<ack>();
      m.load_waiters.push_back(p);
      report(self);
      return p;
    },
    [=](unload_atom, std::string& name) -> caf::result<ack> {
      auto it = self->state.models.find(name);
      if (it == self->state.models.end())
        return ack{false, "model " + name + " is not hosted by group " + self->state.init.name};
      auto& m = it->second;
      if (m.state == residency::evicted && m.pending_evicts == 0)
        return ack{};
      auto p = self->make_response_promise<ack>();
      m.unload_waiters.push_back(p);
      m.unload_requested = m.state == residency::resident || m.state == residency::loading;
      pump(self);
      report(self);
      return p;
    },
    [=](tick_atom) {
      self->state.tick_armed = false;
      pump(self);
      if (self->state.report_dirty)
        report(self);
    },
    [=](policy_atom, policy_update& u) { // a run-time swap (policies/policy_actor.hpp)
      if (!u.policy)
        return;
      if (auto* b = std::get_if<policies::batching_fn>(&u.policy->fn); b && *b)
        self->state.init.batching = *b;
      else if (auto* e = std::get_if<policies::eviction_fn>(&u.policy->fn); e && *e)
        self->state.init.eviction = *e;
      pump(self);
    },
    [=](stop_atom) -> ack {
      for (auto& [name, m] : self->state.models) {
        for (auto& q : std::exchange(m.queue, {}))
          answer(self, q, request_status::failed, "group " + self->state.init.name + " stopped");
        fail_generations(self, name, m, "group " + self->state.init.name + " stopped", error_code::draining);
        for (auto& w : std::exchange(m.load_waiters, {}))
          w.deliver(ack{false, "group stopped"});
        for (auto& w : std::exchange(m.unload_waiters, {}))
          w.deliver(ack{false, "group stopped"});
      }
      for (auto& s : self->state.stages)
        caf::anon_send(s, stop_atom_v);
      self->quit();
      return {};
    },
  };
}

} // namespace

model_group_actor spawn_model_group(caf::actor_system& sys, model_group_init init) {
  return sys.spawn(group_fn, std::move(init));
}

} // namespace sy::actors
