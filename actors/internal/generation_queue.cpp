#include "actors/internal/generation_queue.hpp"

#include <algorithm>

#include "gpu/sampling.hpp"

namespace sy::actors::internal {

using namespace messages;

void generation_queue::enqueue(queued_generation q) {
  auto s = std::make_shared<gen_sequence>();
  s->req = std::move(q);
  waiting_.push_back(std::move(s));
}

generation_queue::step_terms generation_queue::terms(std::uint64_t step_id) const {
  step_terms t;
  auto it = in_flight_.find(step_id);
  if (it == in_flight_.end())
    return t;
  const auto& f = it->second;
  for (std::size_t k = 0; k < f.members.size(); ++k) {
    const auto& s = *f.members[k];
    if (s.decoding()) {
      ++t.decodes;
      t.context += s.context();
    } else {
      const std::int64_t n = f.counts[k];
      t.prefill_pairs += n * s.fed + n * (n + 1) / 2;
    }
  }
  return t;
}

std::optional<step_entry> generation_queue::plan(std::uint64_t step_id, time_point now) {
  int budget = o_.token_budget;
  int prefill = 0; // tokens of prefill chunks (the rest are decodes)
  std::vector<gen_ptr> members;
  std::vector<std::int32_t> counts, tokens;
  while (!waiting_.empty() && static_cast<int>(running_.size()) < std::min(o_.max_seqs, limit_)) {
    auto s = waiting_.front();
    if (s->swapped && s->swap_answers > 0)
      break; // its swap out is not answered yet: it keeps its place
    waiting_.pop_front();
    if (s->cancelled)
      continue;
    if (s->swapped) { // back from the host: swapped in on every stage before it steps again
      s->in_flight = true;
      s->swap_answers = o_.stages;
      s->swap_failed = false;
      swapping_[s->kv_id] = s;
      swap_ins_.push_back(s->kv_id);
      running_.push_back(std::move(s));
      continue;
    }
    s->kv_id = next_kv_++;
    s->fed = 0;
    if (s->admitted == time_point{})
      s->admitted = now;
    running_.push_back(std::move(s));
  }
  // disjoint micro-batches: a share of the running sequences per step
  const std::size_t cap = std::max<std::size_t>(
    1, (running_.size() + static_cast<std::size_t>(std::max(1, o_.micro_batches)) - 1) /
         static_cast<std::size_t>(std::max(1, o_.micro_batches)));
  for (auto& s : running_)
    if (budget > 0 && members.size() < cap && !s->in_flight && !s->cancelled && s->decoding()) {
      members.push_back(s);
      counts.push_back(1);
      tokens.push_back(s->out.back());
      --budget;
    }
  for (auto& s : running_) {
    if (budget <= 0 || members.size() >= cap)
      break;
    if (s->in_flight || s->cancelled || s->decoding())
      continue;
    int n = std::min(budget, s->context() - s->fed);
    if (n <= 0)
      continue;
    members.push_back(s);
    counts.push_back(n);
    for (int j = s->fed; j < s->fed + n; ++j)
      tokens.push_back(j < static_cast<int>(s->req.prompt.size())
                         ? s->req.prompt[static_cast<std::size_t>(j)]
                         : s->out[static_cast<std::size_t>(j) - s->req.prompt.size()]);
    budget -= n;
    prefill += n;
  }
  if (members.empty())
    return std::nullopt;
  step_entry e;
  e.step_id = step_id;
  e.model = members.front()->req.model;
  e.counts = counts;
  e.input.type = element_type::i32;
  e.input.shape = {static_cast<std::int64_t>(tokens.size())};
  auto* p = reinterpret_cast<const char*>(tokens.data());
  e.input.bytes.assign(p, p + tokens.size() * sizeof(std::int32_t));
  for (std::size_t k = 0; k < members.size(); ++k) {
    auto& s = members[k];
    s->in_flight = true;
    e.seqs.push_back(s->kv_id);
    const bool ends_context = s->fed + counts[k] == s->context();
    e.sample.push_back(ends_context ? static_cast<std::int32_t>(s->out.size()) : -1);
    e.sampling.push_back(s->req.sampling);
  }
  in_flight_.emplace(step_id, flight{std::move(members), std::move(counts), prefill});
  return e;
}

void generation_queue::retire(const gen_ptr& s, std::vector<std::uint64_t>& release) {
  if (s->kv_id != 0)
    release.push_back(s->kv_id);
  s->kv_id = 0;
  running_.erase(std::remove(running_.begin(), running_.end(), s), running_.end());
}

step_outcome generation_queue::on_result(const step_result& r, time_point now) {
  step_outcome out;
  auto it = in_flight_.find(r.step_id);
  if (it == in_flight_.end())
    return out;
  auto members = std::move(it->second.members);
  auto counts = std::move(it->second.counts);
  out.prefill_tokens = it->second.prefill_tokens;
  in_flight_.erase(it);
  for (auto& s : members)
    s->in_flight = false;
  if (r.code != stage_error::none) {
    const int before = static_cast<int>(running_.size());
    if (r.code != stage_error::out_of_memory || before <= 1) {
      // a device error, or no room even for a single sequence: the step's sequences fail
      for (auto& s : members) {
        retire(s, out.release);
        if (!s->cancelled)
          out.failed.emplace_back(s, r.code);
      }
      return out;
    }
    // Out of KV blocks (or activation memory). Failed on stage 0: nothing of the step was enqueued
    // anywhere, so the members' KV is intact: only the newest member is preempted. Failed on a later
    // stage: earlier stages appended the step's tokens, so every member's KV is dropped. Preempted
    // sequences wait at the front and are recomputed (prompt + tokens so far) under a fresh KV id; fewer
    // sequences run until one finishes.
    std::vector<gen_ptr> victims;
    if (r.stage == 0) {
      gen_ptr newest;
      for (auto& s : running_) // admission order: the last member found is the newest
        if (std::find(members.begin(), members.end(), s) != members.end() && !s->cancelled)
          newest = s;
      if (newest)
        victims.push_back(newest);
    } else {
      for (auto& s : members)
        if (!s->cancelled)
          victims.push_back(s);
    }
    for (auto& s : members)
      if (s->cancelled)
        retire(s, out.release);
    for (auto it2 = victims.rbegin(); it2 != victims.rend(); ++it2) {
      auto& s = *it2;
      if (o_.swap && r.stage == 0 && s->kv_id != 0 && s->fed > 0) {
        // its KV is intact on every stage (stage 0 enqueued nothing of the step): keep it on the host
        running_.erase(std::remove(running_.begin(), running_.end(), s), running_.end());
        s->swapped = true;
        s->swap_answers = o_.stages;
        s->swap_failed = false;
        swapping_[s->kv_id] = s;
        out.swap_out.push_back(s->kv_id);
        ++s->preemptions;
        ++preemptions_;
        ++swaps_;
        ++out.preempted;
        waiting_.push_front(s);
        continue;
      }
      retire(s, out.release);
      s->fed = 0;
      ++s->preemptions;
      ++preemptions_;
      ++out.preempted;
      waiting_.push_front(s);
    }
    limit_ = std::max(1, before - 1);
    return out;
  }
  for (std::size_t k = 0; k < members.size(); ++k) {
    auto& s = members[k];
    if (s->cancelled) {
      retire(s, out.release);
      continue;
    }
    s->fed += counts[k];
    const std::int32_t tok = k < r.tokens.size() ? r.tokens[k] : -1;
    if (tok < 0) // a prefill chunk inside the context
      continue;
    s->out.push_back(tok);
    s->times.push_back(now);
    out.tokens.push_back({s, static_cast<std::int32_t>(s->out.size() - 1), tok});
    gpu::stop_params sp{s->req.max_new_tokens, s->req.ignore_eos, eos_};
    auto why = gpu::stop_after(tok, static_cast<int>(s->out.size()), sp);
    if (why != gpu::stop_reason::none) {
      retire(s, out.release);
      out.finished.push_back(s);
      out.finish_reasons.emplace_back(gpu::to_string(why));
      limit_ = o_.max_seqs; // blocks came back
    }
  }
  return out;
}

void generation_queue::on_swap_answer(std::uint64_t kv_id, bool ok, std::vector<std::uint64_t>& release) {
  auto it = swapping_.find(kv_id);
  if (it == swapping_.end())
    return;
  auto s = it->second;
  s->swap_failed = s->swap_failed || !ok;
  if (--s->swap_answers > 0)
    return;
  swapping_.erase(it);
  const bool running = std::find(running_.begin(), running_.end(), s) != running_.end();
  if (s->swap_failed) { // some stage could not: drop every copy, recompute from prompt + tokens
    release.push_back(s->kv_id);
    s->kv_id = running ? next_kv_++ : 0;
    s->fed = 0;
    s->swapped = false;
    ++swap_fallbacks_;
  } else if (running) {
    s->swapped = false; // swapped in: it steps again
  }
  if (running)
    s->in_flight = false;
  if (s->cancelled) {
    if (running) {
      retire(s, release);
    } else {
      if (s->kv_id != 0)
        release.push_back(s->kv_id);
      waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), s), waiting_.end());
    }
  }
}

