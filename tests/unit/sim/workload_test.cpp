#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "sim/workload.hpp"

using namespace sy::sim;

namespace {
struct gap_stats {
  double rate, cv;
};
gap_stats stats(const std::vector<double>& a) {
  double mean = 0, var = 0;
  std::size_t n = a.size() - 1;
  for (std::size_t i = 1; i < a.size(); ++i)
    mean += a[i] - a[i - 1];
  mean /= static_cast<double>(n);
  for (std::size_t i = 1; i < a.size(); ++i)
    var += (a[i] - a[i - 1] - mean) * (a[i] - a[i - 1] - mean);
  var /= static_cast<double>(n - 1);
  return {1 / mean, std::sqrt(var) / mean};
}
} // namespace

TEST_CASE("gamma arrivals have the requested rate and coefficient of variation") {
  for (double cv : {0.5, 1.0, 2.0, 4.0}) {
    std::mt19937_64 rng{42};
    auto a = gamma_arrivals(50, cv, 0, 4000, rng);
    REQUIRE(a.size() > 10000);
    auto s = stats(a);
    CHECK(s.rate == Approx(50).epsilon(0.05));
    CHECK(s.cv == Approx(cv).epsilon(0.08));
    CHECK(std::is_sorted(a.begin(), a.end()));
    CHECK(a.front() >= 0);
    CHECK(a.back() < 4000);
  }
}

TEST_CASE("power-law popularity gives rates proportional to (i+1)^-0.5 summing to the total") {
  auto r = power_law_rates(4, 10);
  double sum = r[0] + r[1] + r[2] + r[3];
  CHECK(sum == Approx(10));
  CHECK(r[1] / r[0] == Approx(std::pow(2.0, -0.5)));
  CHECK(r[3] / r[0] == Approx(0.5));
}

TEST_CASE("a synthetic trace splits the total rate by popularity and is reproducible by seed") {
  synth_options o;
  o.models = {"a", "b", "c", "d"};
  o.total_rate = 40;
  o.cv = 3;
  o.duration_s = 2000;
  o.seed = 9;
  auto t = synthesize(o);
  REQUIRE(t.ok());
  std::vector<double> count(4, 0);
  for (const auto& q : t->requests)
    count[static_cast<std::size_t>(q.model)] += 1;
  auto want = power_law_rates(4, 40);
  for (std::size_t m = 0; m < 4; ++m)
    CHECK(count[m] / 2000 == Approx(want[m]).epsilon(0.1));
  CHECK(std::is_sorted(t->requests.begin(), t->requests.end(),
                       [](const auto& x, const auto& y) { return x.arrival_s < y.arrival_s; }));
  auto again = synthesize(o);
  REQUIRE(again->requests.size() == t->requests.size());
  CHECK(again->requests[100].arrival_s == t->requests[100].arrival_s);
  o.seed = 10;
  CHECK(synthesize(o)->requests[100].arrival_s != t->requests[100].arrival_s);
  o.models.clear();
  CHECK_FALSE(synthesize(o).ok());
}

TEST_CASE("the native CSV parses with or without header and round-trips through the writer") {
  std::string text = "arrival_s,model,input_tokens,slo_ms\n0.5,bert,128,250\n# comment\n\n0.25,gpt,64,\n";
  auto t = parse_csv(text, "t.csv");
  REQUIRE(t.ok());
  REQUIRE(t->requests.size() == 2);
  CHECK(t->models == std::vector<std::string>{"bert", "gpt"});
  CHECK(t->requests[0].arrival_s == 0.25); // sorted
  CHECK(t->requests[0].model == 1);
  CHECK(t->requests[1].slo_s == Approx(0.25));
  auto back = parse_csv(to_csv(*t), "back.csv");
  REQUIRE(back.ok());
  CHECK(back->requests[1].slo_s == Approx(0.25));
  CHECK(back->requests[0].input_tokens == 64);
  auto bom = parse_csv("\xEF\xBB\xBF" "arrival_s,model,input_tokens\r\n1.5,m,3\r\n", "bom.csv");
  REQUIRE(bom.ok());
  CHECK(bom->requests.size() == 1);
  auto noheader = parse_csv("1,m,3\n", "x.csv", {"z", "m"});
  REQUIRE(noheader.ok());
  CHECK(noheader->requests[0].model == 1);
}

