// The generation kernel of the simulator (issue 10 §4; README "Generation in the simulator"): requests with
// output_tokens > 0, simulated iteration by iteration as the runtime serves them.
//
// Dispatch and admission as the controller (actors/internal/controller_generate.cpp): among the groups that
// host the model, the one with the fewest of its sequences (waiting + running), ties to the lowest group;
// with a TTFT SLO, refused at once (rejected) when (sequences there + 1) x the model's batch-1 pipeline
// latency (the profile's, where the runtime uses its measured EWMA) exceeds it.
//
// Per (group, model) a queue of sequences scheduled exactly as actors/internal/generation_queue plans steps:
// admit waiting sequences while fewer than min(max_seqs, limit) run; a step takes at most
// ceil(running / pp) sequences (disjoint micro-batches): first one decode token of each decoding sequence,
// then prefill chunks within token_budget; a chunk that ends a sequence's context samples its next token.
// A model keeps up to pp steps in flight, the group up to pp + 1 (the runtime's max_in_flight default); when
// the group has room it plans its models' steps in model name order, as the runtime's group does.
//
// Swapping (sim_mode::swapping, as the runtime's model group does for generation): initially each group's
// models are resident in the group's order while their per-GPU bytes (profile_table max_weight: the weights,
// and the KV room of the memory rule) fit mem_budget_bytes, as in the one-pass swapping kernel. A model with
// waiting sequences that is not resident is loaded when it fits, else after the eviction policy's victims
// (opt.eviction, default lru) are evicted; a model with waiting, running or in-flight sequences, or still
// loading, is pinned (never a victim: the runtime's default, no eviction while sequences run), so the load
// waits until such victims are idle. Stage k of the load is ready at max(now, stage k's copy stream free) +
// load_seconds[k]; steps follow right behind it (a step's stage k starts no earlier than ready_k), and a
// sequence admitted behind a load records the wait as load_wait. Other modes: every placed model is resident.
// The one-pass kernels keep their own residency (the two request kinds do not share it, nor stage clocks).
//
// KV: per stage, per GPU, the budget mem_budget_bytes minus the weights of the group's resident models, in blocks of block_tokens tokens (kv_bytes_per_token from the
// profile). A step's blocks are reserved when it is planned; when they do not fit, the newest member is
// preempted (its KV freed, it waits at the front and is recomputed from prompt + tokens so far) and fewer
// sequences run until one finishes (limit); a sequence that does not fit alone fails.
//
// Time: a step enters stage 0 when stage 0 is free, stage k when stage k-1 is done with it and stage k is
// free (the stages are FIFO), and takes the profile's cost there (profile_entry::step_seconds: linear in its
// prefill tokens, decodes and their contexts, plus prefill_s_per_pair x the pairs its prefill chunks attend,
// where the profile measured it; x exp(sdlog Z - sdlog^2 / 2), Z a seeded standard normal, where the entry has
// gen_step_sdlog; stretched by host_cores unless the entry is gen_fitted_live); its tokens exist when the last
// stage is done. The runtime's overheads, where the profile measured them (gen_hop_s, gen_request_s, else 0): every
// actor hop of a step (group -> stage 0, stage k -> k+1, last stage -> group) adds gen_hop_s of latency that
// occupies no stage, and a request reaches its group's queue gen_request_s after its arrival (the ingress
// and request actor, and the first token's way back to the client, folded into one delay; it is in every
// time the records give, TTFT included, not in TPOT). TTFT deadline (arrival + TTFT SLO, when there is one): a sequence without a first token by then
// ends deadline_exceeded at the deadline (its KV is freed once no step of it is in flight).
#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <queue>
#include <random>
#include <vector>

#include "messages/step_events.hpp"
#include "policies/profile.hpp"
#include "sim/internal/compiled.hpp"

