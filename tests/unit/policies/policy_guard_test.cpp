// The guard around plug-in policies: a policy that throws or returns an invalid decision is replaced by the
// built-in default for that decision, and the fault is counted.
#include <catch2/catch.hpp>

#include "policies/internal/policy_guard.hpp"
#include "policies/isolation/policy_host.hpp"
#include "policies/runtime_registry.hpp"
#include "policies/policy_registry.hpp"

using namespace sy;
using namespace sy::policies;
using namespace std::chrono_literals;

namespace {

struct faulty {
  policy_registry reg;
  faulty() { REQUIRE(reg.load_plugin(SY_BAD_FAULTY_PLUGIN).ok()); }
  std::uint64_t count(const std::string& key) {
    auto c = reg.faults()->counts();
    auto it = c.find(key);
    return it == c.end() ? 0 : it->second;
  }
};

} // namespace

TEST_CASE("a dispatch policy that throws or names a group that is not a candidate falls back to earliest-free") {
  faulty f;
  std::vector<dispatch_candidate> cs = {{3, 9ms, 0ns, 1}, {7, 1ms, 0ns, 4}};
  auto throws = f.reg.make_dispatch("always-throws");
  REQUIRE(throws);
  CHECK((*throws)(cs) == 7); // earliest-free's choice
  CHECK((*throws)(cs) == 7);
  CHECK(f.count("dispatch/always-throws/threw") == 2);
  auto ghost = f.reg.make_dispatch("no-such-group");
  REQUIRE(ghost);
  CHECK((*ghost)(cs) == 7);
  CHECK(f.count("dispatch/no-such-group/invalid") == 1);
  auto refused = f.reg.make_dispatch("refuses");
  REQUIRE_FALSE(refused);
  CHECK(refused.err().message.find("refused its parameters: never happy") != std::string::npos);
}

TEST_CASE("batching, eviction and admission plug-in faults fall back to none, lru and slo") {
  faulty f;
  auto b = f.reg.make_batching("takes-too-many");
  REQUIRE(b);
  auto bd = (*b)(batching_view{{10ms, 10ms}, {}});
  CHECK(bd.take == 1); // none: one request per batch
  CHECK(f.count("batching/takes-too-many/invalid") == 1);

  auto e = f.reg.make_eviction("evicts-ghost");
  REQUIRE(e);
  eviction_view v;
  v.needed_bytes = 10;
  v.free_bytes = 0;
  v.resident = {{"old", 10, 1, 0, false, 0}, {"new", 10, 5, 0, false, 0}};
  auto ed = (*e)(v);
  CHECK(ed.possible);
  CHECK(ed.victims == std::vector<std::string>{"old"}); // lru
  CHECK(f.count("eviction/evicts-ghost/invalid") == 1);

  auto a = f.reg.make_admission("throws-int");
  REQUIRE(a);
  CHECK_FALSE((*a)(admission_view{1ms, 5ms, 0ns, 1ms}).accept); // slo rejects: cannot finish in time
  CHECK((*a)(admission_view{1s, 5ms, 0ns, 1ms}).accept);
  CHECK(f.count("admission/throws-int/threw") == 2);
  auto silent = f.reg.make_admission("rejects-silently");
  REQUIRE(silent);
  auto sd = (*silent)(admission_view{1s, 0ns, 0ns, 1ms});
  CHECK_FALSE(sd.accept);
  CHECK(sd.reason == "rejected by admission policy rejects-silently"); // a reason is always given
}

TEST_CASE("decisions are checked against their view") {
  using internal::check_decision;
  std::vector<dispatch_candidate> cs = {{2, 0ns, 0ns, 0}, {5, 0ns, 0ns, 0}};
  CHECK(check_decision(cs, 5).empty());
  CHECK(check_decision(cs, 3) == "returned group 3, not one of the candidates (2, 5)");
  CHECK(check_decision(cs, -1) == "returned group -1, not one of the candidates (2, 5)");
  CHECK(check_decision(std::vector<dispatch_candidate>{}, -1).empty());

  batching_view bv{{1ms, 1ms, 1ms}, {}};
  CHECK(check_decision(bv, batching_decision{2, {0}}).empty());
  CHECK(check_decision(bv, batching_decision{3, {0}}) == "take 3 exceeds the 2 live queued requests");
  CHECK(check_decision(bv, batching_decision{1, {3}}) == "expired index 3 is outside the queue of 3");
  CHECK(check_decision(bv, batching_decision{1, {1, 1}}) == "expired index 1 twice");
  CHECK(check_decision(bv, batching_decision{0, {}}) == "took nothing from a queue of 3");

  eviction_view ev;
  ev.needed_bytes = 20;
  ev.free_bytes = 5;
  ev.resident = {{"a", 10, 1, 0, false, 0}, {"b", 10, 2, 2, false, 0}, {"c", 10, 3, 0, true, 0}, {"d", 10, 4, 0, false, 0}};
  CHECK(check_decision(ev, eviction_decision{true, {"a", "d"}}).empty());
  CHECK(check_decision(ev, eviction_decision{true, {"a"}}) == "victims free 15 bytes, 20 needed");
  CHECK(check_decision(ev, eviction_decision{true, {"b"}}) == "victim \"b\" is in demand (queued requests)");
  CHECK(check_decision(ev, eviction_decision{true, {"c"}}) == "victim \"c\" is pinned (loading or explicitly loaded)");
  CHECK(check_decision(ev, eviction_decision{true, {"a", "a"}}) == "victim \"a\" twice");
  CHECK(check_decision(ev, eviction_decision{false, {}}).empty());
}

TEST_CASE("an isolated re-placement policy whose host fails is decided by none and the reason says so") {
  auto faults = std::make_shared<policy_faults>();
  int calls = 0;
  replacement_fn host_down = [&calls](const replacement_view&) -> replacement_decision {
    ++calls;
    throw isolation::isolated_fault("timeout", "its policy host (/x/libp.so) did not decide within 50 ms");
  };
  auto guarded = internal::guard(internal::guard_context{nullptr, "p", faults}, host_down, *make_replacement("none"));
  replacement_view v;
  v.observed_rps = {{"m", 3}};
  auto first = guarded(v); // "re-plan now?"
  CHECK_FALSE(first.act);
  CHECK(first.reason == "the built-in none decided for replacement policy \"p\" (timeout: its policy host (/x/libp.so) "
                        "did not decide within 50 ms): no re-plan");
  v.has_candidate = true; // "apply the candidate?"
  v.candidate_score = 1;
  auto second = guarded(v);
  CHECK_FALSE(second.act);
  CHECK_THAT(second.reason, Catch::EndsWith("): the placement is kept"));
  CHECK(calls == 2);
  CHECK(faults->counts().at("replacement/p/timeout") == 2);
}
