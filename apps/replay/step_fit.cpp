#include "apps/replay/step_fit.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <optional>

#include "apps/least_squares.hpp"

namespace sy::driver {

struct step_recorder::store {
  std::mutex mutex;
  std::vector<step_event> events;
};

step_recorder::step_recorder() : store_(std::make_shared<store>()) {
  set_step_observer([s = store_](const step_event& e) {
    if (e.point == step_point::done)
      return; // the stage actor's side of a device end: only the trace lines show it, the fit does not use it
    std::lock_guard<std::mutex> lock(s->mutex);
    s->events.push_back(e);
  });
}

step_recorder::~step_recorder() { set_step_observer({}); }

std::vector<step_event> step_recorder::take() {
  std::lock_guard<std::mutex> lock(store_->mutex);
  return std::move(store_->events);
}

namespace {

using clock_point = std::chrono::steady_clock::time_point;

double seconds(clock_point a, clock_point b) { return std::chrono::duration<double>(b - a).count(); }

struct step_rec {
  std::string model;
  bool planned = false, answered = false;
  bool complete = false; // planned, submitted to and ended on every stage of its group, answered
  int tokens = 0, decodes = 0;
  std::int64_t ctx = 0, pairs = 0;
  clock_point plan{}, result{};
  std::vector<std::optional<clock_point>> submit, device;
  std::vector<double> busy; // per stage, -1 unknown
};

} // namespace

result<step_fit_result> fit_steps(const std::vector<step_event>& events,
                                  const std::map<std::string, policies::parallel_config>& configs,
                                  const policies::profile_db& db, long min_steps) {
  // The steps of each group, and each group's stage count.
  std::map<std::uint64_t, std::map<std::uint64_t, step_rec>> groups;
  std::map<std::uint64_t, int> stages;
  for (const auto& e : events) {
    auto& s = groups[e.group][e.step];
    if (s.model.empty())
      s.model = e.model;
    if (e.stage >= 0) {
      const auto k = static_cast<std::size_t>(e.stage);
      stages[e.group] = std::max(stages[e.group], e.stage + 1);
      if (s.submit.size() <= k) {
        s.submit.resize(k + 1);
        s.device.resize(k + 1);
      }
      if (e.point == step_point::submit)
        s.submit[k] = e.at;
      else if (e.point == step_point::device)
        s.device[k] = e.at;
      continue;
    }
    if (e.point == step_point::plan) {
      s.planned = true;
      s.plan = e.at;
      s.tokens = e.tokens;
      s.decodes = e.decodes;
      s.ctx = e.ctx;
      s.pairs = e.pairs;
    } else if (e.point == step_point::result) {
      s.answered = true;
      s.result = e.at;
    }
  }
  step_fit_result out;
  // Device time per stage: a device runs its group's steps in the order they were submitted to it.
  double hop_sum = 0;
  for (auto& [gid, steps] : groups) {
    const auto pp = static_cast<std::size_t>(stages[gid]);
    for (std::size_t k = 0; k < pp; ++k) {
      std::vector<step_rec*> order;
      for (auto& [id, s] : steps) {
        s.busy.resize(pp, -1);
        if (s.submit.size() > k && s.submit[k] && s.device[k])
          order.push_back(&s);
      }
      std::stable_sort(order.begin(), order.end(), [k](const step_rec* a, const step_rec* b) {
        return *a->submit[k] < *b->submit[k];
      });
      std::optional<clock_point> prev;
      for (auto* s : order) {
        const auto start = prev ? std::max(*s->submit[k], *prev) : *s->submit[k];
        s->busy[k] = std::max(0.0, seconds(start, *s->device[k]));
        prev = *s->device[k];
      }
    }
    for (auto& [id, s] : steps) {
      out.steps += s.planned ? 1 : 0;
      s.complete = s.planned && s.answered && pp > 0 && s.submit.size() == pp;
      for (std::size_t k = 0; s.complete && k < pp; ++k)
        s.complete = s.submit[k] && s.device[k];
      if (!s.complete)
        continue;
      ++out.complete_steps;
      double h = seconds(s.plan, *s.submit[0]) + seconds(*s.device[pp - 1], s.result);
      for (std::size_t k = 0; k + 1 < pp; ++k)
        h += seconds(*s.device[k], *s.submit[k + 1]);
      hop_sum += h / static_cast<double>(pp + 1);
    }
  }
  if (out.complete_steps == 0)
    return make_error("replay", "--fit-profile: no generation step of the replay was seen whole (planned, on "
                                "every stage, answered): the trace has no generations, or the deployment's "
                                "stages run in another process (step events are seen only in-process)");
  out.hop_s = hop_sum / static_cast<double>(out.complete_steps);
  // Per model: every group's complete steps (the model's config is one per model, `configs`).
  for (const auto& [model, config] : configs) {
    model_fit mf;
    mf.model = model;
    mf.pp = config.pp;
    const auto* entry = db.find(model, config);
    std::vector<const step_rec*> mine;
    for (const auto& [gid, steps] : groups)
      if (stages[gid] == config.pp)
        for (const auto& [id, s] : steps)
          if (s.complete && s.model == model)
            mine.push_back(&s);
    long decode_only = 0, with_prefill = 0;
    for (const auto* s : mine)
      (s->tokens == s->decodes ? decode_only : with_prefill) += 1;
    if (!entry || !entry->has_generation()) {
      mf.why = "no generation entry (op " + std::to_string(config.op) + ", pp " + std::to_string(config.pp) +
               ") in the profile";
    } else if (decode_only < min_steps || with_prefill < 3) {
      mf.why = std::to_string(decode_only) + " decode-only steps and " + std::to_string(with_prefill) +
               " with prefill seen whole; the fit needs " + std::to_string(min_steps) + " and 3";
    }
    if (!mf.why.empty()) {
      out.models.push_back(std::move(mf));
      continue;
    }
    for (std::size_t k = 0; k < static_cast<std::size_t>(config.pp); ++k) {
      stage_fit f;
      std::vector<std::array<double, 3>> rows;
      std::vector<double> ys;
      for (const auto* s : mine)
        if (s->tokens == s->decodes) {
          rows.push_back({1.0, static_cast<double>(s->decodes), static_cast<double>(s->ctx)});
          ys.push_back(s->busy[k]);
        }
      const auto d = apps::nnls(rows, ys);
      f.step_s = d[0];
      f.per_seq = d[1];
      f.per_ctx = d[2];
      f.decode_steps = static_cast<long>(rows.size());
      std::vector<std::array<double, 2>> prow;
      std::vector<double> rest;
      for (const auto* s : mine)
        if (s->tokens > s->decodes) {
          prow.push_back({static_cast<double>(s->tokens - s->decodes), static_cast<double>(s->pairs)});
          rest.push_back(s->busy[k] - f.seconds(0, s->decodes, static_cast<double>(s->ctx), 0));
        }
      const auto p = apps::nnls(prow, rest);
      f.per_token = p[0];
      f.per_pair = p[1];
      f.prefill_steps = static_cast<long>(prow.size());
      std::vector<double> logs;
      for (const auto* s : mine) {
        f.device_s += s->busy[k];
        f.profile_s += entry->step_seconds(k, s->tokens - s->decodes, s->decodes, static_cast<double>(s->ctx),
                                           static_cast<double>(s->pairs));
        const double cost =
          f.seconds(s->tokens - s->decodes, s->decodes, static_cast<double>(s->ctx), static_cast<double>(s->pairs));
        if (cost > 0 && s->busy[k] > 0)
          logs.push_back(std::log(s->busy[k] / cost));
      }
      if (logs.size() >= 2) {
        std::sort(logs.begin(), logs.end());
        auto at = [&](double q) { return logs[static_cast<std::size_t>(q * static_cast<double>(logs.size() - 1))]; };
        f.sdlog = (at(0.84) - at(0.16)) / 2;
      }
      mf.stages.push_back(f);
    }
    out.models.push_back(std::move(mf));
  }
  return out;
}

status apply_step_fit(const step_fit_result& fit, const std::map<std::string, policies::parallel_config>& configs,
                      policies::profile_db& db) {
  std::vector<policies::profile_entry> updated;
  for (const auto& mf : fit.models) {
    if (mf.stages.empty())
      continue;
    const auto* entry = db.find(mf.model, configs.at(mf.model));
    if (!entry)
      continue;
    auto e = *entry;
    e.gen_step_s.clear();
    e.decode_s_per_seq.clear();
    e.decode_s_per_ctx.clear();
    e.prefill_s_per_token.clear();
    e.prefill_s_per_pair.clear();
    e.gen_step_sdlog.clear();
    for (const auto& f : mf.stages) {
      e.gen_step_sdlog.push_back(f.sdlog);
      e.gen_step_s.push_back(f.step_s);
      e.decode_s_per_seq.push_back(f.per_seq);
      e.decode_s_per_ctx.push_back(f.per_ctx);
      e.prefill_s_per_token.push_back(f.per_token);
      e.prefill_s_per_pair.push_back(f.per_pair);
    }
    e.gen_fitted_live = true;
    updated.push_back(std::move(e));
  }
  if (updated.empty())
    return make_error("replay", "--fit-profile: no model had enough steps to fit (see the lines above)");
  for (auto& e : updated)
    db.put(std::move(e));
  std::vector<policies::profile_entry> hops;
  for (const auto& [key, e] : db.entries())
    if (e.has_generation()) {
      auto x = e;
      x.gen_hop_s = fit.hop_s;
      hops.push_back(std::move(x));
    }
  for (auto& x : hops)
    db.put(std::move(x));
  return {};
}

} // namespace sy::driver
