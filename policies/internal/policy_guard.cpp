#include "policies/internal/policy_guard.hpp"

#include <exception>
#include <set>

#include "messages/logging.hpp"
#include "policies/isolation/policy_host.hpp"

namespace sy::policies::internal {

namespace {

const char* kind_of(const admission_view*) { return "admission"; }
const char* kind_of(const std::vector<dispatch_candidate>*) { return "dispatch"; }
const char* kind_of(const batching_view*) { return "batching"; }
const char* kind_of(const eviction_view*) { return "eviction"; }
const char* kind_of(const replacement_view*) { return "replacement"; }

bool power_of_ten(std::uint64_t n) {
  while (n >= 10 && n % 10 == 0)
    n /= 10;
  return n == 1;
}

/// The guarded policy. Member order matters: `library` is destroyed last, after the plug-in's objects.
template <class Fn, class View>
struct guarded {
  std::shared_ptr<plugin_library> library;
  Fn inner;
  Fn fallback;
  std::string name;
  std::shared_ptr<policy_faults> faults;

  void fault(const char* what, const std::string& detail, const char* instead) const {
    const char* kind = kind_of(static_cast<const View*>(nullptr));
    auto n = faults->add(kind, name, what);
    if (power_of_ten(n)) // the 1st, 10th, 100th, ... fault of this policy
      logger("policies")->warn("{} policy \"{}\" {}: {}; {} ({} time{} so far)", kind, name, what, detail, instead,
                               n, n == 1 ? "" : "s");
  }

  auto operator()(const View& v) const -> decltype(fallback(v)) {
    const char* what = nullptr; // the fault, when there is one
    std::string detail;
    try {
      auto d = inner(v);
      auto why = check_decision(v, d);
      if (why.empty()) {
        if constexpr (std::is_same_v<View, admission_view>)
          if (!d.accept && d.reason.empty())
            d.reason = "rejected by admission policy " + name;
        return d;
      }
      what = "invalid", detail = why;
    } catch (const isolation::isolated_fault& e) { // an isolated plug-in's host: timeout, crash, unavailable
      what = e.fault == "timeout" ? "timeout" : e.fault == "crash" ? "crash" : e.fault == "unavailable" ? "unavailable"
                                                                                                        : "error";
      detail = e.what();
    } catch (const std::exception& e) {
      what = "threw", detail = std::string{"an exception: "} + e.what();
    } catch (...) {
      what = "threw", detail = "a non-standard exception";
    }
    auto d = fallback(v);
    if constexpr (std::is_same_v<View, replacement_view>) { // the log and GET /v2/placement say who decided
      const char* outcome = v.has_candidate ? "the placement is kept" : "no re-plan";
      fault(what, detail, v.has_candidate ? "the built-in none decided instead: the placement is kept"
                                          : "the built-in none decided instead: no re-plan");
      d.reason = "the built-in none decided for " + std::string{kind_of(&v)} + " policy \"" + name + "\" (" + what +
                 ": " + detail + "): " + outcome;
    } else {
      fault(what, detail, "the built-in default decided instead");
    }
    return d;
  }
};

template <class Fn, class View>
Fn make_guard(guard_context ctx, Fn inner, Fn fallback) {
  return Fn{guarded<Fn, View>{std::move(ctx.library), std::move(inner), std::move(fallback), std::move(ctx.name),
                              std::move(ctx.faults)}};
}

} // namespace

admission_fn guard(guard_context ctx, admission_fn inner, admission_fn fallback) {
  return make_guard<admission_fn, admission_view>(std::move(ctx), std::move(inner), std::move(fallback));
}
dispatch_fn guard(guard_context ctx, dispatch_fn inner, dispatch_fn fallback) {
  return make_guard<dispatch_fn, std::vector<dispatch_candidate>>(std::move(ctx), std::move(inner), std::move(fallback));
}
batching_fn guard(guard_context ctx, batching_fn inner, batching_fn fallback) {
  return make_guard<batching_fn, batching_view>(std::move(ctx), std::move(inner), std::move(fallback));
}
replacement_fn guard(guard_context ctx, replacement_fn inner, replacement_fn fallback) {
  return make_guard<replacement_fn, replacement_view>(std::move(ctx), std::move(inner), std::move(fallback));
}

std::string check_decision(const replacement_view&, const replacement_decision&) {
  return {};
}

eviction_fn guard(guard_context ctx, eviction_fn inner, eviction_fn fallback) {
  return make_guard<eviction_fn, eviction_view>(std::move(ctx), std::move(inner), std::move(fallback));
}

std::string check_decision(const admission_view&, const admission_decision&) {
  return {}; // any accept/reject is valid; an empty reason is filled in by the guard
}

std::string check_decision(const std::vector<dispatch_candidate>& v, int d) {
  std::string groups;
  for (const auto& c : v) {
    if (c.group == d)
      return {};
    groups += (groups.empty() ? "" : ", ") + std::to_string(c.group);
  }
  if (v.empty())
    return d == -1 ? std::string{} : "returned group " + std::to_string(d) + " with no candidates";
  return "returned group " + std::to_string(d) + ", not one of the candidates (" + groups + ")";
}

std::string check_decision(const batching_view& v, const batching_decision& d) {
  std::set<std::size_t> expired;
  for (auto e : d.expired) {
    if (e >= v.time_left.size())
      return "expired index " + std::to_string(e) + " is outside the queue of " + std::to_string(v.time_left.size());
    if (!expired.insert(e).second)
      return "expired index " + std::to_string(e) + " twice";
  }
  auto live = v.time_left.size() - expired.size();
  if (d.take > live)
    return "take " + std::to_string(d.take) + " exceeds the " + std::to_string(live) + " live queued requests";
  if (d.take == 0 && expired.empty() && !v.time_left.empty())
    return "took nothing from a queue of " + std::to_string(v.time_left.size());
  return {};
}

std::string check_decision(const eviction_view& v, const eviction_decision& d) {
  if (!d.possible)
    return {};
  std::int64_t free = v.free_bytes;
  std::set<std::string> seen;
  for (const auto& victim : d.victims) {
    const eviction_candidate* c = nullptr;
    for (const auto& r : v.resident)
      if (r.model == victim)
        c = &r;
    if (!c)
      return "victim \"" + victim + "\" is not resident";
    if (c->pinned || c->queued > 0)
      return "victim \"" + victim + "\" is " + (c->pinned ? "pinned (loading or explicitly loaded)" : "in demand (queued requests)");
    if (!seen.insert(victim).second)
      return "victim \"" + victim + "\" twice";
    free += c->bytes;
  }
  if (free < v.needed_bytes)
    return "victims free " + std::to_string(free) + " bytes, " + std::to_string(v.needed_bytes) + " needed";
  return {};
}

} // namespace sy::policies::internal
