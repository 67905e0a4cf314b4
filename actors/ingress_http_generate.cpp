// HTTP routes of generation (issue 10 §3), installed by http_ingress::install_routes:
//   POST /v2/models/{m}[/versions/{v}]/generate         Triton/KServe generate extension: one JSON answer
//   POST /v2/models/{m}[/versions/{v}]/generate_stream  the same request; server-sent events, one per token,
//                                                       then a final event with every token
//   POST /v1/completions                                OpenAI completions (prompt as token ids; "stream":
//                                                       true as server-sent events ending in "data: [DONE]")
// The worker thread that serves the request runs the generation through a scoped actor: it sends the
// controller a generate request whose stream is that scoped actor, passes each token frame on as it
// arrives, and ends with the controller's one answer. A client that disconnects mid-stream is found at
// the next write; the request's actor (the frames' sender) is then told to cancel, which frees the
// sequence and its KV. Models without a tokenizer take and give token ids; "text" in completions is the
// ids written as " <id>" per token.
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include "actors/ingress_generate.hpp"
#include "actors/ingress_http.hpp"
#include "messages/json.hpp"
#include "messages/type_ids.hpp"

namespace sy::actors {

namespace {

using clock_type = std::chrono::steady_clock;

/// Reads the generation settings from `obj` (top level or "parameters"); keys are the union of the
/// Triton/KServe generate, vLLM and OpenAI names. Errors name the key.
status read_settings(const json::value& obj, wire_generate& g, bool openai) {
  auto number = [&](const char* key, double lo, double hi, bool lo_open, double& out) -> status {
    const auto* v = obj.get(key);
    if (!v || v->is_null())
      return {};
    double x = v->is_number() ? v->as_number() : std::nan("");
    if (!v->is_number() || !(lo_open ? x > lo : x >= lo) || x > hi)
      return make_error("invalid", fmt::format("'{}': expected a number in {}{}, {}], found {}", key, lo_open ? "(" : "[",
                                               json::number(lo), json::number(hi),
                                               v->is_number() ? json::number(x) : json::kind_name(v->type())));
    out = x;
    return {};
  };
  auto integer = [&](const char* key, double lo, double hi, double& out) -> status {
    double x = -1;
    if (auto st = number(key, lo, hi, false, x); !st)
      return st;
    if (x == -1)
      return {};
    if (x != std::floor(x))
      return make_error("invalid", fmt::format("'{}': expected an integer, found {}", key, json::number(x)));
    out = x;
    return {};
  };
  double x = -1;
  for (const char* key : {"max_tokens", "max_new_tokens"}) {
    x = -1;
    if (auto st = integer(key, 1, 1 << 20, x); !st)
      return st;
    if (x > 0)
      g.max_new_tokens = static_cast<std::int32_t>(x);
  }
  x = -1;
  if (auto st = number("temperature", 0, 1e6, false, x); !st)
    return st;
  if (x >= 0)
    g.temperature = static_cast<float>(x);
  x = -1;
  if (auto st = number("top_p", 0, 1, true, x); !st)
    return st;
  if (x > 0)
    g.top_p = static_cast<float>(x);
  x = -1;
  if (auto st = integer("top_k", 0, 1 << 30, x); !st)
    return st;
  if (x >= 0)
    g.top_k = static_cast<std::int32_t>(x);
  x = -1;
  if (auto st = integer("seed", 0, 9007199254740991.0, x); !st)
    return st;
  if (x >= 0)
    g.seed = static_cast<std::uint64_t>(x);
  for (const char* key : {"ignore_eos", "stream"})
    if (const auto* v = obj.get(key); v && !v->is_null()) {
      if (!v->is_bool())
        return make_error("invalid", fmt::format("'{}': expected a boolean, found {}", key, json::kind_name(v->type())));
      (std::string_view{key} == "stream" ? g.stream : g.ignore_eos) = v->as_bool();
    }
  if (openai)
    if (const auto* n = obj.get("n"); n && !n->is_null() && !(n->is_number() && n->as_number() == 1))
      return make_error("invalid", "'n': only 1 completion per request is served");
  return {};
}

/// Token ids from `v` (an array of non-negative 32-bit integers), for key `key`.
status read_ids(const json::value& v, const char* key, const ingress_limits& limits, std::vector<std::int32_t>& out) {
  if (!v.is_array())
    return make_error("invalid", fmt::format("'{}': expected an array of token ids, found {}", key, json::kind_name(v.type())));
  const auto& items = v.as_array();
  if (items.size() > limits.max_tokens)
    return make_error("invalid", fmt::format("'{}': {} tokens exceed the limit of {}", key, items.size(), limits.max_tokens));
  for (std::size_t i = 0; i < items.size(); ++i) {
    double x = items[i].is_number() ? items[i].as_number() : -1;
    if (!items[i].is_number() || x < 0 || x > 2147483647.0 || x != std::floor(x))
      return make_error("invalid", fmt::format("'{}'[{}]: expected a non-negative 32-bit integer, found {}", key, i,
                                               items[i].is_number() ? json::number(x) : json::kind_name(items[i].type())));
    out.push_back(static_cast<std::int32_t>(x));
  }
  if (out.empty())
    return make_error("invalid", fmt::format("'{}': expected at least one prompt token, found an empty array", key));
  return {};
}

/// A Triton/KServe generate body: {"input_ids"|"tokens": [...], settings at the top or in "parameters"}.
result<wire_generate> parse_kserve_generate(const std::string& body, const std::string& model, const ingress_limits& limits) {
  auto doc = json::parse(body, 16);
  if (!doc)
    return make_error("invalid", "malformed JSON: " + doc.err().message);
  if (!doc->is_object())
    return make_error("invalid", fmt::format("body: expected an object, found {}", json::kind_name(doc->type())));
  wire_generate g;
  g.model = model;
  const char* key = doc->get("input_ids") ? "input_ids" : "tokens";
  const auto* ids = doc->get(key);
  if (!ids) {
    if (doc->get("text_input"))
      return make_error("invalid", fmt::format("'text_input': model {} has no tokenizer here; send the prompt as "
                                               "'input_ids' (an array of token ids)", model));
    return make_error("invalid", "body: missing key 'input_ids' (the prompt as an array of token ids)");
  }
  if (auto st = read_ids(*ids, key, limits, g.tokens); !st)
    return st.err();
  if (auto st = read_settings(*doc, g, false); !st)
    return st.err();
  if (const auto* p = doc->get("parameters"); p && !p->is_null()) {
    if (!p->is_object())
      return make_error("invalid", fmt::format("'parameters': expected an object, found {}", json::kind_name(p->type())));
    if (auto st = read_settings(*p, g, false); !st)
      return st.err();
  }
  return g;
}

/// An OpenAI completions body: {"model", "prompt": [ids] | [[ids]] (one), "max_tokens", ...}.
result<wire_generate> parse_completions(const std::string& body, const ingress_limits& limits) {
  auto doc = json::parse(body, 16);
  if (!doc)
    return make_error("invalid", "malformed JSON: " + doc.err().message);
  if (!doc->is_object())
    return make_error("invalid", fmt::format("body: expected an object, found {}", json::kind_name(doc->type())));
  wire_generate g;
  g.temperature = 1.0f; // OpenAI's default
  const auto* model = doc->get("model");
  if (!model || !model->is_string())
    return make_error("invalid", "'model': expected a string (a model name)");
  g.model = model->as_string();
  const auto* prompt = doc->get("prompt");
  if (!prompt)
    return make_error("invalid", "body: missing key 'prompt' (token ids)");
  if (prompt->is_string())
    return make_error("invalid", fmt::format("'prompt': model {} has no tokenizer here; send the prompt as an array of "
                                             "token ids", g.model.substr(0, 64)));
  const json::value* ids = prompt;
  if (prompt->is_array() && !prompt->as_array().empty() && prompt->as_array()[0].is_array()) {
    if (prompt->as_array().size() != 1)
      return make_error("invalid", "'prompt': only one prompt per request is served");
    ids = &prompt->as_array()[0];
  }
  if (auto st = read_ids(*ids, "prompt", limits, g.tokens); !st)
    return st.err();
  if (auto st = read_settings(*doc, g, true); !st)
    return st.err();
  return g;
}

/// Runs `g` through the gate and the controller; `on_token` gets each frame (false: the client left, the
/// generation is cancelled). Returns the one answer, recorded in the metrics.
wire_generate_response run_generate(caf::actor_system& sys, ingress_context& ctx, const wire_generate& g,
                                    const std::function<bool(const wire_token&)>& on_token) {
  auto label = model_label(ctx, g.model);
  auto refusal_of = [&](messages::error_code code, std::string why) {
    wire_generate_response w;
    w.code = code;
    w.status = messages::client_status(code);
    w.reason = std::move(why);
    record_generate_answer(*ctx.metrics, "http", label, w, 0);
    return w;
  };
  if (auto bad = check_generate(ctx, g))
    return refusal_of(bad->code, bad->reason);
  if (!ctx.gate->try_acquire())
    return refusal_of(messages::error_code::overload,
                      fmt::format("overload: {} requests in flight (limit {})", ctx.gate->current(), ctx.gate->max()));
  auto id = ctx.next_id.fetch_add(1, std::memory_order_relaxed);
  auto req = to_controller(g, id);
  auto t0 = clock_type::now();
  wire_generate_response w;
  {
    caf::scoped_actor self{sys};
    req.stream = caf::actor_cast<messages::token_sink_actor>(self);
    // an asynchronous send: the (delegated) answer comes back as an ordinary message, after the frames
    self->send(ctx.controller, messages::generate_atom_v, std::move(req));
    caf::strong_actor_ptr requester;
    bool done = false, cancelled = false;
    while (!done)
      self->receive(
        [&](messages::token_atom, messages::token_frame& f) {
          if (f.id.value != id)
            return;
          if (!requester)
            requester = self->current_sender();
          if (cancelled)
            return;
          if (!on_token(wire_token{id, f.index, f.token})) {
            cancelled = true; // the client left: free its sequence; the answer still comes
            self->send(caf::actor_cast<caf::actor>(requester), messages::cancel_atom_v);
          }
        },
        [&](messages::generate_response& r) {
          if (r.id.value != id)
            return;
          w = to_wire(r, std::chrono::duration<double>(clock_type::now() - t0).count());
          done = true;
        },
        caf::after(ctx.request_timeout) >> [&] {
          if (requester)
            self->send(caf::actor_cast<caf::actor>(requester), messages::cancel_atom_v);
          w = wire_generate_response{};
          w.code = messages::error_code::internal;
          w.status = messages::client_status(w.code);
          w.reason = fmt::format("controller: no token or answer within {} ms", ctx.request_timeout.count());
          done = true;
        });
  }
  ctx.gate->release();
  record_generate_answer(*ctx.metrics, "http", label, w, std::chrono::duration<double>(clock_type::now() - t0).count());
  return w;
}

std::string ids_json(const std::vector<std::int32_t>& ids) {
  std::string o = "[";
  for (std::size_t i = 0; i < ids.size(); ++i)
    o += (i ? ", " : "") + std::to_string(ids[i]);
  return o + "]";
}

std::string timings_json(const wire_generate_response& w) {
  std::string o = "{";
  for (std::size_t i = 0; i < w.timings.size(); ++i)
    o += (i ? ", " : "") + json::quote(w.timings[i].first) + ": " + json::number(w.timings[i].second);
  return o + "}";
}

/// The Triton/KServe generate answer (also the final event of generate_stream).
std::string kserve_generate_json(const wire_generate_response& w, const std::string& model) {
  return fmt::format("{{\"model_name\": {}, \"model_version\": \"1\", \"output_ids\": {}, \"finish_reason\": {}, "
                     "\"status\": {}, \"reason\": {}, \"timings\": {}, \"group\": {}, \"preemptions\": {}}}",
                     json::quote(model), ids_json(w.tokens), json::quote(w.finish_reason), json::quote(w.status),
                     json::quote(w.reason), timings_json(w), json::quote(w.group), w.preemptions);
}

std::string error_body(const wire_generate_response& w) {
  return fmt::format("{{\"error\": {}, \"status\": {}, \"reason\": {}}}", json::quote(w.reason), json::quote(w.status),
                     json::quote(w.reason));
}

std::string openai_error(const std::string& message, messages::error_code code) {
  return fmt::format("{{\"error\": {{\"message\": {}, \"type\": {}, \"param\": null, \"code\": {}}}}}",
                     json::quote(message), json::quote(messages::client_status(code)),
                     json::quote(messages::to_string(code)));
}

std::string token_text(const std::vector<std::int32_t>& ids) {
  std::string t;
  for (auto i : ids)
    t += " " + std::to_string(i);
  return t;
}

const char* openai_finish(const std::string& r) {
  return r == "eos" ? "stop" : r == "length" ? "length" : "length";
}

std::string completion_chunk(std::uint64_t id, std::int64_t created, const std::string& model,
                             const std::vector<std::int32_t>& ids, const char* finish) {
  return fmt::format("{{\"id\": \"cmpl-{}\", \"object\": \"text_completion\", \"created\": {}, \"model\": {}, "
                     "\"choices\": [{{\"index\": 0, \"text\": {}, \"token_ids\": {}, \"logprobs\": null, "
                     "\"finish_reason\": {}}}]",
                     id, created, json::quote(model), json::quote(token_text(ids)), ids_json(ids),
                     finish ? json::quote(finish) : std::string{"null"});
}

std::string usage_json(std::size_t prompt, std::size_t completion) {
  return fmt::format("\"usage\": {{\"prompt_tokens\": {}, \"completion_tokens\": {}, \"total_tokens\": {}}}", prompt,
                     completion, prompt + completion);
}

/// Answers `req` with server-sent events: `event_of` renders each token, `last_of` the final event(s).
void stream_sse(httplib::Response& res, std::function<wire_generate_response(const std::function<bool(const wire_token&)>&)> run,
                std::function<std::string(const wire_token&)> event_of,
                std::function<std::string(const wire_generate_response&)> last_of) {
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream; charset=utf-8",
                                   [run, event_of, last_of](std::size_t, httplib::DataSink& sink) {
                                     auto w = run([&](const wire_token& t) {
                                       auto e = "data: " + event_of(t) + "\n\n";
                                       return sink.write(e.data(), e.size());
                                     });
                                     auto e = last_of(w);
                                     sink.write(e.data(), e.size());
                                     sink.done();
                                     return true;
                                   });
}

} // namespace

