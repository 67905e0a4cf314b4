#include "actors/internal/controller_generate.hpp"

#include <caf/actor_system.hpp>
#include <fmt/format.h>

#include "actors/internal/ttft_predictor.hpp"
#include "actors/spawn.hpp"
#include "config/cluster_config.hpp"
#include "gpu/sampling.hpp"

namespace sy::actors::internal {

using namespace messages;

namespace {

generate_response refuse(controller_self self, const generate_request& req, request_status s,
                         const std::string& reason, error_code code) {
  generate_response r;
  r.id = req.id;
  r.status = s;
  r.reason = reason;
  r.code = code;
  r.timings.arrival = self->clock().now();
  record(self->state, req.model, r.status, reason, 0);
  return r;
}

double lookup(const std::map<std::string, double>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? 0.0 : it->second;
}

/// A generation's enqueue reaches its group well within this (the request actor forwards it at once); an
/// admitted generation that the group's reports have not counted by then is no longer counted as pending.
constexpr std::chrono::seconds pending_max_age{2};

/// What admission knows of `req`'s model in group `slot` (ttft_predictor.hpp). The step cost is the group's
/// measurement; before its first step, the profile's generation costs when the controller loaded a profile
/// (placement.profile, for re-placement), else the measured one-pass latency of a batch of 1 as one
/// iteration (a decoder also served one-pass); with none of them, nothing is known and the request is
/// admitted (the TTFT deadline still answers it deadline_exceeded if its first token is late).
ttft_view ttft_view_of(const controller_state& st, const group_slot& slot, const generate_request& req) {
  const auto& r = slot.report;
  ttft_view v;
  auto res = r.models.find(req.model);
  const bool resident = res != r.models.end() && res->second == residency::resident;
  v.load_s = resident ? 0.0 : lookup(r.load_s, req.model);
  v.prompt = static_cast<std::int64_t>(req.tokens.size());
  v.token_budget = st.cfg->runtime.gen_token_budget;
  v.max_seqs = st.cfg->runtime.gen_max_seqs;
  if (auto it = r.gen_running.find(req.model); it != r.gen_running.end())
    v.running = static_cast<int>(it->second);
  if (auto it = r.gen_waiting.find(req.model); it != r.gen_waiting.end())
    v.waiting = static_cast<int>(it->second);
  if (auto it = r.gen_loads.find(req.model); it != r.gen_loads.end()) {
    const auto& gl = it->second;
    v.step_base_s = gl.step_base_s;
    v.prefill_token_s = gl.prefill_token_s;
    v.prefill_ahead = gl.prefill_ahead;
    v.running_left.assign(gl.running_left.begin(), gl.running_left.end());
    v.waiting_new_tokens = gl.waiting_new_tokens;
  }
  if (v.step_base_s > 0 || v.prefill_token_s > 0)
    return v;
  if (st.replan_db) { // seeded from the profile: the stages' step costs add up (a step crosses every stage)
    const auto* e = st.replan_db->find(req.model, policies::parallel_config{slot.plan.op, slot.plan.pp});
    if (e && e->has_generation()) {
      for (std::size_t k = 0; k < e->gen_step_s.size(); ++k) {
        v.step_base_s += e->step_seconds(k, 0, v.running, 0);
        v.prefill_token_s += e->prefill_s_per_token[k];
      }
      return v;
    }
  }
  v.step_base_s = lookup(r.latency_s, req.model);
  return v;
}

} // namespace

void add_generation_metrics(const std::string& group, const group_report& r, metrics_snapshot& snap) {
  for (auto& [m, n] : r.gen_running)
    snap.gen_running[group + "/" + m] = n;
  for (auto& [m, n] : r.gen_waiting)
    snap.gen_waiting[group + "/" + m] = n;
  for (auto& [m, n] : r.preemptions)
    snap.preemptions[group + "/" + m] = n;
  for (auto& [m, n] : r.kv_swaps)
    snap.kv_swaps[group + "/" + m] = n;
  for (auto& [m, n] : r.kv_swap_fallbacks)
    snap.kv_swap_fallbacks[group + "/" + m] = n;
  for (auto& [m, n] : r.gen_tokens)
    snap.gen_tokens[group + "/" + m] = n;
  for (std::size_t s = 0; s < r.kv_used.size(); ++s) {
    snap.kv_blocks_used[group + "/" + std::to_string(s)] = r.kv_used[s];
    snap.kv_blocks_free[group + "/" + std::to_string(s)] = s < r.kv_free.size() ? r.kv_free[s] : 0;
  }
}

void add_generation_init(const controller_state& st, const planned_group& plan, model_group_init& init) {
  init.gen_max_seqs = st.cfg->runtime.gen_max_seqs;
  init.gen_token_budget = st.cfg->runtime.gen_token_budget;
  init.gen_swap = st.cfg->runtime.gen_swap;
  for (int m : plan.models) {
    const auto& mc = st.cfg->models[static_cast<std::size_t>(m)];
    if (mc.spec.kind == gpu::arch::decoder)
      init.generators[mc.name] = mc.spec.eos_token;
  }
}

caf::result<generate_response> on_generate(controller_self self, generate_request& req) {
  auto& st = self->state;
  auto now = self->clock().now();
  auto invalid = [&](const std::string& why) {
    return refuse(self, req, request_status::rejected, why, error_code::invalid_request);
  };
  if (st.draining)
    return refuse(self, req, request_status::rejected, "draining", error_code::draining);
  if (!st.ready)
    return refuse(self, req, request_status::rejected, "not ready", error_code::overload);
  const auto* mc = st.cfg->find_model(req.model);
  if (!mc)
    return refuse(self, req, request_status::rejected, "unknown model", error_code::unknown_model);
  const auto& spec = mc->spec;
  if (spec.kind != gpu::arch::decoder)
    return invalid("model " + req.model + " is an encoder; generation needs a decoder");
  if (req.tokens.empty())
    return invalid("'tokens': expected at least one prompt token, found none");
  for (std::size_t i = 0; i < req.tokens.size(); ++i)
    if (req.tokens[i] < 0 || req.tokens[i] >= spec.vocab)
      return invalid("'tokens'[" + std::to_string(i) + "]: " + std::to_string(req.tokens[i]) +
                     " is outside model " + req.model + "'s vocabulary [0, " + std::to_string(spec.vocab) + ")");
  if (req.max_new_tokens <= 0)
    return invalid("'max_new_tokens': expected a positive integer, found " + std::to_string(req.max_new_tokens));
  if (static_cast<long long>(req.tokens.size()) + req.max_new_tokens - 1 > spec.max_seq)
    return invalid("prompt of " + std::to_string(req.tokens.size()) + " tokens + " + std::to_string(req.max_new_tokens) +
                   " new tokens exceeds model " + req.model + "'s max positions " + std::to_string(spec.max_seq));
  gpu::sampling_params sp{req.sampling.temperature, req.sampling.top_k, req.sampling.top_p, req.sampling.seed};
  if (auto ok = sp.check(); !ok)
    return invalid("'sampling': " + ok.err().message);
  // The group: among the ready ones hosting the model, the one with the least queued for it.
  int best = -1;
  std::int64_t best_queued = 0;
  for (std::size_t g = 0; g < st.groups.size(); ++g) {
    const auto& slot = st.groups[g];
    if (!slot.ready || !slot.actor || !slot.plan.bytes.count(req.model))
      continue;
    auto q = slot.report.queued.find(req.model);
    std::int64_t queued = q == slot.report.queued.end() ? 0 : q->second;
    if (best < 0 || queued < best_queued) {
      best = static_cast<int>(g);
      best_queued = queued;
    }
  }
  if (best < 0) {
    std::string why = "model not placed on a ready group";
    for (auto& slot : st.groups)
      if (slot.plan.bytes.count(req.model) && !slot.down.empty())
        why += " (" + slot.down + ")";
    return refuse(self, req, request_status::rejected, why, error_code::not_resident);
  }
  auto& slot = st.groups[static_cast<std::size_t>(best)];
  if (!req.ttft && mc->ttft)
    req.ttft = mc->ttft;
  if (!req.tpot && mc->tpot)
    req.tpot = mc->tpot;
  std::chrono::nanoseconds ttft = req.ttft ? std::chrono::nanoseconds{*req.ttft}
                                           : std::chrono::nanoseconds{st.cfg->runtime.request_timeout};
  // Admission (AlpaServe's rule, per first token): the predicted first token must come before the TTFT
  // deadline, else the request is refused now rather than answered deadline_exceeded later.
  auto& pending = slot.gen_pending[req.model];
  {
    auto gl = slot.report.gen_loads.find(req.model);
    pending.sync(gl == slot.report.gen_loads.end() ? 0 : gl->second.enqueued, now, pending_max_age);
  }
  if (req.ttft) {
    auto v = ttft_view_of(st, slot, req);
    pending.add_to(v);
    auto p = predict_ttft(v);
    const double limit = std::chrono::duration<double>(ttft).count();
    if (p.known && p.seconds > limit)
      return refuse(self, req, request_status::rejected,
                    fmt::format("cannot meet TTFT: predicted {:.3f} ms ({} iterations of {:.3f} ms, {} prompt "
                                "tokens at {:.4f} ms{}) > ttft_ms {:.3f}",
                                p.seconds * 1e3, p.iterations, v.step_base_s * 1e3, v.prefill_ahead + v.prompt,
                                v.prefill_token_s * 1e3,
                                v.load_s > 0 ? fmt::format(", load {:.3f} ms", v.load_s * 1e3) : std::string{},
                                limit * 1e3),
                    error_code::overload);
  }
  pending.admit(static_cast<std::int64_t>(req.tokens.size()), req.max_new_tokens, now);
  request_init init{req.model, now, now, now + ttft, slot.plan.name, slot.actor, controller_full_actor{self}, true};
  init.stall_timeout = st.cfg->runtime.request_timeout;
  auto who = spawn_request(self->system(), std::move(init));
  auto seq = st.next_seq++;
  st.in_flight[who.address()] = {req.model, static_cast<std::size_t>(best), who, seq};
  st.by_seq.emplace(seq, who.address());
  ++slot.report.queued[req.model];
  return self->delegate(who, generate_atom_v, std::move(req));
}

} // namespace sy::actors::internal
