#pragma once
// What the msgpack and HTTP ingress share for generation requests (issue 10 §3): the checks against the
// config's models, the controller request built from a wire request, the wire answer of a controller
// response, and the generation metrics (TTFT, TPOT, tokens). Pure functions and the metrics registry
// (thread-safe); any thread.
#include <optional>
#include <string>

#include "actors/ingress.hpp"
#include "messages/generate.hpp"

namespace sy::actors {

/// check_request's checks for a prompt, plus prompt + max_new_tokens - 1 within the model's max_seq.
std::optional<refusal> check_generate(const ingress_context& ctx, const wire_generate& g);

/// The controller's request for `g` (id: the ingress's own, echoed back by the controller).
messages::generate_request to_controller(const wire_generate& g, std::uint64_t id);

/// The wire answer for a controller response; `ingress_s` is the time the ingress held the request.
wire_generate_response to_wire(const messages::generate_response& r, double ingress_s);

/// Declares the generation metric families in `m`.
void describe_generate_metrics(metrics_registry& m);

/// Records one answered generation (protocol "msgpack" or "http"): the request counters of record_answer,
/// and for ok answers TTFT, TPOT and new tokens per model (`model` must be a label, model_label).
void record_generate_answer(metrics_registry& m, const std::string& protocol, const std::string& model,
                            const wire_generate_response& w, double latency_s);

/// The timing named `name` of `w` (milliseconds), or nullopt.
std::optional<double> timing_of(const wire_generate_response& w, const std::string& name);

} // namespace sy::actors