namespace sy::sim::internal {

namespace {

constexpr double never = std::numeric_limits<double>::infinity();

struct seq {
  std::size_t req = 0;
  int input = 1, output = 1;
  int gen = 0, fed = 0;
  std::int64_t blocks = 0; // KV blocks held (reserved) per stage
  bool in_flight = false, cancelled = false, done = false;
  double deadline = never, admitted = -1, first = -1, load_wait = 0;
  int context() const { return input + gen; }
  bool decoding() const { return gen > 0 && fed == context() - 1; }
};

struct step {
  int group = 0, slot = 0; // slot: index of the model in the group
  std::vector<int> members;
  std::vector<int> counts;
};

struct model_queue {
  int model = -1;
  std::deque<int> waiting;
  std::vector<int> running; // admission order
  int limit = std::numeric_limits<int>::max();
  int in_flight = 0;
  double pipeline_latency = 0;           // batch-1 one-pass, for admission
  double hop = 0, request = 0;           // the runtime's overheads (profile gen_hop_s, gen_request_s)
  bool live = false;                     // costs fitted to live steps (gen_fitted_live): no host_cores stretch
  int member = -1;                       // index in group_state::members
  std::vector<const double*> coef;       // [k] -> 5 generation numbers of the config view
  std::vector<double> pair;              // [k] seconds per attended pair of a prefill chunk (0: none)
  std::vector<double> sdlog;             // [k] spread of live step costs (gen_step_sdlog; 0: none)
};

/// A placed model of a group and its residency (swapping mode; otherwise always resident).
struct member {
  int model = -1, queue = -1;      // queue: index in group_state::models, -1 without generation requests
  double bytes = 0;                // per GPU (max_weight)
  std::vector<double> stage_bytes; // [k] weight bytes per GPU of stage k
  std::vector<double> load_s;      // [k]
  std::vector<double> ready;       // [k] its last load done on stage k
  bool resident = true;
  std::uint64_t last_use = 0;
  double demand = 0;
};

struct group_state {
  int pp = 1;
  std::vector<model_queue> models;
  std::vector<member> members;
  std::vector<double> copy_free; // [k] the stage's host->device copy stream
  double used = 0;               // bytes of the resident members
  std::vector<double> stage_free;
  std::size_t share_base = 0; // the group's first slot in the kernel's cpu-sharing intervals
  std::vector<double> kv_capacity, kv_used; // [k] bytes per GPU
  int in_flight = 0;
};

struct event {
  double time;
  std::uint64_t order;
  int step;
  bool operator>(const event& o) const { return time != o.time ? time > o.time : order > o.order; }
};

class kernel {
public:
  kernel(const policies::placement& p, const policies::profile_table& table, const prepared_trace& t,
         const sim_options& opt, counts& out, std::size_t begin)
      : p_(p), table_(table), t_(t), opt_(opt), out_(out), begin_(begin) {}