TEST_CASE("bad CSV lines are reported with file, line and what was wrong") {
  auto r = parse_csv("arrival_s,model,input_tokens\n0.1,a,5\n0.2,a,five\n", "w.csv");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().message.find("w.csv:3") != std::string::npos);
  CHECK(r.err().message.find("input_tokens") != std::string::npos);
  CHECK(r.err().message.find("'five'") != std::string::npos);
  auto r2 = parse_csv("0.1,a\n", "w.csv");
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.err().message.find("w.csv:1: expected 3 to 5 fields") != std::string::npos);
  auto r3 = parse_csv("0.1,q,1\n", "w.csv", {"a"});
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.err().message.find("unknown model 'q'") != std::string::npos);
  CHECK_FALSE(parse_csv("-1,a,1\n", "w.csv").ok());
}

namespace {
std::string azure2019_row(const std::string& fn, int minute, int count) {
  std::string row = "o,a," + fn + ",http";
  for (int m = 0; m < 1440; ++m)
    row += "," + std::to_string(m == minute ? count : 0);
  return row + "\n";
}
} // namespace

TEST_CASE("Azure Functions 2019 minutes become Gamma processes mapped to models j mod N") {
  std::string header = "HashOwner,HashApp,HashFunction,Trigger";
  for (int m = 1; m <= 1440; ++m)
    header += "," + std::to_string(m);
  std::string text = header + "\n" + azure2019_row("f0", 2, 600) + azure2019_row("idle", 50, 7) +
                     azure2019_row("f1", 3, 300) + azure2019_row("f2", 2, 120);
  azure2019_options o;
  o.models = {"m0", "m1"};
  o.start_minute = 0;
  o.minutes = 10;
  o.rate_scale = 2;
  auto t = parse_azure_functions_2019(text, "az19.csv", o);
  REQUIRE(t.ok());
  std::vector<int> per_model(2, 0);
  for (const auto& q : t->requests) {
    per_model[static_cast<std::size_t>(q.model)]++;
    CHECK(q.arrival_s >= 120);
    CHECK(q.arrival_s < 240);
  }
  // f0 (minute 2, 600 * 2) and f2 (120 * 2) -> m0; f1 (300 * 2) -> m1; "idle" is outside the window
  CHECK(per_model[0] == Approx(1440).epsilon(0.12));
  CHECK(per_model[1] == Approx(600).epsilon(0.15));
  auto badrow = parse_azure_functions_2019(header + "\no,a,f,http,1,2\n", "az19.csv", o);
  REQUIRE_FALSE(badrow.ok());
  CHECK(badrow.err().message.find("az19.csv:2") != std::string::npos);
  std::string neg = azure2019_row("f", 0, 1);
  neg.replace(neg.find(",1,"), 3, ",x,");
  auto badcount = parse_azure_functions_2019(neg, "az19.csv", o);
  REQUIRE_FALSE(badcount.ok());
  CHECK(badcount.err().message.find("minute 1") != std::string::npos);
}

TEST_CASE("Azure Functions 2021 replays raw arrivals and fits per-interval Gamma processes") {
  std::string text = "app,func,end_timestamp,duration\n";
  std::mt19937_64 rng{3};
  auto a = gamma_arrivals(20, 2, 100, 600, rng);
  for (double x : a)
    text += "appA,fnA," + std::to_string(x + 0.5) + ",0.5\n";
  text += "appB,fnB,150.0,1.0\n";
  azure2021_options o;
  o.models = {"m0", "m1"};
  o.time_scale = 2;
  auto raw = parse_azure_functions_2021(text, "az21.csv", o);
  REQUIRE(raw.ok());
  REQUIRE(raw->requests.size() == a.size() + 1);
  CHECK(raw->requests.front().arrival_s == Approx(0).margin(1e-6));
  CHECK(raw->requests.back().arrival_s == Approx((a.back() - a.front()) / 2).margin(1e-4));
  o.fit_gamma = true;
  o.time_scale = 1;
  o.interval_s = 600;
  auto fit = parse_azure_functions_2021(text, "az21.csv", o);
  REQUIRE(fit.ok());
  std::vector<double> m0;
  for (const auto& q : fit->requests)
    if (q.model == 0)
      m0.push_back(q.arrival_s);
  auto s = stats(m0);
  CHECK(s.rate == Approx(20).epsilon(0.15));
  CHECK(s.cv == Approx(2).epsilon(0.3));
  auto bad = parse_azure_functions_2021("app,func,end_timestamp,duration\na,f,12,-3\n", "az21.csv", o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("az21.csv:2: duration") != std::string::npos);
}

