#include "actors/ingress_http.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include "actors/ingress_kserve.hpp"
#include "actors/ingress_policies.hpp"
#include "messages/json.hpp"
#include "actors/metrics_text.hpp"
#include "messages/logging.hpp"
#include "messages/type_ids.hpp"

namespace sy::actors {
namespace {

using clock_type = std::chrono::steady_clock;

void reply_json(httplib::Response& res, int code, const std::string& body) {
  res.status = code;
  res.set_content(body, "application/json");
}

// Every error body carries `error` (what KServe clients read) and `status` + `reason` (our simple form).
std::string error_json(const std::string& status, const std::string& reason) {
  return kserve_error_json(status, reason);
}

void reply_error(httplib::Response& res, messages::error_code code, const std::string& reason) {
  reply_json(res, messages::http_status(code), error_json(messages::client_status(code), reason));
}

std::optional<std::size_t> header_length_of(const httplib::Request& req) {
  if (!req.has_header("Inference-Header-Content-Length"))
    return std::nullopt;
  auto v = req.get_header_value("Inference-Header-Content-Length");
  char* end = nullptr;
  auto n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0')
    return std::numeric_limits<std::size_t>::max(); // refused by the parser as longer than the body
  return static_cast<std::size_t>(n);
}

/// The controller's model list, or the error.
result<std::vector<messages::model_info>> list_models(caf::actor_system& sys, const ingress_context& ctx) {
  result<std::vector<messages::model_info>> out = make_error("ingress", "no answer");
  caf::scoped_actor self{sys};
  self->request(ctx.controller, std::chrono::seconds(5), messages::list_atom_v)
    .receive([&](std::vector<messages::model_info>& models) { out = std::move(models); },
             [&](caf::error& e) { out = make_error("ingress", sys.render(e)); });
  return out;
}

/// GET /v2/placement after a re-placement: the document recorded at start with its groups replaced by those
/// served now, and the migration in progress / the last one.
std::string placement_document(const std::string& recorded, const messages::placement_status& ps) {
  auto doc = json::parse(recorded, 16);
  auto out = json::value::make_object();
  if (doc && doc->is_object())
    for (const auto& [k, v] : doc->as_object())
      if (k != "groups" && !(k == "source" && ps.generation > 0))
        out.set(k, v);
  if (ps.generation > 0)
    out.set("source", "re-placement");
  out.set("generation", ps.generation);
  if (auto g = json::parse(ps.groups_json, 16))
    out.set("groups", *g);
  if (!ps.migration_json.empty())
    if (auto m = json::parse(ps.migration_json, 16))
      out.set("migration", *m);
  if (!ps.last_json.empty())
    if (auto m = json::parse(ps.last_json, 16))
      out.set("last_migration", *m);
  if (!ps.replan_json.empty())
    if (auto m = json::parse(ps.replan_json, 16))
      out.set("replan", *m);
  return json::write(out) + "\n";
}

bool known_model(const ingress_context& ctx, const std::string& model) {
  return ctx.models.empty() || ctx.models.count(model) > 0;
}

} // namespace

int http_status_of(const wire_response& r) {
  return messages::http_status(r.code);
}

bool control_allowed(const ingress_context& ctx, const std::string& authorization) {
  if (ctx.control_token.empty())
    return true;
  const std::string expected = "Bearer " + ctx.control_token;
  if (authorization.size() != expected.size())
    return false;
  unsigned char diff = 0; // constant time in the token's length
  for (std::size_t i = 0; i < expected.size(); ++i)
    diff |= static_cast<unsigned char>(authorization[i] ^ expected[i]);
  return diff == 0;
}

wire_response run_http_infer(caf::actor_system& sys, ingress_context& ctx, const std::string& model,
                             std::vector<std::int32_t> tokens, double slo_ms, std::string output) {
  auto label = model_label(ctx, model);
  if (auto bad = check_request(ctx, model, tokens)) {
    auto w = make_wire_error(0, bad->code, bad->reason);
    record_answer(*ctx.metrics, "http", label, w, 0);
    return w;
  }
  if (!ctx.gate->try_acquire()) {
    auto w = make_wire_error(0, messages::error_code::overload,
                             fmt::format("overload: {} requests in flight (limit {})", ctx.gate->current(), ctx.gate->max()));
    record_answer(*ctx.metrics, "http", label, w, 0);
    return w;
  }
  messages::infer_request ir;
  ir.id = request_id{ctx.next_id.fetch_add(1, std::memory_order_relaxed)};
  ir.model = model;
  ir.tokens = std::move(tokens);
  if (slo_ms > 0)
    ir.slo = std::chrono::microseconds(static_cast<std::int64_t>(slo_ms * 1e3));
  ir.output = std::move(output);
  auto id = ir.id.value;
  auto t0 = clock_type::now();
  wire_response w;
  {
    caf::scoped_actor self{sys};
    self->request(ctx.controller, ctx.request_timeout, messages::infer_atom_v, std::move(ir))
      .receive(
        [&](messages::infer_response& r) {
          w = to_wire(r, std::chrono::duration<double>(clock_type::now() - t0).count());
        },
        [&](caf::error& e) { w = make_wire_error(id, messages::error_code::internal, "controller: " + sys.render(e)); });
  }
  ctx.gate->release();
  double held = std::chrono::duration<double>(clock_type::now() - t0).count();
  record_answer(*ctx.metrics, "http", label, w, held);
  return w;
}

std::string response_json(const wire_response& r, const std::string& model) {
  std::string o = fmt::format("{{\"id\": {}, \"model\": {}, \"status\": {}, \"reason\": {}", r.id,
                              json::quote(model), json::quote(r.status), json::quote(r.reason));
  o += ", \"output\": {\"dtype\": " + json::quote(r.output.dtype) + ", \"shape\": [";
  for (std::size_t i = 0; i < r.output.shape.size(); ++i)
    o += (i ? ", " : "") + std::to_string(r.output.shape[i]);
  o += "], \"data\": [";
  if (r.output.dtype == "f32") {
    std::size_t n = r.output.data.size() / sizeof(float);
    for (std::size_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, r.output.data.data() + i * sizeof(float), sizeof v);
      o += (i ? ", " : "") + json::number(static_cast<double>(v));
    }
  }
  o += "]}, \"timings\": {";
  for (std::size_t i = 0; i < r.timings.size(); ++i)
    o += (i ? ", " : "") + json::quote(r.timings[i].first) + ": " + json::number(r.timings[i].second);
  o += fmt::format("}}, \"group\": {}, \"batch_size\": {}}}\n", json::quote(r.group), r.batch_size);
  return o;
}