  status prepare(std::size_t begin, std::size_t end) {
    std::vector<char> wanted(static_cast<std::size_t>(table_.num_models()), 0);
    for (std::size_t i = begin; i < end; ++i)
      if (t_.output_tokens[i] > 0 && t_.model[i] >= 0)
        wanted[static_cast<std::size_t>(t_.model[i])] = 1;
    groups_.resize(p_.groups.size());
    for (std::size_t g = 0; g < p_.groups.size(); ++g) {
      const auto& gp = p_.groups[g];
      auto& gs = groups_[g];
      gs.pp = gp.config.pp;
      const auto pp = static_cast<std::size_t>(gs.pp);
      gs.stage_free.assign(pp, 0.0);
      gs.share_base = busy_devices_.size();
      busy_devices_.insert(busy_devices_.end(), pp, gp.config.op);
      busy_from_.insert(busy_from_.end(), pp, 0.0);
      busy_to_.insert(busy_to_.end(), pp, 0.0);
      gs.kv_capacity.assign(pp, opt_.mem_budget_bytes);
      gs.kv_used.assign(pp, 0.0);
      const auto* v = table_.view(gp.config);
      gs.copy_free.assign(pp, 0.0);
      for (int m : gp.models) {
        const auto mu = static_cast<std::size_t>(m);
        if (v && v->present[mu]) {
          member mb;
          mb.model = m;
          mb.bytes = v->max_weight[mu];
          for (std::size_t k = 0; k < pp; ++k) {
            mb.stage_bytes.push_back(v->weight_bytes[mu * pp + k]);
            mb.load_s.push_back(v->load_seconds[mu * pp + k]);
          }
          mb.ready.assign(pp, 0.0);
          // Swapping: resident in the group's order while they fit; otherwise every model is.
          mb.resident = !swapping() || gs.used + mb.bytes <= opt_.mem_budget_bytes;
          if (mb.resident) {
            gs.used += mb.bytes;
            for (std::size_t k = 0; k < pp; ++k)
              gs.kv_capacity[k] -= mb.stage_bytes[k];
          }
          gs.members.push_back(std::move(mb));
        }
        if (!wanted[mu])
          continue;
        if (!v || !v->present[mu] || !v->has_gen[mu])
          return make_error("sim", "model '" + table_.model_names()[mu] + "' (op " + std::to_string(gp.config.op) +
                                       ", pp " + std::to_string(gp.config.pp) + ") has generation requests, but its "
                                       "profile entry has no generation costs (gen_step_s, prefill_s_per_token, "
                                       "decode_s_per_seq, decode_s_per_ctx, kv_bytes_per_token): it is not a "
                                       "decoder, or the profile predates them (measure it again with `switchyard "
                                       "profile`, or use the cost model's --hardware)");
        if (swapping() && !v->has_load[mu])
          return make_error("sim", "model '" + table_.model_names()[mu] + "' (op " + std::to_string(gp.config.op) +
                                       ", pp " + std::to_string(gp.config.pp) + "): swapping generation needs the "
                                       "profile's load_seconds, the entry has none");
        model_queue q;
        q.model = m;
        q.member = static_cast<int>(gs.members.size() - 1);
        gs.members.back().queue = static_cast<int>(gs.models.size());
        q.hop = v->gen_hop[mu];
        q.request = v->gen_request[mu];
        q.live = v->gen_live[mu] != 0;
        for (std::size_t k = 0; k < pp; ++k) {
          q.pipeline_latency += static_cast<double>(v->stage_lat[mu * pp + k]);
          q.coef.push_back(&v->gen[(mu * pp + k) * 5]);
          q.pair.push_back(v->gen_pair[mu * pp + k]);
          q.sdlog.push_back(v->gen_sdlog[mu * pp + k]);
        }
        gs.models.push_back(std::move(q));
      }
      // The runtime's group visits its models in name order (a std::map) when it plans steps: so does pump.
      std::stable_sort(gs.models.begin(), gs.models.end(), [&](const model_queue& a, const model_queue& b) {
        return table_.model_names()[static_cast<std::size_t>(a.model)] <
               table_.model_names()[static_cast<std::size_t>(b.model)];
      });
      for (std::size_t j = 0; j < gs.models.size(); ++j)
        gs.members[static_cast<std::size_t>(gs.models[j].member)].queue = static_cast<int>(j);
    }
    return {};
  }

  void run(std::size_t begin, std::size_t end) {
    std::size_t i = begin;
    while (true) {
      while (i < end && !(t_.output_tokens[i] > 0 && t_.model[i] >= 0))
        ++i;
      const bool arrivals = i < end;
      if (!arrivals && events_.empty())
        break;
      if (!events_.empty() && (!arrivals || events_.top().time <= t_.arrival[i])) {
        auto e = events_.top();
        events_.pop();
        if (e.step >= 0)
          complete(e.step, e.time);
        else
          enqueue(delayed_[static_cast<std::size_t>(-1 - e.step)], e.time);
      } else {
        arrive(i, t_.arrival[i]);
        ++i;
      }
    }
  }

private:
  request_record& record(std::size_t i) { return scratch_rec_[i - begin_]; }