TEST_CASE("Azure LLM traces become relative arrivals with clipped inputs spread over models") {
  std::string text = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "2023-11-16 18:15:46.6805900,4808,10\n"
                     "2023-11-16 18:15:50.9951690,3180,8\n"
                     "2023-11-16 18:16:46.6805900,0,8\n";
  azure_llm_options o;
  o.models = {"a", "b", "c"};
  o.max_seq = 4096;
  auto t = parse_azure_llm(text, "llm.csv", o);
  REQUIRE(t.ok());
  REQUIRE(t->requests.size() == 3);
  CHECK(t->requests[0].arrival_s == 0);
  CHECK(t->requests[1].arrival_s == Approx(4.314579).margin(1e-6));
  CHECK(t->requests[2].arrival_s == Approx(60).margin(1e-6));
  CHECK(t->requests[0].input_tokens == 4096);
  CHECK(t->requests[1].input_tokens == 3180);
  CHECK(t->requests[2].input_tokens == 1);
  // the assignment follows the power law over many requests
  std::string many = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  for (int i = 0; i < 20000; ++i)
    many += std::to_string(i * 0.01) + ",100,1\n";
  auto big = parse_azure_llm(many, "many.csv", o);
  REQUIRE(big.ok());
  std::vector<double> share(3, 0);
  for (const auto& q : big->requests)
    share[static_cast<std::size_t>(q.model)] += 1.0 / 20000;
  auto want = power_law_rates(3, 1.0);
  for (std::size_t m = 0; m < 3; ++m)
    CHECK(share[m] == Approx(want[m]).epsilon(0.05));
  auto bad = parse_azure_llm("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,5,5\n", "llm.csv", o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("llm.csv:2: TIMESTAMP") != std::string::npos);
}

TEST_CASE("Azure LLM GeneratedTokens become output_tokens, a 0 becomes 1 and is counted, clipped contexts counted") {
  std::string text = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "0,5000,10\n"
                     "1,300,0\n"
                     "2,0,7\n";
  azure_llm_options o;
  o.models = {"llm"};
  o.max_seq = 1024;
  azure_llm_counts c;
  auto t = parse_azure_llm(text, "llm.csv", o, &c);
  REQUIRE(t.ok());
  REQUIRE(t->requests.size() == 3);
  CHECK(t->requests[0].output_tokens == 10);
  CHECK(t->requests[0].input_tokens == 1024);
  CHECK(t->requests[1].output_tokens == 1);
  CHECK(t->requests[2].output_tokens == 7);
  CHECK(t->requests[2].input_tokens == 1);
  CHECK(c.rows == 3);
  CHECK(c.context_clipped == 2);
  CHECK(c.zero_generated == 1);
  for (const char* bad_gen : {"-3", "2.5", "many"}) {
    auto bad = parse_azure_llm(std::string{"TIMESTAMP,ContextTokens,GeneratedTokens\n0,5,5\n1,5,"} + bad_gen + "\n",
                               "g.csv", o);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.err().message.find("g.csv:3: GeneratedTokens: expected a non-negative integer, found '" +
                                 std::string{bad_gen} + "'") != std::string::npos);
  }
}

