#include "actors/ingress_generate.hpp"

#include <fmt/format.h>

namespace sy::actors {

namespace {
double ms(messages::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}
} // namespace

std::optional<refusal> check_generate(const ingress_context& ctx, const wire_generate& g) {
  if (auto bad = check_request(ctx, g.model, g.tokens))
    return bad;
  auto it = ctx.models.find(g.model);
  if (it == ctx.models.end() || it->second.max_seq <= 0)
    return std::nullopt;
  if (static_cast<std::int64_t>(g.tokens.size()) + g.max_new_tokens - 1 > it->second.max_seq)
    return refusal{messages::error_code::invalid_request,
                   fmt::format("prompt of {} tokens + max_new_tokens {} exceeds model {}'s max positions {}",
                               g.tokens.size(), g.max_new_tokens, g.model, it->second.max_seq)};
  return std::nullopt;
}

messages::generate_request to_controller(const wire_generate& g, std::uint64_t id) {
  messages::generate_request r;
  r.id = request_id{id};
  r.model = g.model;
  r.tokens = g.tokens;
  r.max_new_tokens = g.max_new_tokens;
  r.sampling = {g.temperature, g.top_k, g.top_p, g.seed};
  r.ignore_eos = g.ignore_eos;
  if (g.ttft_ms > 0)
    r.ttft = std::chrono::microseconds(static_cast<std::int64_t>(g.ttft_ms * 1e3));
  if (g.tpot_ms > 0)
    r.tpot = std::chrono::microseconds(static_cast<std::int64_t>(g.tpot_ms * 1e3));
  return r;
}

wire_generate_response to_wire(const messages::generate_response& r, double ingress_s) {
  wire_generate_response w;
  w.id = r.id.value;
  w.code = messages::code_of(r);
  w.status = messages::client_status(w.code);
  w.reason = r.reason;
  w.tokens = r.tokens;
  w.finish_reason = r.finish_reason;
  const auto& t = r.timings;
  const messages::time_point none{};
  if (t.arrival != none && t.admitted != none)
    w.timings.emplace_back("queue_ms", ms(t.admitted - t.arrival));
  if (!t.token_times.empty()) {
    w.timings.emplace_back("ttft_ms", ms(t.token_times.front()));
    if (t.token_times.size() > 1)
      w.timings.emplace_back("tpot_ms", ms(t.token_times.back() - t.token_times.front()) /
                                          static_cast<double>(t.token_times.size() - 1));
    w.timings.emplace_back("total_ms", ms(t.token_times.back()));
  }
  w.timings.emplace_back("tpot_misses", static_cast<double>(t.tpot_misses));
  w.timings.emplace_back("ingress_ms", ingress_s * 1e3);
  for (auto d : t.token_times)
    w.token_ms.push_back(ms(d));
  w.group = t.group;
  w.preemptions = t.preemptions;
  return w;
}

void describe_generate_metrics(metrics_registry& m) {
  m.describe_histogram("sy_generate_ttft_seconds", "Time to first token of ok generations, by model",
                       metrics_registry::default_latency_buckets());
  m.describe_histogram("sy_generate_tpot_seconds", "Mean time per output token after the first, by model",
                       metrics_registry::default_latency_buckets());
  m.describe_counter("sy_generate_tokens_total", "New tokens answered, by model");
  m.describe_counter("sy_generate_preemptions_total", "Times a generation's KV was dropped for lack of blocks "
                                                      "and recomputed, by model");
  m.describe_counter("sy_generate_tpot_misses_total", "Gaps between tokens longer than the request's tpot_ms");
}

std::optional<double> timing_of(const wire_generate_response& w, const std::string& name) {
  for (const auto& [k, v] : w.timings)
    if (k == name)
      return v;
  return std::nullopt;
}

void record_generate_answer(metrics_registry& m, const std::string& protocol, const std::string& model,
                            const wire_generate_response& w, double latency_s) {
  wire_response base;
  base.code = w.code;
  record_answer(m, protocol, model, base, latency_s);
  if (w.code != messages::error_code::none)
    return;
  if (auto t = timing_of(w, "ttft_ms"))
    m.histogram_observe("sy_generate_ttft_seconds", {{"model", model}}, *t / 1e3);
  if (auto t = timing_of(w, "tpot_ms"))
    m.histogram_observe("sy_generate_tpot_seconds", {{"model", model}}, *t / 1e3);
  m.counter_add("sy_generate_tokens_total", {{"model", model}}, static_cast<double>(w.tokens.size()));
  if (w.preemptions > 0)
    m.counter_add("sy_generate_preemptions_total", {{"model", model}}, w.preemptions);
  if (auto t = timing_of(w, "tpot_misses"); t && *t > 0)
    m.counter_add("sy_generate_tpot_misses_total", {{"model", model}}, *t);
}

} // namespace sy::actors