  void finish(int s, request_status st, double when, int group) {
    auto& q = seqs_[static_cast<std::size_t>(s)];
    q.done = true;
    auto& r = record(q.req);
    r.status = st;
    r.finish = when;
    r.group = group;
    r.new_tokens = q.gen;
    r.first_token = q.first;
    r.start = q.admitted >= 0 ? q.admitted : when;
    r.load_wait = q.load_wait;
    const auto m = static_cast<std::size_t>(t_.model[q.req]);
    if (st == request_status::ok) {
      const double ttft = q.first - t_.arrival[q.req];
      const double tpot = q.gen > 1 ? (when - q.first) / (q.gen - 1) : 0.0;
      const bool good = (r.ttft_slo <= 0 || ttft <= r.ttft_slo) && (r.tpot_slo <= 0 || q.gen <= 1 || tpot <= r.tpot_slo);
      if (good) {
        ++out_.good;
        ++out_.model_good[m];
        out_.latency_sum += when - t_.arrival[q.req];
      }
    }
  }

  void arrive(std::size_t i, double now) {
    const int m = t_.model[i];
    const auto mu = static_cast<std::size_t>(m);
    ++out_.model_requests[mu];
    ++arrivals_;
    auto& r = record(i);
    r = request_record{now, now, now, now, request_status::failed, -1, 0, 0};
    r.ttft_slo = t_.ttft_slo[i];
    r.tpot_slo = t_.tpot_slo[i];
    r.generation = true;
    int best = -1, best_slot = -1;
    std::size_t best_queued = 0;
    for (std::size_t g = 0; g < groups_.size(); ++g)
      for (std::size_t j = 0; j < groups_[g].models.size(); ++j) {
        const auto& q = groups_[g].models[j];
        if (q.model != m)
          continue;
        const std::size_t queued = q.waiting.size() + q.running.size();
        if (best < 0 || queued < best_queued) {
          best = static_cast<int>(g);
          best_slot = static_cast<int>(j);
          best_queued = queued;
        }
      }
    if (best < 0)
      return; // failed: no replica (group -1)
    auto& gs = groups_[static_cast<std::size_t>(best)];
    auto& q = gs.models[static_cast<std::size_t>(best_slot)];
    ++out_.group_requests[static_cast<std::size_t>(best)];
    for (auto& mb : gs.members) // the runtime group's demand: +1 per request, x0.99 per request to the group
      mb.demand *= 0.99;
    gs.members[static_cast<std::size_t>(q.member)].demand += 1;
    r.group = best;
    if (opt_.gen.admission && r.ttft_slo > 0 &&
        static_cast<double>(best_queued + 1) * q.pipeline_latency > r.ttft_slo) {
      r.status = request_status::rejected;
      return;
    }
    seq s;
    s.req = i;
    s.input = std::max(1, t_.input_tokens[i]);
    s.output = t_.output_tokens[i];
    s.deadline = r.ttft_slo > 0 ? now + r.ttft_slo : never;
    seqs_.push_back(s);
    group_of_.push_back(best);
    const delayed d{static_cast<int>(seqs_.size() - 1), best, best_slot};
    if (q.request > 0) { // the way to the group (ingress, request actor) and the first token's way back
      delayed_.push_back(d);
      events_.push(event{now + q.request, order_++, -static_cast<int>(delayed_.size())});
      return;
    }
    enqueue(d, now);
  }

  struct delayed {
    int seq = 0, group = 0, slot = 0;
  };

  void enqueue(const delayed& d, double now) {
    groups_[static_cast<std::size_t>(d.group)].models[static_cast<std::size_t>(d.slot)].waiting.push_back(d.seq);
    pump(d.group, now);
  }

  double block_bytes(const model_queue& q, std::size_t k) const { return q.coef[k][4] * opt_.gen.block_tokens; }
  std::int64_t blocks_for(int tokens) const {
    return (tokens + opt_.gen.block_tokens - 1) / opt_.gen.block_tokens;
  }

  void retire(group_state& gs, model_queue& q, int s) {
    auto& x = seqs_[static_cast<std::size_t>(s)];
    for (std::size_t k = 0; k < gs.kv_used.size(); ++k)
      gs.kv_used[k] -= static_cast<double>(x.blocks) * block_bytes(q, k);
    x.blocks = 0;
    q.running.erase(std::remove(q.running.begin(), q.running.end(), s), q.running.end());
  }

