#include "actors/ingress_http.hpp"

#include <cmath>
#include <cstring>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <fmt/format.h>
#include <httplib.h>

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

std::string error_json(const std::string& status, const std::string& reason) {
  return fmt::format("{{\"status\": {}, \"reason\": {}}}\n", json::quote(status), json::quote(reason));
}

} // namespace

int http_status_of(const wire_response& r) {
  if (r.status == "ok")
    return 200;
  if (r.status == "invalid")
    return 400;
  if (r.reason.rfind("unknown model", 0) == 0)
    return 404;
  if (r.status == "rejected")
    return 503;
  if (r.status == "deadline_exceeded")
    return 504;
  return 500;
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
  return r;
}

http_ingress::http_ingress(caf::actor_system& sys, std::shared_ptr<ingress_context> ctx, bool metrics_only)
  : sys_(sys), ctx_(std::move(ctx)), server_(std::make_unique<httplib::Server>()) {
  server_->set_payload_max_length(ctx_->limits.max_frame_bytes);
  install_routes(metrics_only);
}

http_ingress::~http_ingress() {
  stop();
}

result<std::uint16_t> http_ingress::start(const std::string& bind, std::uint16_t port) {
  int bound = port;
  if (port == 0)
    bound = server_->bind_to_any_port(bind);
  else if (!server_->bind_to_port(bind, port))
    bound = -1;
  if (bound <= 0)
    return make_error("ingress", fmt::format("cannot listen for HTTP on {}:{}", bind, port));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return static_cast<std::uint16_t>(bound);
}

void http_ingress::stop() {
  if (server_)
    server_->stop();
  if (thread_.joinable())
    thread_.join();
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
  server_->Post(R"(/v2/models/([^/]+)/infer)", [ctx, sys, timeout](const httplib::Request& req,
                                                                      httplib::Response& res) {
    std::string model = req.matches[1];
    auto parsed = parse_infer_json(req.body, model, ctx->limits);
    if (!parsed) {
      record_answer(*ctx->metrics, "http", model, "invalid", parsed.err().message, 0);
      reply_json(res, 400, error_json("invalid", parsed.err().message));
      return;
    }
    if (!ctx->gate->try_acquire()) {
      auto why = fmt::format("overload: {} requests in flight (limit {})", ctx->gate->current(), ctx->gate->max());
      record_answer(*ctx->metrics, "http", model, "rejected", why, 0);
      reply_json(res, 503, error_json("rejected", why));
      return;
    }
    messages::infer_request ir;
    ir.id = request_id{ctx->next_id.fetch_add(1, std::memory_order_relaxed)};
    ir.model = model;
    ir.tokens = std::move(parsed->tokens);
    if (parsed->slo_ms > 0)
      ir.slo = std::chrono::microseconds(static_cast<std::int64_t>(parsed->slo_ms * 1e3));
    auto id = ir.id.value;
    auto t0 = clock_type::now();
    wire_response w;
    {
      caf::scoped_actor self{*sys};
      self->request(ctx->controller, timeout, messages::infer_atom_v, std::move(ir))
        .receive(
          [&](messages::infer_response& r) {
            w = to_wire(r, std::chrono::duration<double>(clock_type::now() - t0).count());
          },
          [&](caf::error& e) { w = make_wire_error(id, "failed", "controller: " + sys->render(e)); });
    }
    ctx->gate->release();
    double held = std::chrono::duration<double>(clock_type::now() - t0).count();
    record_answer(*ctx->metrics, "http", model, w.status, w.reason, held);
    reply_json(res, http_status_of(w), response_json(w, model));
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
        [&](caf::error& e) { reply_json(res, 500, error_json("failed", sys->render(e))); });
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
      messages::model_command cmd{std::string(req.matches[1]), ""};
      caf::scoped_actor self{*sys};
      auto on_ack = [&](messages::ack& a) {
        int code = a.ok ? 200 : (a.reason.rfind("unknown model", 0) == 0 ? 404 : 409);
        reply_json(res, code, error_json(a.ok ? "ok" : "failed", a.reason));
      };
      auto on_err = [&](caf::error& e) { reply_json(res, 500, error_json("failed", sys->render(e))); };
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