bool generation_queue::cancel(request_id id, const caf::actor_addr& requester, std::vector<std::uint64_t>& release) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
    if ((*it)->req.id == id && (*it)->req.requester.address() == requester) {
      if ((*it)->cancelled)
        return false;
      if ((*it)->swapped && (*it)->swap_answers > 0) { // released once its swap out is answered
        (*it)->cancelled = true;
        return true;
      }
      if ((*it)->swapped)
        release.push_back((*it)->kv_id); // its host copy
      waiting_.erase(it);
      return true;
    }
  for (auto& s : running_)
    if (s->req.id == id && s->req.requester.address() == requester && !s->cancelled) {
      s->cancelled = true;
      if (!s->in_flight)
        retire(s, release);
      return true;
    }
  return false;
}

std::vector<gen_ptr> generation_queue::expire(time_point now) {
  std::vector<gen_ptr> out;
  for (auto it = waiting_.begin(); it != waiting_.end();)
    if ((*it)->out.empty() && !(*it)->swapped && (*it)->req.ttft_deadline <= now) {
      // (a swapped sequence holds a host copy: its request actor's deadline cancels it, which frees that)
      out.push_back(*it);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  return out;
}

std::vector<gen_ptr> generation_queue::take_all(std::vector<std::uint64_t>& release) {
  std::vector<gen_ptr> out;
  for (auto& s : waiting_) {
    if (s->swapped)
      release.push_back(s->kv_id); // its host copy (after any swap still on its way: same sender, in order)
    if (!s->cancelled)
      out.push_back(s);
  }
  waiting_.clear();
  swapping_.clear();
  swap_ins_.clear();
  for (auto& s : running_) {
    if (s->kv_id != 0)
      release.push_back(s->kv_id);
    if (!s->cancelled)
      out.push_back(s);
  }
  running_.clear();
  in_flight_.clear();
  return out;
}

std::int64_t generation_queue::blocks_held() const noexcept {
  std::int64_t n = 0;
  for (auto& s : running_)
    n += (s->fed + o_.block_tokens - 1) / o_.block_tokens;
  return n;
}

queue_load generation_queue::load() const {
  queue_load l;
  for (auto& s : running_) {
    if (s->cancelled)
      continue;
    if (!s->decoding())
      l.prefill_ahead += std::max(0, s->context() - s->fed);
    l.running_left.push_back(std::max(0, s->req.max_new_tokens - static_cast<std::int32_t>(s->out.size())));
  }
  std::sort(l.running_left.begin(), l.running_left.end());
  double left = 0;
  int n = 0;
  for (auto& s : waiting_) {
    if (s->cancelled)
      continue;
    l.prefill_ahead += std::max(0, s->context() - s->fed);
    left += std::max(0, s->req.max_new_tokens - static_cast<std::int32_t>(s->out.size()));
    ++n;
  }
  l.waiting_new_tokens = n > 0 ? left / n : 0;
  return l;
}

} // namespace sy::actors::internal