TEST_CASE("the native CSV carries output_tokens in a fifth column and one-pass traces are written as before") {
  auto t = parse_csv("arrival_s,model,input_tokens,slo_ms,output_tokens\n0,llm,12,,30\n0.5,bert,8,250,\n1,llm,4,100,2\n",
                     "g.csv");
  REQUIRE(t.ok());
  REQUIRE(t->requests.size() == 3);
  CHECK(t->requests[0].output_tokens == 30);
  CHECK(t->requests[0].slo_s == 0);
  CHECK(t->requests[1].output_tokens == 0);
  CHECK(t->requests[1].slo_s == Approx(0.25));
  CHECK(t->requests[2].output_tokens == 2);
  auto csv = to_csv(*t);
  CHECK(csv == "arrival_s,model,input_tokens,slo_ms,output_tokens\n"
               "0.000000000,llm,12,,30\n0.500000000,bert,8,250,0\n1.000000000,llm,4,100,2\n");
  auto back = parse_csv(csv, "back.csv");
  REQUIRE(back.ok());
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(back->requests[i].output_tokens == t->requests[i].output_tokens);
    CHECK(back->requests[i].slo_s == Approx(t->requests[i].slo_s));
  }
  // one-pass: the old three- and four-column files, byte for byte
  auto one = parse_csv("0,a,3\n1,b,4\n", "one.csv").value();
  CHECK(to_csv(one) == "arrival_s,model,input_tokens\n0.000000000,a,3\n1.000000000,b,4\n");
  one.requests[1].slo_s = 0.5;
  CHECK(to_csv(one) == "arrival_s,model,input_tokens,slo_ms\n0.000000000,a,3,0\n1.000000000,b,4,500\n");
  auto bad = parse_csv("0,a,3,,-2\n", "o.csv");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("o.csv:1: output_tokens: expected a non-negative integer, found '-2'") !=
        std::string::npos);
  auto six = parse_csv("0,a,3,,2,9\n", "o.csv");
  REQUIRE_FALSE(six.ok());
  CHECK(six.err().message.find("o.csv:1: expected 3 to 5 fields") != std::string::npos);
}

TEST_CASE("traces can be time-scaled, rate-scaled, sliced and merged") {
  synth_options o;
  o.models = {"x", "y"};
  o.total_rate = 100;
  o.duration_s = 100;
  auto t = synthesize(o).value();
  auto n = static_cast<double>(t.requests.size());
  auto fast = time_scaled(t, 4);
  CHECK(fast.requests.back().arrival_s == Approx(t.requests.back().arrival_s / 4));
  auto thin = rate_scaled(t, 0.25, 1);
  CHECK(static_cast<double>(thin.requests.size()) == Approx(n * 0.25).epsilon(0.1));
  auto thick = rate_scaled(t, 2.5, 1);
  CHECK(static_cast<double>(thick.requests.size()) == Approx(n * 2.5).epsilon(0.05));
  CHECK(std::is_sorted(thick.requests.begin(), thick.requests.end(),
                       [](const auto& a, const auto& b) { return a.arrival_s < b.arrival_s; }));
  auto win = sliced(t, 10, 20);
  for (const auto& q : win.requests) {
    CHECK(q.arrival_s >= 0);
    CHECK(q.arrival_s < 10);
  }
  CHECK(static_cast<double>(win.requests.size()) == Approx(n / 10).epsilon(0.25));
  trace other;
  other.models = {"z", "x"};
  other.requests = {{0.5, 0, 7, 0}, {0.6, 1, 8, 0}};
  auto m = merged({t, other});
  CHECK(m.models == std::vector<std::string>{"x", "y", "z"});
  CHECK(m.requests.size() == t.requests.size() + 2);
  int z = 0;
  for (const auto& q : m.requests)
    z += q.model == 2;
  CHECK(z == 1);
}

TEST_CASE("write_csv and read_text_file work on disk and report missing files") {
  trace t;
  t.models = {"a"};
  t.requests = {{0.125, 0, 3, 0}};
  std::string path = "/tmp/sy_trace_test_" + std::to_string(::getpid()) + ".csv";
  REQUIRE(write_csv(t, path).ok());
  auto text = read_text_file(path);
  REQUIRE(text.ok());
  auto back = parse_csv(*text, path);
  REQUIRE(back.ok());
  CHECK(back->requests[0].arrival_s == 0.125);
  std::remove(path.c_str());
  auto missing = read_text_file("/nonexistent/t.csv");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().message.find("/nonexistent/t.csv") != std::string::npos);
}
