#include "policies/isolation/policy_wire.hpp"

#include <cmath>
#include <limits>

#include "messages/json.hpp"

namespace sy::policies::isolation {

namespace {

using json::value;

value ns(std::chrono::nanoseconds d) { return value(static_cast<std::int64_t>(d.count())); }

value header(const std::string& kind, const std::string& name, const policy_numbers& params) {
  auto p = value::make_object();
  for (const auto& [k, v] : params)
    p.set(k, value(v));
  auto out = value::make_object();
  out.set("kind", value(kind)).set("name", value(name)).set("params", std::move(p));
  return out;
}

std::string with_view(value head, value view) {
  head.set("view", std::move(view));
  return json::write(head);
}

error bad(const std::string& what, const value* found) {
  return make_error("policy-wire", "expected " + what + ", found " +
                                     (found ? std::string{json::kind_name(found->type())} : "nothing"));
}

/// An integer member / element, exact.
bool int_of(const value* v, std::int64_t& out) {
  if (!v || !v->is_number())
    return false;
  auto i = v->as_int64();
  if (!i)
    return false;
  out = *i;
  return true;
}

bool ns_of(const value* v, std::chrono::nanoseconds& out) {
  std::int64_t i = 0;
  if (!int_of(v, i))
    return false;
  out = std::chrono::nanoseconds(i);
  return true;
}

const value* elem(const value& a, std::size_t i) {
  return a.is_array() && i < a.as_array().size() ? &a.as_array()[i] : nullptr;
}

result<value> parse(const std::string& text) {
  auto v = json::parse(text);
  if (!v)
    return make_error("policy-wire", v.err().message);
  return std::move(*v);
}

} // namespace

std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const admission_view& v) {
  auto a = value::make_array();
  a.push(ns(v.time_left)).push(ns(v.queue_wait)).push(ns(v.pending_load)).push(ns(v.service));
  return with_view(header(kind, name, params), std::move(a));
}

std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const std::vector<dispatch_candidate>& v) {
  auto a = value::make_array();
  for (const auto& c : v) {
    auto e = value::make_array();
    e.push(value(static_cast<std::int64_t>(c.group))).push(ns(c.free_in)).push(ns(c.load)).push(value(c.queued));
    a.push(std::move(e));
  }
  return with_view(header(kind, name, params), std::move(a));
}

std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const batching_view& v) {
  auto t = value::make_array();
  for (auto d : v.time_left)
    t.push(ns(d));
  auto l = value::make_array();
  for (auto d : v.latency)
    l.push(ns(d));
  auto o = value::make_object();
  o.set("time_left", std::move(t)).set("latency", std::move(l));
  return with_view(header(kind, name, params), std::move(o));
}

std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const eviction_view& v) {
  auto r = value::make_array();
  for (const auto& c : v.resident) {
    auto e = value::make_array();
    e.push(value(c.model)).push(value(c.bytes)).push(value(static_cast<std::int64_t>(c.last_used)))
      .push(value(c.queued)).push(value(c.pinned)).push(value(c.rate)).push(value(c.load_s)).push(value(c.in_flight));
    r.push(std::move(e));
  }
  auto o = value::make_object();
  o.set("needed", value(v.needed_bytes)).set("free", value(v.free_bytes)).set("resident", std::move(r));
  return with_view(header(kind, name, params), std::move(o));
}

std::string encode_request(const std::string& kind, const std::string& name, const policy_numbers& params,
                           const replacement_view& v) {
  auto rates = [](const std::map<std::string, double>& m) {
    auto o = value::make_object();
    for (const auto& [model, rps] : m)
      o.set(model, value(rps));
    return o;
  };
  auto o = value::make_object();
  o.set("since_replan_s", value(v.since_replan_s)).set("window_s", value(v.window_s));
  o.set("observed", rates(v.observed_rps)).set("assumed", rates(v.assumed_rps));
  o.set("has_candidate", value(v.has_candidate));
  o.set("served_score", value(v.served_score)).set("candidate_score", value(v.candidate_score));
  return with_view(header(kind, name, params), std::move(o));
}

result<decision_request> decode_request(const std::string& text) {
  auto v = parse(text);
  if (!v)
    return v.err();
  decision_request out;
  auto* kind = v->get("kind");
  auto* name = v->get("name");
  auto* params = v->get("params");
  auto* view = v->get("view");
  if (!kind || !kind->is_string())
    return bad("a string kind", kind);
  if (!name || !name->is_string())
    return bad("a string name", name);
  if (!params || !params->is_object())
    return bad("an object of params", params);
  if (!view)
    return bad("a view", view);
  out.kind = kind->as_string();
  out.name = name->as_string();
  for (const auto& [k, p] : params->as_object()) {
    if (!p.is_number())
      return bad("a number for param " + k, &p);
    out.params[k] = p.as_number();
  }
  out.view = json::write(*view);
  return out;
}

