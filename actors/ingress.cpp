#include "actors/ingress.hpp"

#include <optional>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <fmt/format.h>

#include "actors/ingress_generate.hpp"
#include "messages/logging.hpp"
#include "messages/type_ids.hpp"

namespace sy::actors {
namespace {

using clock_type = std::chrono::steady_clock;

double ms_between(messages::time_point from, messages::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

using idle_atom = caf::atom_constant<caf::atom("sy_idle")>;

// One client connection. `id` is never reused (the handle is the socket's fd, which the OS reuses): held
// requests remember it, and an answer whose connection is gone is dropped instead of reaching the next
// client on the same fd.
struct conn_state {
  conn_state(std::uint64_t id, std::size_t max) : id(id), dec(max) {}
  std::uint64_t id;
  frame_decoder dec;
  clock_type::time_point last_active = clock_type::now();
  std::int64_t held = 0; // requests of this connection at the controller
};

struct ingress_state {
  std::shared_ptr<ingress_context> ctx;
  std::unordered_map<caf::io::connection_handle, std::unique_ptr<conn_state>> conns;
  caf::io::accept_handle acceptor;
  bool listening = false;
  bool draining = false;
  std::int64_t pending = 0;
  std::vector<caf::response_promise> drain_waiters;
  clock_type::time_point last_frame{}; // frames still arriving while draining postpone "drained"
  bool tick_scheduled = false;
  // Requests at the controller, by local sequence number. They are asked without a CAF timeout (that costs
  // two clock events per request); a sweep every sweep_period answers the ones held past
  // ctx->request_timeout (a lost controller) as failed, and their late answers are dropped.
  struct held_request {
    caf::io::connection_handle hdl;
    std::uint64_t conn = 0; // conn_state::id
    std::uint64_t id = 0;
    std::string model;
    clock_type::time_point t0;
    // generation: frames stream to the client; the sweep measures from the last frame; the request's
    // actor (the frames' sender) is told when the client leaves
    bool generate = false;
    bool stream = false;
    std::uint64_t ctx_id = 0;             // the id the controller knows it by
    caf::strong_actor_ptr requester{};    // the sender of its first frame
    bool orphan = false;                  // the connection closed: cancel at the next frame
    bool cancel_sent = false;
    clock_type::time_point last{};
  };
  std::unordered_map<std::uint64_t, held_request> held;
  std::unordered_map<std::uint64_t, std::uint64_t> by_ctx_id; // generations: controller id -> seq
  std::uint64_t next_seq = 1;
  bool sweep_scheduled = false;
  std::uint64_t next_conn = 1;
  bool idle_scheduled = false;
  static inline const char* name = "sy.ingress";
};

constexpr auto sweep_period = std::chrono::seconds(1);

using ingress_broker_ptr = caf::stateful_actor<ingress_state, caf::io::broker>*;

conn_state* find_conn(ingress_broker_ptr self, caf::io::connection_handle hdl, std::uint64_t conn) {
  auto it = self->state.conns.find(hdl);
  if (it == self->state.conns.end() || it->second->id != conn)
    return nullptr;
  return it->second.get();
}

void cancel_generations(ingress_broker_ptr self, std::uint64_t conn);

void close_conn(ingress_broker_ptr self, caf::io::connection_handle hdl, const char* counter) {
  auto& st = self->state;
  auto it = st.conns.find(hdl);
  if (it == st.conns.end())
    return;
  if (it->second->held > 0)
    cancel_generations(self, it->second->id);
  st.conns.erase(it);
  st.ctx->metrics->gauge_add("sy_ingress_connections", {{"protocol", "msgpack"}}, -1);
  st.ctx->metrics->counter_add("sy_ingress_closed_connections_total", {{"protocol", "msgpack"}, {"why", counter}});
  self->close(hdl);
}

/// Writes `r` to connection `conn` (on handle `hdl`); nothing when that connection is gone.
void write_answer(ingress_broker_ptr self, caf::io::connection_handle hdl, std::uint64_t conn,
                  const wire_response& r) {
  auto& st = self->state;
  if (find_conn(self, hdl, conn) == nullptr)
    return; // the client left (and its fd may serve another client now): the answer has nowhere to go
  encode_response(r, self->wr_buf(hdl));
  self->flush(hdl);
  // While the socket is blocked, flushed answers stay in the broker's buffer: a client that sends without
  // reading would grow it without bound.
  if (auto backlog = self->wr_buf(hdl).size(); backlog > st.ctx->limits.max_write_backlog) {
    logger("ingress")->warn("closing a client that does not read its answers ({} bytes queued, limit {})",
                            backlog, st.ctx->limits.max_write_backlog);
    close_conn(self, hdl, "slow_reader");
  }
}

// While draining: drained once nothing is in flight and no frame arrived for `drain_quiet` (frames a client
// sent before the signal may still sit in the socket; they get answers too, `rejected: draining`).
constexpr auto drain_quiet = std::chrono::milliseconds(100);

void check_drained(ingress_broker_ptr self) {
  auto& st = self->state;
  if (!st.draining || st.pending > 0 || st.drain_waiters.empty())
    return;
  auto quiet_since = clock_type::now() - st.last_frame;
  if (quiet_since >= drain_quiet) {
    for (auto& rp : st.drain_waiters)
      rp.deliver(true);
    st.drain_waiters.clear();
  } else if (!st.tick_scheduled) {
    st.tick_scheduled = true;
    self->delayed_send(self, drain_quiet - quiet_since, messages::tick_atom_v);
  }
}

void answered(ingress_broker_ptr self) {
  auto& st = self->state;
  st.ctx->gate->release();
  --st.pending;
  check_drained(self);
}

/// Removes held request `seq`; nothing when the sweep (or an earlier answer) took it already.
std::optional<ingress_state::held_request> take_held(ingress_broker_ptr self, std::uint64_t seq) {
  auto& held = self->state.held;
  auto it = held.find(seq);
  if (it == held.end())
    return std::nullopt;
  auto h = std::move(it->second);
  held.erase(it);
  return h;
}

/// The connection of answered request `h`, holding one request fewer; null when it is gone.
conn_state* release_on_conn(ingress_broker_ptr self, const ingress_state::held_request& h) {
  auto* c = find_conn(self, h.hdl, h.conn);
  if (c) {
    --c->held;
    c->last_active = clock_type::now();
  }
  return c;
}

/// The controller's answer (or `error`) for held request `seq`; nothing if the sweep answered it already.
void finish_request(ingress_broker_ptr self, std::uint64_t seq, const messages::infer_response* r,
                    const std::string& error) {
  auto& st = self->state;
  auto taken = take_held(self, seq);
  if (!taken)
    return;
  auto& h = *taken;
  double held = std::chrono::duration<double>(clock_type::now() - h.t0).count();
  auto w = r ? to_wire(*r, held) : make_wire_error(h.id, messages::error_code::internal, error);
  w.id = h.id;
  record_answer(*st.ctx->metrics, "msgpack", model_label(*st.ctx, h.model), w, held);
  release_on_conn(self, h);
  write_answer(self, h.hdl, h.conn, w);
  answered(self);
}

/// The controller's answer (or `error`) for held generation `seq`; nothing if answered already.
void finish_generate(ingress_broker_ptr self, std::uint64_t seq, const messages::generate_response* r,
                     const std::string& error) {
  auto& st = self->state;
  auto taken = take_held(self, seq);
  if (!taken)
    return;
  auto& h = *taken;
  st.by_ctx_id.erase(h.ctx_id);
  if (h.requester && !r && !h.cancel_sent) // given up here (the sweep): the request's actor frees its sequence
    caf::anon_send(caf::actor_cast<caf::actor>(h.requester), messages::cancel_atom_v);
  double held = std::chrono::duration<double>(clock_type::now() - h.t0).count();
  wire_generate_response w;
  if (r) {
    w = to_wire(*r, held);
  } else {
    w.code = messages::error_code::internal;
    w.status = messages::client_status(w.code);
    w.reason = error;
  }
  w.id = h.id;
  record_generate_answer(*st.ctx->metrics, "msgpack", model_label(*st.ctx, h.model), w, held);
  if (release_on_conn(self, h)) {
    encode_generate_response(w, self->wr_buf(h.hdl));
    self->flush(h.hdl);
  }
  answered(self);
}

/// A streamed token of held generation (controller id f.id) from its request's actor.
void on_token(ingress_broker_ptr self, messages::token_frame& f) {
  auto& st = self->state;
  auto s = st.by_ctx_id.find(f.id.value);
  if (s == st.by_ctx_id.end())
    return;
  auto& h = st.held[s->second];
  h.last = clock_type::now();
  if (!h.requester)
    h.requester = self->current_sender();
  auto* c = find_conn(self, h.hdl, h.conn);
  if (!c || h.orphan) { // the client left: free its sequence (once)
    h.orphan = true;
    if (!std::exchange(h.cancel_sent, true))
      caf::anon_send(caf::actor_cast<caf::actor>(h.requester), messages::cancel_atom_v);
    return;
  }
  c->last_active = h.last;
  if (!h.stream)
    return;
  encode_token(wire_token{h.id, f.index, f.token}, self->wr_buf(h.hdl));
  self->flush(h.hdl);
  if (auto backlog = self->wr_buf(h.hdl).size(); backlog > st.ctx->limits.max_write_backlog) {
    logger("ingress")->warn("closing a streaming client that does not read ({} bytes queued, limit {})", backlog,
                            st.ctx->limits.max_write_backlog);
    close_conn(self, h.hdl, "slow_reader");
  }
}

/// The client of connection `conn` left: its generations in flight are cancelled (their KV is freed).
void cancel_generations(ingress_broker_ptr self, std::uint64_t conn) {
  for (auto& [seq, h] : self->state.held)
    if (h.generate && h.conn == conn && !h.orphan) {
      h.orphan = true;
      if (h.requester && !std::exchange(h.cancel_sent, true))
        caf::anon_send(caf::actor_cast<caf::actor>(h.requester), messages::cancel_atom_v);
    }
}

void handle_generate(ingress_broker_ptr self, caf::io::connection_handle hdl, conn_state& conn, wire_generate& g) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto refuse = [&](messages::error_code code, std::string why) {
    wire_generate_response w;
    w.id = g.id;
    w.code = code;
    w.status = messages::client_status(code);
    w.reason = std::move(why);
    record_generate_answer(*ctx.metrics, "msgpack", model_label(ctx, g.model), w, 0);
    if (find_conn(self, hdl, conn.id)) {
      encode_generate_response(w, self->wr_buf(hdl));
      self->flush(hdl);
    }
  };
  if (auto bad = check_generate(ctx, g))
    return refuse(bad->code, bad->reason);
  if (st.draining)
    return refuse(messages::error_code::draining, "draining: the server is shutting down");
  if (!ctx.gate->try_acquire())
    return refuse(messages::error_code::overload,
                  fmt::format("overload: {} requests in flight (limit {})", ctx.gate->current(), ctx.gate->max()));
  ++st.pending;
  ++conn.held;
  auto ctx_id = ctx.next_id.fetch_add(1, std::memory_order_relaxed);
  auto req = to_controller(g, ctx_id);
  req.stream = caf::actor_cast<messages::token_sink_actor>(self); // frames come here first (cancel on leave)
  auto seq = st.next_seq++;
  ingress_state::held_request h{hdl, conn.id, g.id, g.model, clock_type::now()};
  h.generate = true;
  h.stream = g.stream;
  h.ctx_id = ctx_id;
  h.last = h.t0;
  st.held.emplace(seq, std::move(h));
  st.by_ctx_id.emplace(ctx_id, seq);
  if (!st.sweep_scheduled) {
    st.sweep_scheduled = true;
    self->delayed_send(self, sweep_period, messages::timeout_atom_v);
  }
  // No fixed bound here: a generation streams for as long as its tokens take (max_new_tokens x TPOT). The
  // sweep gives up on it once no frame came for request_timeout and answers the client; the controller's
  // late answer is then dropped (finish_generate finds nothing held).
  self->request(ctx.controller, caf::infinite, messages::generate_atom_v, std::move(req))
    .then([=](messages::generate_response& r) { finish_generate(self, seq, &r, {}); },
          [=](caf::error& e) { finish_generate(self, seq, nullptr, "controller: " + self->system().render(e)); });
}

/// Answers the requests held longer than the controller may take.
void sweep(ingress_broker_ptr self) {
  auto& st = self->state;
  st.sweep_scheduled = false;
  auto now = clock_type::now();
  std::vector<std::uint64_t> late;
  for (auto& [seq, h] : st.held)
    if (now - (h.generate ? std::max(h.t0, h.last) : h.t0) > st.ctx->request_timeout)
      late.push_back(seq);
  auto why = fmt::format("controller: no answer within {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(st.ctx->request_timeout).count());
  for (auto seq : late)
    if (st.held[seq].generate)
      finish_generate(self, seq, nullptr, why);
    else
      finish_request(self, seq, nullptr, why);
  if (!st.held.empty()) {
    st.sweep_scheduled = true;
    self->delayed_send(self, sweep_period, messages::timeout_atom_v);
  }
}

void handle_frame(ingress_broker_ptr self, caf::io::connection_handle hdl, conn_state& conn,
                  std::string_view body) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  std::uint64_t id = 0;
  auto refuse = [&](const std::string& model, messages::error_code code, std::string why) {
    auto w = make_wire_error(id, code, std::move(why));
    record_answer(*ctx.metrics, "msgpack", model_label(ctx, model), w, 0);
    write_answer(self, hdl, conn.id, w);
  };
  auto any = decode_client_request(body, ctx.limits, &id);
  if (!any)
    return refuse("", messages::error_code::invalid_request, any.err().message);
  if (auto* g = std::get_if<wire_generate>(&*any))
    return handle_generate(self, hdl, conn, *g);
  auto* req = &std::get<wire_request>(*any);
  if (auto bad = check_request(ctx, req->model, req->tokens))
    return refuse(req->model, bad->code, bad->reason);
  if (st.draining)
    return refuse(req->model, messages::error_code::draining, "draining: the server is shutting down");
  if (!ctx.gate->try_acquire())
    return refuse(req->model, messages::error_code::overload,
                  fmt::format("overload: {} requests in flight (limit {})", ctx.gate->current(), ctx.gate->max()));
  ++st.pending;
  ++conn.held;
  messages::infer_request ir;
  ir.id = request_id{ctx.next_id.fetch_add(1, std::memory_order_relaxed)};
  ir.model = std::move(req->model);
  ir.tokens = std::move(req->tokens);
  if (req->slo_ms > 0)
    ir.slo = std::chrono::microseconds(static_cast<std::int64_t>(req->slo_ms * 1e3));
  ir.output = req->output;
  auto seq = st.next_seq++;
  st.held.emplace(seq, ingress_state::held_request{hdl, conn.id, id, ir.model, clock_type::now()});
  if (!st.sweep_scheduled) {
    st.sweep_scheduled = true;
    self->delayed_send(self, sweep_period, messages::timeout_atom_v);
  }
  // Finite: the sweep answers the client first (request_timeout); this bound only drops CAF's response
  // handler of an answer that never comes (a controller that kept the request), so nothing stays behind.
  self->request(ctx.controller, ctx.request_timeout + 2 * sweep_period, messages::infer_atom_v, std::move(ir))
    .then([=](messages::infer_response& r) { finish_request(self, seq, &r, {}); },
          [=](caf::error& e) { finish_request(self, seq, nullptr, "controller: " + self->system().render(e)); });
}

/// Closes connections idle longer than limits.idle_timeout (nothing held, no bytes); re-arms while any
/// connection is open.
void idle_check(ingress_broker_ptr self) {
  auto& st = self->state;
  st.idle_scheduled = false;
  auto limit = st.ctx->limits.idle_timeout;
  if (limit.count() <= 0 || st.conns.empty())
    return;
  auto now = clock_type::now();
  std::vector<caf::io::connection_handle> idle;
  for (auto& [hdl, c] : st.conns)
    if (c->held == 0 && now - c->last_active >= limit)
      idle.push_back(hdl);
  for (auto hdl : idle)
    close_conn(self, hdl, "idle");
  if (!st.conns.empty()) {
    st.idle_scheduled = true;
    self->delayed_send(self, std::max<std::chrono::milliseconds>(limit / 4, std::chrono::milliseconds(10)),
                       idle_atom::value);
  }
}

caf::behavior ingress_broker(ingress_broker_ptr self, std::shared_ptr<ingress_context> ctx) {
  self->state.ctx = std::move(ctx);
  return {
    [=](caf::publish_atom, const std::string& bind, std::uint16_t port) -> caf::result<std::uint16_t> {
      auto r = self->add_tcp_doorman(port, bind.c_str(), true);
      if (!r)
        return std::move(r.error());
      self->state.acceptor = r->first;
      self->state.listening = true;
      return r->second;
    },
    // A socket bound and listening already (bind_listen_socket): the broker takes it over.
    [=](caf::publish_atom, std::int32_t fd, std::uint16_t port) -> std::uint16_t {
      self->state.acceptor = self->add_doorman(static_cast<caf::io::network::native_socket>(fd));
      self->state.listening = true;
      return port;
    },
    [=](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      if (st.draining) {
        self->close(msg.handle);
        return;
      }
      if (st.conns.size() >= st.ctx->limits.max_connections) {
        // Refused at once: memory stays bounded whatever the number of clients.
        st.ctx->metrics->counter_add("sy_ingress_refused_connections_total", {{"protocol", "msgpack"}});
        self->close(msg.handle);
        return;
      }
      st.conns.emplace(msg.handle, std::make_unique<conn_state>(st.next_conn++, st.ctx->limits.max_frame_bytes));
      st.ctx->metrics->gauge_add("sy_ingress_connections", {{"protocol", "msgpack"}}, 1);
      // 16 KiB reads: the buffer is allocated per connection (64 KiB made 1,024 idle clients cost 66 MB).
      self->configure_read(msg.handle, caf::io::receive_policy::at_most(16 * 1024));
      if (!st.idle_scheduled && st.ctx->limits.idle_timeout.count() > 0) {
        st.idle_scheduled = true;
        self->delayed_send(self, std::max<std::chrono::milliseconds>(st.ctx->limits.idle_timeout / 4,
                                                                     std::chrono::milliseconds(10)),
                           idle_atom::value);
      }
    },
    [=](caf::io::new_data_msg& msg) {
      auto& st = self->state;
      auto it = st.conns.find(msg.handle);
      if (it == st.conns.end())
        return;
      st.last_frame = clock_type::now();
      auto* conn = it->second.get();
      auto conn_id = conn->id;
      conn->last_active = st.last_frame;
      conn->dec.feed(msg.buf.data(), msg.buf.size());
      for (auto ev = conn->dec.next(); ev.kind != frame_decoder::event::none; ev = conn->dec.next()) {
        if (ev.kind == frame_decoder::event::oversized) {
          // One answer, then the connection is closed: skipping the announced body (up to 4 GiB) would
          // leave the client's later requests unanswered.
          auto w = make_wire_error(0, messages::error_code::invalid_request,
                                   fmt::format("frame of {} bytes exceeds the limit of {} bytes; closing the "
                                               "connection", ev.length, st.ctx->limits.max_frame_bytes));
          record_answer(*st.ctx->metrics, "msgpack", "", w, 0);
          write_answer(self, msg.handle, conn_id, w);
          close_conn(self, msg.handle, "oversized_frame");
          return;
        }
        handle_frame(self, msg.handle, *conn, ev.body);
        if (find_conn(self, msg.handle, conn_id) == nullptr)
          return; // closed (slow reader): its decoder is gone
      }
    },
    [=](const caf::io::connection_closed_msg& msg) {
      auto it = self->state.conns.find(msg.handle);
      if (it == self->state.conns.end())
        return;
      if (it->second->held > 0)
        cancel_generations(self, it->second->id);
      self->state.conns.erase(it);
      self->state.ctx->metrics->gauge_add("sy_ingress_connections", {{"protocol", "msgpack"}}, -1);
    },
    [=](messages::token_atom, messages::token_frame& f) { on_token(self, f); },
    [=](const caf::io::acceptor_closed_msg&) { self->state.listening = false; },
    [=](messages::drain_atom) -> caf::result<bool> {
      auto& st = self->state;
      st.draining = true;
      st.last_frame = clock_type::now(); // frames already sent may not have been read yet: wait for quiet
      if (st.listening) {
        self->close(st.acceptor);
        st.listening = false;
      }
      auto rp = self->make_response_promise<bool>();
      st.drain_waiters.push_back(rp);
      check_drained(self);
      return rp;
    },
    [=](messages::tick_atom) {
      self->state.tick_scheduled = false;
      check_drained(self);
    },
    [=](messages::timeout_atom) { sweep(self); },
    [=](idle_atom) { idle_check(self); },
    [=](caf::get_atom) -> std::int64_t { return self->state.pending; },
  };
}

} // namespace

void describe_ingress_metrics(metrics_registry& m) {
  describe_generate_metrics(m);
  m.describe_counter("sy_ingress_requests_total", "Requests answered by the ingress, by protocol, model and status");
  m.describe_histogram("sy_ingress_latency_seconds", "Time the ingress held an ok request (receive to answer)",
                       metrics_registry::default_latency_buckets());
  m.describe_counter("sy_ingress_rejected_total", "Requests not served, by status and error code");
  m.describe_gauge("sy_ingress_connections", "Open client connections");
  m.describe_counter("sy_ingress_closed_connections_total",
                     "Client connections closed by the server, by protocol and why (idle, oversized_frame, slow_reader)");
  m.describe_counter("sy_ingress_refused_connections_total", "Client connections refused: the connection limit");
}

void record_answer(metrics_registry& m, const std::string& protocol, const std::string& model,
                   const wire_response& w, double latency_s) {
  const char* status = messages::client_status(w.code);
  m.counter_add("sy_ingress_requests_total", {{"protocol", protocol}, {"model", model}, {"status", status}});
  if (w.code == messages::error_code::none)
    m.histogram_observe("sy_ingress_latency_seconds", {{"model", model}}, latency_s);
  else
    m.counter_add("sy_ingress_rejected_total", {{"status", status}, {"reason", messages::to_string(w.code)}});
}

std::optional<refusal> check_request(const ingress_context& ctx, const std::string& model,
                                     const std::vector<std::int32_t>& tokens) {
  if (ctx.models.empty())
    return std::nullopt;
  auto it = ctx.models.find(model);
  if (it == ctx.models.end()) {
    // The name is client input of any size: quote a bounded prefix.
    auto shown = model.size() > 64 ? model.substr(0, 64) + "..." : model;
    return refusal{messages::error_code::unknown_model, fmt::format("unknown model '{}'", shown)};
  }
  const auto& lim = it->second;
  if (lim.max_seq > 0 && static_cast<std::int64_t>(tokens.size()) > lim.max_seq)
    return refusal{messages::error_code::invalid_request,
                   fmt::format("'tokens': {} tokens exceed model {}'s max_seq of {}", tokens.size(), model,
                               lim.max_seq)};
  if (lim.vocab > 0)
    for (std::size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] < 0 || tokens[i] >= lim.vocab)
        return refusal{messages::error_code::invalid_request,
                       fmt::format("'tokens'[{}]: {} is outside model {}'s vocabulary [0, {})", i, tokens[i],
                                   model, lim.vocab)};
  return std::nullopt;
}