  /// TTFT deadlines that passed by `now`: waiting sequences and running ones between steps.
  void expire(int g, group_state& gs, model_queue& q, double now) {
    for (auto it = q.waiting.begin(); it != q.waiting.end();) {
      auto& x = seqs_[static_cast<std::size_t>(*it)];
      if (x.gen == 0 && x.deadline <= now) {
        finish(*it, request_status::deadline_exceeded, x.deadline, g);
        it = q.waiting.erase(it);
      } else {
        ++it;
      }
    }
    for (std::size_t j = 0; j < q.running.size();) {
      const int s = q.running[j];
      auto& x = seqs_[static_cast<std::size_t>(s)];
      if (!x.in_flight && x.gen == 0 && x.deadline <= now) {
        finish(s, request_status::deadline_exceeded, x.deadline, g);
        retire(gs, q, s);
      } else {
        ++j;
      }
    }
  }

  /// generation_queue::plan, with the KV check the stages would make.
  bool plan(int g, group_state& gs, model_queue& q, int slot, double now) {
    while (true) {
      while (!q.waiting.empty() &&
             static_cast<int>(q.running.size()) < std::min(opt_.gen.max_seqs, q.limit)) {
        const int s = q.waiting.front();
        q.waiting.pop_front();
        auto& x = seqs_[static_cast<std::size_t>(s)];
        x.fed = 0;
        if (x.admitted < 0) {
          x.admitted = now;
          const auto& mb = gs.members[static_cast<std::size_t>(q.member)];
          x.load_wait = std::max(0.0, *std::max_element(mb.ready.begin(), mb.ready.end()) - now);
        }
        q.running.push_back(s);
      }
      const auto micro = static_cast<std::size_t>(std::max(1, gs.pp));
      const std::size_t cap = std::max<std::size_t>(1, (q.running.size() + micro - 1) / micro);
      int budget = opt_.gen.token_budget;
      step st;
      st.group = g;
      st.slot = slot;
      for (int s : q.running) {
        const auto& x = seqs_[static_cast<std::size_t>(s)];
        if (budget > 0 && st.members.size() < cap && !x.in_flight && x.decoding()) {
          st.members.push_back(s);
          st.counts.push_back(1);
          --budget;
        }
      }
      for (int s : q.running) {
        if (budget <= 0 || st.members.size() >= cap)
          break;
        const auto& x = seqs_[static_cast<std::size_t>(s)];
        if (x.in_flight || x.decoding())
          continue;
        const int n = std::min(budget, x.context() - x.fed);
        if (n <= 0)
          continue;
        st.members.push_back(s);
        st.counts.push_back(n);
        budget -= n;
      }
      if (st.members.empty())
        return false;
      // KV: the blocks this step adds, per stage.
      std::int64_t add = 0;
      for (std::size_t j = 0; j < st.members.size(); ++j) {
        const auto& x = seqs_[static_cast<std::size_t>(st.members[j])];
        add += blocks_for(x.fed + st.counts[j]) - x.blocks;
      }
      bool fits = true;
      for (std::size_t k = 0; k < gs.kv_used.size(); ++k)
        fits = fits && gs.kv_used[k] + static_cast<double>(add) * block_bytes(q, k) <= std::max(0.0, gs.kv_capacity[k]) + 1e-6;
      if (!fits) {
        const int before = static_cast<int>(q.running.size());
        int newest = -1;
        for (int s : q.running) // admission order: the last member found is the newest
          if (std::find(st.members.begin(), st.members.end(), s) != st.members.end())
            newest = s;
        if (before <= 1) { // no room even for this sequence alone
          finish(newest, request_status::failed, now, g);
          retire(gs, q, newest);
          continue;
        }
        retire(gs, q, newest);
        auto& x = seqs_[static_cast<std::size_t>(newest)];
        x.fed = 0;
        q.waiting.push_front(newest);
        q.limit = std::max(1, before - 1);
        ++preemptions_;
        continue;
      }
      // Reserve, time the stages, schedule the completion.
      double prefill = 0, decodes = 0, ctx = 0, pairs = 0;
      for (std::size_t j = 0; j < st.members.size(); ++j) {
        auto& x = seqs_[static_cast<std::size_t>(st.members[j])];
        const auto nb = blocks_for(x.fed + st.counts[j]);
        for (std::size_t k = 0; k < gs.kv_used.size(); ++k)
          gs.kv_used[k] += static_cast<double>(nb - x.blocks) * block_bytes(q, k);
        x.blocks = nb;
        x.in_flight = true;
        if (x.decoding()) {
          decodes += 1;
          ctx += x.context();
        } else {
          prefill += st.counts[j];
          pairs += policies::profile_entry::prefill_pairs(st.counts[j], x.fed);
        }
      }
      for (std::size_t k = 0; k < gs.kv_used.size(); ++k)
        peak_kv_fraction_ = std::max(peak_kv_fraction_, gs.kv_capacity[k] > 0 ? std::min(1.0, gs.kv_used[k] / gs.kv_capacity[k]) : 0.0);
      // Each actor hop (group -> stage 0 -> ... -> last stage -> group) adds q.hop of latency on the way, no
      // stage time.
      auto& mb = gs.members[static_cast<std::size_t>(q.member)];
      mb.last_use = ++use_clock_;
      const bool traced = step_events_logged();
      step_event ev; // `--log-level trace`: the step as the runtime's group and stages report theirs
      if (traced) {
        ev.group = static_cast<std::uint64_t>(g);
        ev.model = table_.model_names()[static_cast<std::size_t>(q.model)];
        ev.step = steps_.size();
        ev.seqs = static_cast<int>(st.members.size());
        ev.tokens = static_cast<int>(prefill + decodes);
        ev.decodes = static_cast<int>(decodes);
        ev.ctx = static_cast<std::int64_t>(ctx);
        ev.pairs = static_cast<std::int64_t>(pairs);
        trace_point(ev, step_point::plan, -1, now);
      }
      double t = now;
      for (std::size_t k = 0; k < gs.stage_free.size(); ++k) {
        const double* c = q.coef[k];
        const double start = std::max({t + q.hop, gs.stage_free[k], mb.ready[k]});
        const std::size_t slot = gs.share_base + k;
        if (traced)
          trace_point(ev, step_point::submit, static_cast<int>(k), t + q.hop);
        t = start + (c[0] + c[1] * prefill + c[2] * decodes + c[3] * ctx + q.pair[k] * pairs) *
                      (q.live ? 1.0 : stretch(slot, start)) * noise(q.sdlog[k]);
        gs.stage_free[k] = t;
        if (traced) {
          trace_point(ev, step_point::device, static_cast<int>(k), t);
          trace_point(ev, step_point::done, static_cast<int>(k), t);
        }
        if (opt_.host_cores > 0) {
          busy_from_[slot] = start;
          busy_to_[slot] = t;
        }
      }
      if (traced)
        trace_point(ev, step_point::result, -1, t + q.hop);
      ++q.in_flight;
      ++gs.in_flight;
      steps_.push_back(std::move(st));
      events_.push(event{t + q.hop, order_++, static_cast<int>(steps_.size() - 1)});
      return true;
    }
  }