result<wire_request> parse_infer_json(const std::string& body, const std::string& model,
                                      const ingress_limits& limits) {
  auto doc = json::parse(body, 32);
  if (!doc)
    return make_error("invalid", "malformed JSON: " + doc.err().message);
  if (!doc->is_object())
    return make_error("invalid", fmt::format("body: expected an object, found {}", json::kind_name(doc->type())));
  wire_request r;
  r.model = model;
  const auto* tokens = doc->get("tokens");
  if (!tokens)
    return make_error("invalid", "body: missing key 'tokens' (array of integers)");
  if (!tokens->is_array())
    return make_error("invalid", fmt::format("'tokens': expected an array of integers, found {}",
                                             json::kind_name(tokens->type())));
  const auto& items = tokens->as_array();
  if (items.empty())
    return make_error("invalid", "'tokens': expected at least one token, found an empty array");
  if (items.size() > limits.max_tokens)
    return make_error("invalid", fmt::format("'tokens': {} tokens exceed the limit of {}", items.size(),
                                             limits.max_tokens));
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& t = items[i];
    double x = t.as_number();
    if (!t.is_number() || x < 0 || x > 2147483647.0 || x != std::floor(x))
      return make_error("invalid", fmt::format("'tokens'[{}]: expected a non-negative 32-bit integer, found {}",
                                               i, t.is_number() ? json::number(x) : json::kind_name(t.type())));
    r.tokens.push_back(static_cast<std::int32_t>(x));
  }
  if (const auto* slo = doc->get("slo_ms"); slo && !slo->is_null()) {
    if (!slo->is_number() || slo->as_number() < 0)
      return make_error("invalid", fmt::format("'slo_ms': expected a non-negative number, found {}",
                                               slo->is_number() ? json::number(slo->as_number())
                                                                : json::kind_name(slo->type())));
    r.slo_ms = slo->as_number();
  }
  if (const auto* out = doc->get("output"); out && !out->is_null()) {
    if (!out->is_string())
      return make_error("invalid", fmt::format("'output': expected a string (an output kind), found {}",
                                               json::kind_name(out->type())));
    r.output = out->as_string();
  }
  return r;
}

namespace {

http_server_limits server_limits(const ingress_limits& l) {
  http_server_limits h;
  h.workers = l.http_workers;
  h.max_connections = l.max_connections;
  h.read_timeout = l.read_timeout;
  h.idle_timeout = l.idle_timeout.count() > 0 ? l.idle_timeout : std::chrono::milliseconds(60000);
  return h;
}

} // namespace