std::string model_label(const ingress_context& ctx, const std::string& model) {
  if (model.empty())
    return model;
  if (ctx.models.empty() ? model.size() <= 64 : ctx.models.count(model) > 0)
    return model;
  return "unknown";
}

wire_response to_wire(const messages::infer_response& r, double ingress_s) {
  wire_response w;
  w.id = r.id.value;
  w.code = messages::code_of(r);
  w.status = messages::client_status(w.code);
  w.reason = r.reason;
  w.output.data.assign(r.output.bytes.begin(), r.output.bytes.end());
  w.output.dtype = messages::to_string(r.output.type);
  w.output.shape = r.output.shape;
  const auto& t = r.timings;
  const messages::time_point none{};
  if (t.arrival != none) {
    if (t.dispatch != none)
      w.timings.emplace_back("dispatch_ms", ms_between(t.arrival, t.dispatch));
    if (t.start != none)
      w.timings.emplace_back("start_ms", ms_between(t.arrival, t.start));
    if (t.finish != none)
      w.timings.emplace_back("finish_ms", ms_between(t.arrival, t.finish));
  }
  w.timings.emplace_back("load_wait_ms", std::chrono::duration<double, std::milli>(t.load_wait).count());
  w.timings.emplace_back("ingress_ms", ingress_s * 1e3);
  w.group = t.group;
  w.batch_size = t.batch_size;
  return w;
}