  bool busy(const group_state& gs, const member& mb, double now) const {
    if (*std::max_element(mb.ready.begin(), mb.ready.end()) > now)
      return true; // still loading
    if (mb.queue < 0)
      return false;
    const auto& q = gs.models[static_cast<std::size_t>(mb.queue)];
    return !q.waiting.empty() || !q.running.empty() || q.in_flight > 0;
  }

  /// Makes q's model resident (swapping): loads it when it fits, after evicting the eviction policy's victims
  /// among idle resident models; false when it cannot be loaded now (it waits for victims to become idle).
  bool make_resident(int g, group_state& gs, model_queue& q, double now) {
    auto& mb = gs.members[static_cast<std::size_t>(q.member)];
    if (mb.resident)
      return true;
    const double budget = opt_.mem_budget_bytes;
    if (mb.bytes > budget) { // never fits: its sequences fail
      for (int s : q.waiting)
        finish(s, request_status::failed, now, g);
      q.waiting.clear();
      return false;
    }
    std::vector<std::size_t> victims;
    if (gs.used + mb.bytes > budget) {
      policies::eviction_view view;
      view.needed_bytes = static_cast<std::int64_t>(mb.bytes);
      view.free_bytes = static_cast<std::int64_t>(budget - gs.used);
      for (const auto& o : gs.members)
        if (&o != &mb && o.resident)
          view.resident.push_back({table_.model_names()[static_cast<std::size_t>(o.model)],
                                   static_cast<std::int64_t>(o.bytes), o.last_use, 0, busy(gs, o, now), o.demand});
      const auto d = eviction_(view);
      if (!d.possible)
        return false;
      for (const auto& name : d.victims)
        for (std::size_t j = 0; j < gs.members.size(); ++j)
          if (gs.members[j].resident && table_.model_names()[static_cast<std::size_t>(gs.members[j].model)] == name &&
              !busy(gs, gs.members[j], now))
            victims.push_back(j);
      double freed = 0;
      for (auto j : victims)
        freed += gs.members[j].bytes;
      if (gs.used - freed + mb.bytes > budget + 1e-6)
        return false;
    }
    for (auto j : victims) {
      auto& o = gs.members[j];
      o.resident = false;
      gs.used -= o.bytes;
      for (std::size_t k = 0; k < gs.kv_capacity.size(); ++k)
        gs.kv_capacity[k] += o.stage_bytes[k];
      ++evictions_;
    }
    mb.resident = true;
    gs.used += mb.bytes;
    for (std::size_t k = 0; k < gs.kv_capacity.size(); ++k) {
      gs.kv_capacity[k] -= mb.stage_bytes[k];
      mb.ready[k] = std::max(now, gs.copy_free[k]) + mb.load_s[k];
      gs.copy_free[k] = mb.ready[k];
    }
    ++loads_;
    return true;
  }