result<std::string> run_encoded(const runtime_policy& policy, const std::string& view_json) {
  auto v = parse(view_json);
  if (!v)
    return v.err();
  if (auto* f = std::get_if<admission_fn>(&policy.fn)) {
    admission_view view;
    if (!ns_of(elem(*v, 0), view.time_left) || !ns_of(elem(*v, 1), view.queue_wait) ||
        !ns_of(elem(*v, 2), view.pending_load) || !ns_of(elem(*v, 3), view.service))
      return bad("an admission view [4 integers]", &*v);
    auto d = (*f)(view);
    auto o = value::make_object();
    o.set("accept", value(d.accept)).set("reason", value(d.reason));
    return json::write(o);
  }
  if (auto* f = std::get_if<dispatch_fn>(&policy.fn)) {
    if (!v->is_array())
      return bad("a dispatch view (a list)", &*v);
    std::vector<dispatch_candidate> cs;
    for (const auto& e : v->as_array()) {
      dispatch_candidate c;
      std::int64_t group = 0;
      if (!int_of(elem(e, 0), group) || !ns_of(elem(e, 1), c.free_in) || !ns_of(elem(e, 2), c.load) ||
          !int_of(elem(e, 3), c.queued) || group < std::numeric_limits<int>::min() ||
          group > std::numeric_limits<int>::max())
        return bad("a dispatch candidate [group, free_in, load, queued]", &e);
      c.group = static_cast<int>(group);
      cs.push_back(c);
    }
    return json::write(value(static_cast<std::int64_t>((*f)(cs))));
  }
  if (auto* f = std::get_if<batching_fn>(&policy.fn)) {
    batching_view view;
    auto* t = v->get("time_left");
    auto* l = v->get("latency");
    if (!t || !t->is_array() || !l || !l->is_array())
      return bad("a batching view {time_left, latency}", &*v);
    for (const auto& e : t->as_array()) {
      std::chrono::nanoseconds d{};
      if (!ns_of(&e, d))
        return bad("an integer time_left", &e);
      view.time_left.push_back(d);
    }
    for (const auto& e : l->as_array()) {
      std::chrono::nanoseconds d{};
      if (!ns_of(&e, d))
        return bad("an integer latency", &e);
      view.latency.push_back(d);
    }
    auto d = (*f)(view);
    auto ex = value::make_array();
    for (auto i : d.expired)
      ex.push(value(static_cast<std::int64_t>(i)));
    auto o = value::make_object();
    o.set("take", value(static_cast<std::int64_t>(d.take))).set("expired", std::move(ex));
    return json::write(o);
  }
  auto* f = std::get_if<eviction_fn>(&policy.fn);
  eviction_view view;
  auto* r = v->get("resident");
  if (!int_of(v->get("needed"), view.needed_bytes) || !int_of(v->get("free"), view.free_bytes) || !r ||
      !r->is_array())
    return bad("an eviction view {needed, free, resident}", &*v);
  for (const auto& e : r->as_array()) {
    eviction_candidate c;
    std::int64_t last = 0;
    auto* model = elem(e, 0);
    auto* pinned = elem(e, 4);
    auto* rate = elem(e, 5);
    auto* load = elem(e, 6);
    if (!model || !model->is_string() || !int_of(elem(e, 1), c.bytes) || !int_of(elem(e, 2), last) ||
        !int_of(elem(e, 3), c.queued) || !pinned || !pinned->is_bool() || !rate || !rate->is_number() || !load ||
        !load->is_number() || !int_of(elem(e, 7), c.in_flight))
      return bad("an eviction candidate [model, bytes, last_used, queued, pinned, rate, load_s, in_flight]", &e);
    c.model = model->as_string();
    c.last_used = static_cast<std::uint64_t>(last);
    c.pinned = pinned->as_bool();
    c.rate = rate->as_number();
    c.load_s = load->as_number();
    view.resident.push_back(std::move(c));
  }
  auto d = (*f)(view);
  auto victims = value::make_array();
  for (const auto& m : d.victims)
    victims.push(value(m));
  auto o = value::make_object();
  o.set("possible", value(d.possible)).set("victims", std::move(victims));
  return json::write(o);
}