http_ingress::http_ingress(caf::actor_system& sys, std::shared_ptr<ingress_context> ctx, bool metrics_only)
  : sys_(sys), ctx_(std::move(ctx)), server_(std::make_unique<http_server>(server_limits(ctx_->limits))) {
  server_->set_payload_max_length(ctx_->limits.max_frame_bytes);
  install_routes(metrics_only);
}

http_ingress::~http_ingress() {
  stop();
}

result<std::uint16_t> http_ingress::start(const std::string& bind, std::uint16_t port) {
  auto bound = this->bind(bind, port);
  if (bound)
    serve();
  return bound;
}

result<std::uint16_t> http_ingress::bind(const std::string& bind, std::uint16_t port) {
  return server_->bind_listener(bind, port);
}

void http_ingress::serve() {
  server_->start();
}

std::size_t http_ingress::stop() {
  return server_ ? server_->drain() : 0;
}

void http_ingress::install_routes(bool metrics_only) {
  auto ctx = ctx_;
  auto* sys = &sys_;
  auto timeout = ctx->request_timeout;
  server_->Get("/metrics", [ctx, sys](const httplib::Request&, httplib::Response& res) {
    std::string text;
    caf::scoped_actor self{*sys};
    self->request(ctx->controller, std::chrono::seconds(5), messages::metrics_atom_v)
      .receive([&](messages::metrics_snapshot& s) { text = render_snapshot(s); },
               [&](caf::error& e) { text = "# controller metrics unavailable: " + sys->render(e) + "\n"; });
    ctx->metrics->gauge_set("sy_ingress_in_flight", {}, static_cast<double>(ctx->gate->current()));
    res.set_content(text + ctx->metrics->render(), "text/plain; version=0.0.4");
  });
  if (metrics_only)
    return;
  // The control routes need the bearer token when one is configured.
  server_->set_pre_routing_handler([ctx](const httplib::Request& req, httplib::Response& res) {
    bool control = req.path.rfind("/v2/policies", 0) == 0 || (req.method == "POST" && req.path == "/v2/placement") ||
                   (req.path.rfind("/v2/repository/models/", 0) == 0 &&
                    (req.path.size() > 5 && (req.path.compare(req.path.size() - 5, 5, "/load") == 0 ||
                                             (req.path.size() > 7 && req.path.compare(req.path.size() - 7, 7, "/unload") == 0))));
    if (!control || control_allowed(*ctx, req.get_header_value("Authorization")))
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    reply_error(res, messages::error_code::unauthorized,
                "unauthorized: control routes need 'Authorization: Bearer <ingress.control_token>'");
    return httplib::Server::HandlerResponse::Handled;
  });
  auto infer = [ctx, sys](const httplib::Request& req, httplib::Response& res) {
    std::string model = req.matches[1];
    if (req.body.empty()) {
      auto w = make_wire_error(0, messages::error_code::invalid_request,
                               "POST without a body: expected KServe v2 {\"inputs\": [...]} or {\"tokens\": [...]}");
      record_answer(*ctx->metrics, "http", model_label(*ctx, model), w, 0);
      return reply_error(res, w.code, w.reason);
    }
    auto header_length = header_length_of(req);
    if (looks_like_kserve(req.body, header_length.has_value())) {
      auto parsed = parse_kserve_infer(req.body, header_length, ctx->limits);
      if (!parsed) {
        auto w = make_wire_error(0, messages::error_code::invalid_request, parsed.err().message);
        record_answer(*ctx->metrics, "http", model_label(*ctx, model), w, 0);
        return reply_error(res, w.code, w.reason);
      }
      auto w = run_http_infer(*sys, *ctx, model, std::move(parsed->tokens), 0, parsed->output);
      if (w.code != messages::error_code::none)
        return reply_error(res, w.code, w.reason);
      auto out = render_kserve_response(w, model, *parsed);
      res.status = 200;
      if (out.header_length) {
        res.set_header("Inference-Header-Content-Length", std::to_string(*out.header_length));
        res.set_content(out.body, "application/octet-stream");
      } else {
        res.set_content(out.body, "application/json");
      }
      return;
    }
    auto parsed = parse_infer_json(req.body, model, ctx->limits);
    if (!parsed) {
      auto w = make_wire_error(0, messages::error_code::invalid_request, parsed.err().message);
      record_answer(*ctx->metrics, "http", model_label(*ctx, model), w, 0);
      return reply_json(res, 400, response_json(w, model));
    }
    auto w = run_http_infer(*sys, *ctx, model, std::move(parsed->tokens), parsed->slo_ms, parsed->output);
    reply_json(res, http_status_of(w), response_json(w, model));
  };
  server_->Post(R"(/v2/models/([^/]+)/infer)", infer);
  server_->Post(R"(/v2/models/([^/]+)/versions/[^/]+/infer)", infer);
  install_generate_routes(*server_, *sys, ctx); // issue 10: generate, generate_stream, /v1/completions
  server_->Get("/v2", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, kserve_server_metadata());
  });
  server_->Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, "{\"live\": true}\n");
  });
  auto metadata = [ctx](const httplib::Request& req, httplib::Response& res) {
    std::string model = req.matches[1];
    if (!known_model(*ctx, model))
      return reply_error(res, messages::error_code::unknown_model, fmt::format("unknown model '{}'", model_label(*ctx, model)));
    reply_json(res, 200, kserve_model_metadata(model));
  };
  server_->Get(R"(/v2/models/([^/]+))", metadata);
  server_->Get(R"(/v2/models/([^/]+)/versions/[^/]+)", metadata);
  auto model_ready = [ctx, sys](const httplib::Request& req, httplib::Response& res) {
    std::string model = req.matches[1];
    if (!known_model(*ctx, model))
      return reply_error(res, messages::error_code::unknown_model, fmt::format("unknown model '{}'", model_label(*ctx, model)));
    auto models = list_models(*sys, *ctx);
    if (!models)
      return reply_error(res, messages::error_code::internal, models.err().message);
    for (const auto& m : *models)
      if (m.name == model && !m.replicas.empty())
        return reply_json(res, 200, fmt::format("{{\"name\": {}, \"ready\": true}}\n", json::quote(model)));
    reply_error(res, messages::error_code::not_resident, fmt::format("model '{}' is not placed on any group", model));
  };
  server_->Get(R"(/v2/models/([^/]+)/ready)", model_ready);
  server_->Get(R"(/v2/models/([^/]+)/versions/[^/]+/ready)", model_ready);
  server_->Post("/v2/repository/index", [ctx, sys](const httplib::Request& req, httplib::Response& res) {
    if (!req.body.empty()) {
      if (auto doc = json::parse(req.body, 8); !doc || !doc->is_object())
        return reply_error(res, messages::error_code::invalid_request,
                           doc ? "body: expected an object" : "malformed JSON: " + doc.err().message);
    }
    auto models = list_models(*sys, *ctx);
    if (!models)
      return reply_error(res, messages::error_code::internal, models.err().message);
    std::string o = "[";
    for (std::size_t i = 0; i < models->size(); ++i) {
      const auto& m = (*models)[i];
      bool resident = false;
      for (const auto& r : m.replicas)
        resident = resident || r.state == messages::residency::resident;
      o += fmt::format("{}{{\"name\": {}, \"version\": \"1\", \"state\": \"{}\", \"reason\": \"{}\"}}", i ? ", " : "",
                       json::quote(m.name), m.replicas.empty() ? "UNAVAILABLE" : "READY",
                       m.replicas.empty() ? "not placed" : resident ? "" : "placed, weights swapped out (loaded on demand)");
    }
    reply_json(res, 200, o + "]\n");
  });
  server_->Get("/v2/models", [ctx, sys](const httplib::Request&, httplib::Response& res) {
    caf::scoped_actor self{*sys};
    self->request(ctx->controller, std::chrono::seconds(5), messages::list_atom_v)
      .receive(
        [&](std::vector<messages::model_info>& models) {
          std::string o = "{\"models\": [";
          for (std::size_t i = 0; i < models.size(); ++i) {
            o += (i ? ", " : "") + std::string("{\"name\": ") + json::quote(models[i].name) + ", \"replicas\": [";
            for (std::size_t j = 0; j < models[i].replicas.size(); ++j) {
              const auto& r = models[i].replicas[j];
              o += fmt::format("{}{{\"group\": {}, \"state\": {}, \"bytes_per_device\": {}}}", j ? ", " : "",
                               json::quote(r.group), json::quote(messages::to_string(r.state)), r.bytes_per_device);
            }
            o += "]}";
          }
          reply_json(res, 200, o + "]}\n");
        },
        [&](caf::error& e) { reply_error(res, messages::error_code::internal, sys->render(e)); });
  });
  // GET: the placement recorded at start (ctx) as the controller serves it now, with the migration in
  // progress; POST: apply a plan (issue 11 §2; actors/internal/controller_migration.hpp).
  server_->Get("/v2/placement", [ctx, sys](const httplib::Request&, httplib::Response& res) {
    if (ctx->placement_json.empty())
      return reply_error(res, messages::error_code::invalid_request, "no placement recorded for this deployment");
    messages::placement_status ps;
    bool asked = false;
    caf::scoped_actor self{*sys};
    self->request(ctx->controller, std::chrono::seconds(5), messages::placement_atom_v)
      .receive([&](messages::placement_status& x) { ps = std::move(x); asked = true; }, [&](caf::error&) {});
    if (!asked || (ps.generation == 0 && ps.migration_json.empty() && ps.last_json.empty() &&
                   ps.replan_json.empty()))
      return reply_json(res, 200, ctx->placement_json);
    reply_json(res, 200, placement_document(ctx->placement_json, ps));
  });
  server_->Post("/v2/placement", [ctx, sys](const httplib::Request& req, httplib::Response& res) {
    messages::placement_answer a;
    bool asked = false;
    std::string err;
    caf::scoped_actor self{*sys};
    self->request(ctx->controller, std::chrono::seconds(30), messages::placement_atom_v, req.body)
      .receive([&](messages::placement_answer& x) { a = std::move(x); asked = true; },
               [&](caf::error& e) { err = sys->render(e); });
    if (!asked)
      return reply_error(res, messages::error_code::internal, err);
    reply_json(res, messages::http_status(a.outcome),
               fmt::format("{{\"status\": {}, \"id\": {}, \"reason\": {}, \"error\": {}}}\n",
                           json::quote(messages::to_string(a.outcome)), json::quote(a.id), json::quote(a.reason),
                           json::quote(a.outcome == messages::placement_outcome::accepted
                                           || a.outcome == messages::placement_outcome::unchanged ? "" : a.reason)));
  });
  server_->Get("/v2/health/ready", [ctx, sys](const httplib::Request&, httplib::Response& res) {
    caf::scoped_actor self{*sys};
    self->request(ctx->controller, std::chrono::seconds(5), messages::health_atom_v)
      .receive(
        [&](messages::health_report& h) {
          auto list = [](const std::vector<std::string>& v) {
            std::string out;
            for (std::size_t i = 0; i < v.size(); ++i)
              out += (i ? ", " : "") + json::quote(v[i]);
            return out;
          };
          // 503 while anything expected is down (missing names it), 200 again once the cluster is whole
          reply_json(res, h.ready && !h.draining && h.missing.empty() ? 200 : 503,
                     fmt::format("{{\"ready\": {}, \"draining\": {}, \"nodes\": {}, \"nodes_expected\": {}, "
                                 "\"groups\": {}, \"devices\": {}, \"in_flight\": {}, \"missing\": [{}], "
                                 "\"problems\": [{}]}}\n",
                                 h.ready && h.missing.empty(), h.draining, h.nodes, h.nodes_expected, h.groups,
                                 h.devices, h.in_flight, list(h.missing), list(h.problems)));
        },
        [&](caf::error& e) { reply_json(res, 503, error_json("failed", sys->render(e))); });
  });
  auto control = [ctx, sys, timeout](bool load) {
    return [ctx, sys, timeout, load](const httplib::Request& req, httplib::Response& res) {
      std::string model = req.matches[1];
      // The body is optional (Triton's client sends none, or {"parameters": {...}}); when present it must be
      // a JSON object.
      if (!req.body.empty()) {
        if (auto doc = json::parse(req.body, 16); !doc || !doc->is_object())
          return reply_error(res, messages::error_code::invalid_request,
                             doc ? "body: expected an object" : "malformed JSON: " + doc.err().message);
      }
      if (!known_model(*ctx, model))
        return reply_error(res, messages::error_code::unknown_model,
                           fmt::format("unknown model '{}'", model_label(*ctx, model)));
      messages::model_command cmd{model, ""};
      caf::scoped_actor self{*sys};
      auto on_ack = [&](messages::ack& a) {
        reply_json(res, a.ok ? 200 : 409, error_json(a.ok ? "ok" : "failed", a.reason));
      };
      auto on_err = [&](caf::error& e) { reply_error(res, messages::error_code::internal, sys->render(e)); };
      if (load)
        self->request(ctx->controller, timeout, messages::load_atom_v, cmd).receive(on_ack, on_err);
      else
        self->request(ctx->controller, timeout, messages::unload_atom_v, cmd).receive(on_ack, on_err);
    };
  };
  server_->Post(R"(/v2/repository/models/([^/]+)/load)", control(true));
  server_->Post(R"(/v2/repository/models/([^/]+)/unload)", control(false));
  install_policy_routes(*server_, *sys, ctx); // GET/POST /v2/policies/{kind} (actors/ingress_policies.hpp)
}

} // namespace sy::actors
