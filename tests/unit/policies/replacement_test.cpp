// The re-placement policies (policies/replacement/replacement.hpp), table-driven: when to re-plan, when to
// apply the planner's candidate.
#include <catch2/catch.hpp>

#include "policies/runtime_registry.hpp"

using namespace sy::policies;

namespace {

replacement_view at(double since, std::map<std::string, double> observed, std::map<std::string, double> assumed = {}) {
  replacement_view v;
  v.since_replan_s = since;
  v.window_s = 10;
  v.observed_rps = std::move(observed);
  v.assumed_rps = std::move(assumed);
  return v;
}

replacement_view candidate(double served, double cand) {
  replacement_view v = at(100, {{"a", 1}});
  v.has_candidate = true;
  v.served_score = served;
  v.candidate_score = cand;
  return v;
}

} // namespace

TEST_CASE("windowed re-plans once per interval when requests arrived, and applies a candidate better by the margin") {
  windowed_replacement_policy p{10, 0.02};
  struct row {
    replacement_view v;
    bool act;
  };
  const row rows[] = {
    {at(9.9, {{"a", 3}}), false},           // the interval has not passed
    {at(10, {{"a", 3}}), true},             // it has
    {at(50, {}), false},                    // nothing arrived: nothing to plan for
    {candidate(0.80, 0.83), true},          // better by more than 0.02
    {candidate(0.80, 0.82), false},         // by exactly the margin: keep
    {candidate(0.90, 0.70), false},         // worse
  };
  for (const auto& r : rows) {
    auto d = p(r.v);
    CHECK(d.act == r.act);
    CHECK_FALSE(d.reason.empty());
  }
}

TEST_CASE("drift re-plans when a model's rate leaves the plan's by the threshold, not more often than min_interval") {
  drift_replacement_policy p{0.5, 5, 0.0};
  const std::map<std::string, double> assumed{{"a", 10}, {"b", 2}};
  CHECK_FALSE(p(at(60, {{"a", 11}, {"b", 2.5}}, assumed)).act); // within 50%
  auto d = p(at(60, {{"a", 2}, {"b", 10}}, assumed));             // the popularity flipped
  CHECK(d.act);
  CHECK(d.reason.find("model b") != std::string::npos);          // b moved most: 8 / max(2, 0.6)
  CHECK_FALSE(p(at(4, {{"a", 2}, {"b", 10}}, assumed)).act);      // too soon after the last re-plan
  CHECK(p(at(60, {{"a", 1}}, {})).act);                           // unknown assumptions: plan once
  CHECK_FALSE(p(at(60, {}, assumed)).act);                        // nothing arrived
  // a model the plan never saw counts against 5% of the assumed total
  CHECK(rate_drift({{"a", 10}, {"b", 2}, {"c", 1}}, assumed).second == "c");
  CHECK(p(candidate(0.5, 0.6)).act);
  CHECK_FALSE(p(candidate(0.6, 0.6)).act);
}

TEST_CASE("the registry builds the re-placement policies by name and refuses bad parameters") {
  CHECK(make_replacement("windowed", {{"interval_s", 5}}).ok());
  CHECK(make_replacement("drift", {{"threshold", 0.2}, {"min_interval_s", 1}}).ok());
  CHECK(make_replacement("none").ok());
  auto bad = make_replacement("windowed", {{"margin", -1}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("replacement.margin: expected a number >= 0") != std::string::npos);
  auto unknown = make_replacement("sometimes");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.err().message == "replacement: expected one of windowed, drift, none, found \"sometimes\"");
  auto none = make_replacement("none");
  CHECK_FALSE((*none)(at(1000, {{"a", 100}})).act);
}