result<replacement_view> decode_replacement_view(const std::string& view_json) {
  auto v = parse(view_json);
  if (!v)
    return v.err();
  if (!v->is_object())
    return bad("a replacement view (an object)", &*v);
  replacement_view out;
  auto number = [&](const char* key, double& into) -> status {
    auto* x = v->get(key);
    if (!x || !x->is_number())
      return bad(std::string{"a number "} + key + " in the replacement view", x);
    into = x->as_number();
    return {};
  };
  auto rates = [&](const char* key, std::map<std::string, double>& into) -> status {
    auto* x = v->get(key);
    if (!x || !x->is_object())
      return bad(std::string{"an object "} + key + " (model -> requests/s) in the replacement view", x);
    for (const auto& [model, rps] : x->as_object()) {
      if (!rps.is_number())
        return bad(std::string{"a number for model "} + model + " in " + key, &rps);
      into[model] = rps.as_number();
    }
    return {};
  };
  auto* has = v->get("has_candidate");
  if (auto st = number("since_replan_s", out.since_replan_s); !st)
    return st.err();
  if (auto st = number("window_s", out.window_s); !st)
    return st.err();
  if (auto st = rates("observed", out.observed_rps); !st)
    return st.err();
  if (auto st = rates("assumed", out.assumed_rps); !st)
    return st.err();
  if (!has || !has->is_bool())
    return bad("a bool has_candidate in the replacement view", has);
  out.has_candidate = has->as_bool();
  if (auto st = number("served_score", out.served_score); !st)
    return st.err();
  if (auto st = number("candidate_score", out.candidate_score); !st)
    return st.err();
  return out;
}

result<std::string> run_encoded(const replacement_fn& policy, const std::string& view_json) {
  auto view = decode_replacement_view(view_json);
  if (!view)
    return view.err();
  auto d = policy(*view);
  auto o = value::make_object();
  o.set("act", value(d.act)).set("reason", value(d.reason));
  return json::write(o);
}

result<admission_decision> decode_admission(const std::string& text) {
  auto v = parse(text);
  if (!v)
    return v.err();
  auto* accept = v->get("accept");
  auto* reason = v->get("reason");
  if (!accept || !accept->is_bool() || !reason || !reason->is_string())
    return bad("an admission decision {accept, reason}", &*v);
  return admission_decision{accept->as_bool(), reason->as_string()};
}

result<int> decode_dispatch(const std::string& text) {
  auto v = parse(text);
  if (!v)
    return v.err();
  std::int64_t g = 0;
  if (!int_of(&*v, g) || g < std::numeric_limits<int>::min() || g > std::numeric_limits<int>::max())
    return bad("a group index", &*v);
  return static_cast<int>(g);
}

result<batching_decision> decode_batching(const std::string& text) {
  auto v = parse(text);
  if (!v)
    return v.err();
  std::int64_t take = 0;
  auto* ex = v->get("expired");
  if (!int_of(v->get("take"), take) || take < 0 || !ex || !ex->is_array())
    return bad("a batching decision {take, expired}", &*v);
  batching_decision d;
  d.take = static_cast<std::size_t>(take);
  for (const auto& e : ex->as_array()) {
    std::int64_t i = 0;
    if (!int_of(&e, i) || i < 0)
      return bad("an index in expired", &e);
    d.expired.push_back(static_cast<std::size_t>(i));
  }
  return d;
}

result<eviction_decision> decode_eviction(const std::string& text) {
  auto v = parse(text);
  if (!v)
    return v.err();
  auto* possible = v->get("possible");
  auto* victims = v->get("victims");
  if (!possible || !possible->is_bool() || !victims || !victims->is_array())
    return bad("an eviction decision {possible, victims}", &*v);
  eviction_decision d;
  d.possible = possible->as_bool();
  for (const auto& e : victims->as_array()) {
    if (!e.is_string())
      return bad("a model name among victims", &e);
    d.victims.push_back(e.as_string());
  }
  return d;
}

} // namespace sy::policies::isolation

namespace sy::policies::isolation {

result<replacement_decision> decode_replacement(const std::string& text) {
  auto v = parse(text);
  if (!v)
    return v.err();
  if (!v->is_object())
    return bad("a replacement decision {act, reason}", &*v);
  auto* act = v->get("act");
  auto* reason = v->get("reason");
  if (!act || !act->is_bool())
    return bad("a bool act in the replacement decision", act);
  if (!reason || !reason->is_string())
    return bad("a string reason in the replacement decision", reason);
  return replacement_decision{act->as_bool(), reason->as_string()};
}

} // namespace sy::policies::isolation