  void pump(int g, double now) {
    auto& gs = groups_[static_cast<std::size_t>(g)];
    const int limit = gs.pp + 1;
    for (std::size_t j = 0; j < gs.models.size(); ++j) {
      auto& q = gs.models[j];
      expire(g, gs, q, now);
      if (!q.waiting.empty() && !make_resident(g, gs, q, now))
        continue;
      while (gs.in_flight < limit && q.in_flight < gs.pp)
        if (!plan(g, gs, q, static_cast<int>(j), now))
          break;
    }
  }

  void complete(int id, double now) {
    auto st = std::move(steps_[static_cast<std::size_t>(id)]);
    auto& gs = groups_[static_cast<std::size_t>(st.group)];
    auto& q = gs.models[static_cast<std::size_t>(st.slot)];
    --q.in_flight;
    --gs.in_flight;
    for (std::size_t j = 0; j < st.members.size(); ++j) {
      const int s = st.members[j];
      auto& x = seqs_[static_cast<std::size_t>(s)];
      x.in_flight = false;
      x.fed += st.counts[j];
      if (x.fed != x.context())
        continue; // a prefill chunk inside the context
      if (x.gen == 0 && x.deadline < now) { // the request actor gave up at the deadline and cancelled it
        finish(s, request_status::deadline_exceeded, x.deadline, st.group);
        retire(gs, q, s);
        continue;
      }
      ++x.gen;
      ++tokens_;
      if (x.gen == 1)
        x.first = now;
      if (x.gen >= x.output) {
        finish(s, request_status::ok, now, st.group);
        retire(gs, q, s);
        q.limit = std::numeric_limits<int>::max(); // blocks came back
      }
    }
    pump(st.group, now);
  }

public:
  long steps_count() const { return static_cast<long>(steps_.size()); }
  std::vector<request_record> scratch_rec_;
  std::int64_t preemptions_ = 0, tokens_ = 0, loads_ = 0, evictions_ = 0;
  long arrivals_ = 0;
  double peak_kv_fraction_ = 0;
  std::vector<seq> seqs_;

private:
  const policies::placement& p_;
  const policies::profile_table& table_;
  const prepared_trace& t_;
  const sim_options& opt_;
  counts& out_;
  std::size_t begin_;
  std::vector<group_state> groups_;
  std::vector<int> group_of_;
  std::vector<step> steps_;
  std::vector<delayed> delayed_; // arrivals on their way to the group (event step -1 - index)
  // cpu devices sharing the host's cores (sim_options::host_cores > 0), as the one-pass kernels do
  // (internal::cpu_share): per stage of every group, the interval of its last step and its devices.
  std::vector<double> busy_from_, busy_to_;
  std::vector<int> busy_devices_;
  double stretch(std::size_t slot, double start) const {
    if (opt_.host_cores <= 0)
      return 1.0;
    const int own = busy_devices_[slot];
    int n = own;
    for (std::size_t j = 0; j < busy_from_.size(); ++j)
      if (j != slot && busy_from_[j] <= start && start < busy_to_[j])
        n += busy_devices_[j];
    // the profile measured the step with its own tensor ranks busy at once: that sharing is in its cost
    return std::max(1.0, static_cast<double>(n) / opt_.host_cores) /
           std::max(1.0, static_cast<double>(own) / opt_.host_cores);
  }
  // `--log-level trace` (messages/step_events.hpp): every simulated step in the runtime's step_trace lines, at
  // simulated times, so that scripts/step_trace.py splits simulated steps as it splits live ones: submit is the
  // step's arrival at the stage (after its hop), device and done its end there, result its way back.
  static void trace_point(step_event& ev, step_point p, int stage, double at) {
    ev.point = p;
    ev.stage = stage;
    ev.at = std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(at)));
    log_step_event(ev);
  }
  /// A step cost's factor for spread sdlog: exp(sdlog Z - sdlog^2 / 2), Z standard normal (Box-Muller on
  /// the kernel's own seeded generator: the same draws on every platform); 1 without spread (no draw).
  double noise(double sdlog) {
    if (sdlog <= 0)
      return 1.0;
    const double u1 = (static_cast<double>(rng_() >> 11) + 0.5) * 0x1.0p-53, u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
    return std::exp(sdlog * z - 0.5 * sdlog * sdlog);
  }
  std::mt19937_64 rng_{opt_.gen.noise_seed};
  std::uint64_t use_clock_ = 0;  // ticks per step planned (the members' last use, for the eviction policy)
  policies::eviction_fn eviction_ = opt_.eviction ? opt_.eviction : policies::eviction_fn{policies::lru_eviction_policy{}};
  bool swapping() const { return opt_.mode == sim_mode::swapping; }
  std::priority_queue<event, std::vector<event>, std::greater<>> events_;
  std::uint64_t order_ = 0;
};

} // namespace