void install_generate_routes(httplib::Server& server, caf::actor_system& sys, std::shared_ptr<ingress_context> ctx) {
  auto generate = [ctx, &sys](bool stream) {
    return [ctx, &sys, stream](const httplib::Request& req, httplib::Response& res) {
      std::string model = req.matches[1];
      auto g = parse_kserve_generate(req.body, model, ctx->limits);
      if (!g) {
        wire_generate_response w;
        w.code = messages::error_code::invalid_request;
        w.status = messages::client_status(w.code);
        w.reason = g.err().message;
        record_generate_answer(*ctx->metrics, "http", model_label(*ctx, model), w, 0);
        res.status = messages::http_status(w.code);
        return res.set_content(error_body(w), "application/json");
      }
      if (!stream) {
        auto w = run_generate(sys, *ctx, *g, [](const wire_token&) { return true; });
        res.status = messages::http_status(w.code);
        return res.set_content(w.code == messages::error_code::none ? kserve_generate_json(w, model) : error_body(w),
                               "application/json");
      }
      // refusals before any token: a plain error answer with its status code
      if (auto bad = check_generate(*ctx, *g)) {
        res.status = messages::http_status(bad->code);
        wire_generate_response w;
        w.code = bad->code;
        w.status = messages::client_status(bad->code);
        w.reason = bad->reason;
        record_generate_answer(*ctx->metrics, "http", model_label(*ctx, model), w, 0);
        return res.set_content(error_body(w), "application/json");
      }
      auto gv = *g;
      stream_sse(
        res, [ctx, &sys, gv](const std::function<bool(const wire_token&)>& f) { return run_generate(sys, *ctx, gv, f); },
        [model](const wire_token& t) {
          return fmt::format("{{\"model_name\": {}, \"model_version\": \"1\", \"output_ids\": [{}], \"index\": {}}}",
                             json::quote(model), t.token, t.index);
        },
        [model](const wire_generate_response& w) {
          return "data: " + (w.code == messages::error_code::none ? kserve_generate_json(w, model) : error_body(w)) +
                 "\n\n";
        });
    };
  };
  server.Post(R"(/v2/models/([^/]+)/generate)", generate(false));
  server.Post(R"(/v2/models/([^/]+)/versions/[^/]+/generate)", generate(false));
  server.Post(R"(/v2/models/([^/]+)/generate_stream)", generate(true));
  server.Post(R"(/v2/models/([^/]+)/versions/[^/]+/generate_stream)", generate(true));

  server.Post("/v1/completions", [ctx, &sys](const httplib::Request& req, httplib::Response& res) {
    auto g = parse_completions(req.body, ctx->limits);
    auto fail = [&](messages::error_code code, const std::string& why, const std::string& model) {
      wire_generate_response w;
      w.code = code;
      w.status = messages::client_status(code);
      record_generate_answer(*ctx->metrics, "http", model_label(*ctx, model), w, 0);
      res.status = messages::http_status(code);
      res.set_content(openai_error(why, code), "application/json");
    };
    if (!g)
      return fail(messages::error_code::invalid_request, g.err().message, "");
    if (auto bad = check_generate(*ctx, *g))
      return fail(bad->code, bad->reason, g->model);
    const auto created = static_cast<std::int64_t>(std::time(nullptr));
    const auto prompt_len = g->tokens.size();
    const std::string model = g->model;
    if (!g->stream) {
      auto w = run_generate(sys, *ctx, *g, [](const wire_token&) { return true; });
      if (w.code != messages::error_code::none) {
        res.status = messages::http_status(w.code);
        return res.set_content(openai_error(w.reason, w.code), "application/json");
      }
      res.status = 200;
      return res.set_content(completion_chunk(w.id, created, model, w.tokens, openai_finish(w.finish_reason)) + ", " +
                               usage_json(prompt_len, w.tokens.size()) + "}",
                             "application/json");
    }
    auto gv = *g;
    auto cid = std::make_shared<std::uint64_t>(0);
    stream_sse(
      res, [ctx, &sys, gv](const std::function<bool(const wire_token&)>& f) { return run_generate(sys, *ctx, gv, f); },
      [created, model, cid](const wire_token& t) {
        *cid = t.id;
        return completion_chunk(t.id, created, model, {t.token}, nullptr) + "}";
      },
      [created, model, cid, prompt_len](const wire_generate_response& w) {
        if (w.code != messages::error_code::none)
          return "data: " + openai_error(w.reason, w.code) + "\n\ndata: [DONE]\n\n";
        return "data: " + completion_chunk(*cid, created, model, {}, openai_finish(w.finish_reason)) + ", " +
               usage_json(prompt_len, w.tokens.size()) + "}\n\ndata: [DONE]\n\n";
      });
  });
}

} // namespace sy::actors