result<std::pair<caf::actor, std::uint16_t>> start_msgpack_ingress(caf::actor_system& sys,
                                                                   std::shared_ptr<ingress_context> ctx,
                                                                   const std::string& bind,
                                                                   std::uint16_t port) {
  auto broker = sys.middleman().spawn_broker(ingress_broker, std::move(ctx));
  caf::scoped_actor self{sys};
  result<std::pair<caf::actor, std::uint16_t>> out = make_error("ingress", "no answer from the broker");
  self->request(broker, std::chrono::seconds(10), caf::publish_atom::value, bind, port)
    .receive([&](std::uint16_t bound) { out = std::make_pair(broker, bound); },
             [&](caf::error& e) {
               out = make_error("ingress", fmt::format("cannot listen on {}:{}: {}", bind, port, sys.render(e)));
               self->send_exit(broker, caf::exit_reason::user_shutdown);
             });
  return out;
}

result<std::pair<caf::actor, std::uint16_t>> start_msgpack_ingress(caf::actor_system& sys,
                                                                   std::shared_ptr<ingress_context> ctx,
                                                                   listen_socket socket) {
  if (!socket.valid())
    return make_error("ingress", "start_msgpack_ingress: no listening socket");
  auto broker = sys.middleman().spawn_broker(ingress_broker, std::move(ctx));
  const std::uint16_t port = socket.port();
  const auto fd = static_cast<std::int32_t>(socket.release()); // the broker's doorman owns it from here
  caf::scoped_actor self{sys};
  result<std::pair<caf::actor, std::uint16_t>> out = make_error("ingress", "no answer from the broker");
  self->request(broker, std::chrono::seconds(10), caf::publish_atom::value, fd, port)
    .receive([&](std::uint16_t bound) { out = std::make_pair(broker, bound); },
             [&](caf::error& e) {
               out = make_error("ingress", fmt::format("cannot serve on port {}: {}", port, sys.render(e)));
               self->send_exit(broker, caf::exit_reason::user_shutdown);
             });
  return out;
}

bool drain_ingress(caf::actor_system& sys, const caf::actor& ingress, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  bool ok = false;
  self->request(ingress, timeout, messages::drain_atom_v)
    .receive([&](bool done) { ok = done; }, [&](caf::error&) { ok = false; });
  return ok;
}

} // namespace sy::actors