status run_generation(const policies::placement& p, const policies::profile_table& table, const prepared_trace& t,
                      std::size_t begin, std::size_t end, const sim_options& opt, counts& out, request_record* rec) {
  if (t.generation_requests == 0 || begin >= end)
    return {};
  if (opt.gen.max_seqs < 1 || opt.gen.token_budget < 1 || opt.gen.block_tokens < 1)
    return make_error("sim", "generation: max_seqs, token_budget and block_tokens must be >= 1, found " +
                                 std::to_string(opt.gen.max_seqs) + ", " + std::to_string(opt.gen.token_budget) +
                                 ", " + std::to_string(opt.gen.block_tokens));
  kernel k(p, table, t, opt, out, begin);
  if (auto st = k.prepare(begin, end); !st)
    return st;
  k.scratch_rec_.assign(end - begin, request_record{});
  k.run(begin, end);
  out.gen.requests += k.arrivals_;
  out.gen.tokens += k.tokens_;
  out.gen.preemptions += k.preemptions_;
  out.gen.steps += k.steps_count();
  out.gen.peak_kv_fraction = std::max(out.gen.peak_kv_fraction, k.peak_kv_fraction_);
  if (rec)
    for (std::size_t i = begin; i < end; ++i)
      if (t.output_tokens[i] > 0 && t.model[i] >= 0)
        rec[i - begin] = k.scratch_rec_[i - begin];
  return {};
}

} // namespace sy::sim::internal
