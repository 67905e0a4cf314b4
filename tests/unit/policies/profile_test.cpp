#include <catch2/catch.hpp>

#include <cstdio>
#include <unistd.h>
#include <fstream>
#include <string>

#include "policies/profile.hpp"

using namespace sy::policies;

namespace {
profile_entry make_entry(const std::string& model, int op, int pp, double base) {
  profile_entry e;
  e.model = model;
  e.config = {op, pp};
  for (std::size_t b = 0; b < profile_batch_sizes.size(); ++b) {
    std::vector<double> lat;
    std::vector<std::int64_t> act;
    for (int k = 0; k < pp; ++k) {
      lat.push_back(base * (1 + 0.37 * b) + 0.001 * k + 1.0 / 3.0 * 1e-3);
      act.push_back(1000 * (b + 1) + k);
    }
    e.stage_latency.push_back(lat);
    e.act_bytes.push_back(act);
  }
  for (int k = 0; k < pp; ++k) {
    e.weight_bytes.push_back((std::int64_t{5} << 30) + 123456789 * k);
    e.load_seconds.push_back(0.25 + k * 0.1);
  }
  return e;
}

/// opt-1.3b (op 1, pp 2) with generation costs.
profile_entry make_gen_entry() {
  auto e = make_entry("opt-1.3b", 1, 2, 0.02);
  e.gen_step_s = {0.004, 0.0041};
  e.prefill_s_per_token = {1e-4, 1.1e-4};
  e.decode_s_per_seq = {2e-4, 3e-4};
  e.decode_s_per_ctx = {1e-7, 1e-7};
  e.kv_bytes_per_token = {196608, 196608};
  return e;
}

profile_db sample_db() {
  profile_db db;
  db.put(make_entry("bert-1.3b", 1, 1, 0.151));
  db.put(make_entry("bert-1.3b", 2, 4, 0.05));
  db.put(make_entry("bert-2.6b", 4, 2, 0.07));
  return db;
}

void expect_same(const profile_db& a, const profile_db& b) {
  REQUIRE(a.entries().size() == b.entries().size());
  for (const auto& [key, e] : a.entries()) {
    const auto* f = b.find(key.first, key.second);
    REQUIRE(f != nullptr);
    CHECK(f->stage_latency == e.stage_latency);
    CHECK(f->weight_bytes == e.weight_bytes);
    CHECK(f->act_bytes == e.act_bytes);
    CHECK(f->load_seconds == e.load_seconds);
  }
}
} // namespace

TEST_CASE("a well-formed profile entry validates and sums its stages") {
  auto e = make_entry("m", 2, 4, 0.1);
  REQUIRE(e.validate().ok());
  CHECK(e.max_weight_bytes() == (std::int64_t{5} << 30) + 3 * 123456789);
  double sum = 0;
  for (double x : e.stage_latency[2])
    sum += x;
  CHECK(e.total_latency(2) == Approx(sum));
}

TEST_CASE("profile entry validation names the model and the bad field") {
  auto e = make_entry("bert-x", 1, 2, 0.1);
  e.weight_bytes.pop_back();
  auto st = e.validate();
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().message.find("bert-x") != std::string::npos);
  CHECK(st.err().message.find("weight_bytes") != std::string::npos);

  auto f = make_entry("bert-y", 1, 2, 0.1);
  f.stage_latency[3][1] = -1;
  auto st2 = f.validate();
  REQUIRE_FALSE(st2.ok());
  CHECK(st2.err().message.find("stage_latency[3][1]") != std::string::npos);
}

TEST_CASE("profile db put replaces, find, configs and models list what was put") {
  auto db = sample_db();
  CHECK(db.models() == std::vector<std::string>{"bert-1.3b", "bert-2.6b"});
  auto cs = db.configs("bert-1.3b");
  REQUIRE(cs.size() == 2);
  CHECK(cs[0] == parallel_config{1, 1});
  CHECK(cs[1] == parallel_config{2, 4});
  CHECK(db.find("bert-2.6b", {1, 1}) == nullptr);
  db.put(make_entry("bert-1.3b", 1, 1, 0.5));
  CHECK(db.entries().size() == 3);
  CHECK(db.find("bert-1.3b", {1, 1})->stage_latency[0][0] > 0.5);
}

TEST_CASE("profile db round-trips through JSON and msgpack exactly") {
  auto db = sample_db();
  auto j = profile_db::from_json(db.to_json());
  REQUIRE(j.ok());
  expect_same(db, *j);
  auto m = profile_db::from_msgpack(db.to_msgpack());
  REQUIRE(m.ok());
  expect_same(db, *m);
}

TEST_CASE("profile db save and load pick the format by extension") {
  auto db = sample_db();
  for (std::string ext : {".json", ".msgpack"}) {
    std::string path = "/tmp/sy_profile_test_" + std::to_string(::getpid()) + ext;
    REQUIRE(db.save(path).ok());
    auto back = profile_db::load(path);
    REQUIRE(back.ok());
    expect_same(db, *back);
    std::remove(path.c_str());
  }
  CHECK_FALSE(db.save("/tmp/x.yaml").ok());
  auto missing = profile_db::load("/nonexistent/p.json");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().message.find("/nonexistent/p.json") != std::string::npos);
}

TEST_CASE("bad profile JSON gets errors naming line, entry and field") {
  auto bad_syntax = profile_db::from_json("{\n  \"format\": \"switchyard-profile\",\n  \"version\" 1}");
  REQUIRE_FALSE(bad_syntax.ok());
  CHECK(bad_syntax.err().message.find("line 3") != std::string::npos);

  auto db = sample_db();
  std::string text = db.to_json();
  auto pos = text.find("\"weight_bytes\"");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 14, "\"weight_bytez\"");
  auto missing = profile_db::from_json(text);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.err().message.find("entry 0") != std::string::npos);
  CHECK(missing.err().message.find("missing field 'weight_bytes'") != std::string::npos);

  std::string t2 = db.to_json();
  auto p2 = t2.find("\"op\": 1");
  REQUIRE(p2 != std::string::npos);
  t2.replace(p2, 7, "\"op\": \"one\"");
  auto wrong = profile_db::from_json(t2);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.err().message.find("field 'op': expected number, found string") != std::string::npos);

  auto not_profile = profile_db::from_json("{\"format\": \"other\", \"version\": 1}");
  REQUIRE_FALSE(not_profile.ok());
  CHECK(not_profile.err().message.find("expected \"switchyard-profile\"") != std::string::npos);
}

TEST_CASE("truncated msgpack is an error, not a crash") {
  auto bytes = sample_db().to_msgpack();
  auto r = profile_db::from_msgpack(bytes.substr(0, bytes.size() / 2));
  CHECK_FALSE(r.ok());
}

TEST_CASE("entries may hold a prefix of the batch sizes but not more rows or mismatched activations") {
  auto e = make_entry("m", 1, 2, 0.1);
  e.stage_latency.resize(2);
  e.act_bytes.resize(2);
  CHECK(e.validate().ok());
  CHECK(e.total_latency(3) == 0);
  profile_db db;
  db.put(e);
  auto back = profile_db::from_json(db.to_json());
  REQUIRE(back.ok());
  CHECK(back->find("m", {1, 2})->stage_latency.size() == 2);
  e.act_bytes.resize(1);
  CHECK_FALSE(e.validate().ok());
  auto f = make_entry("m", 1, 2, 0.1);
  f.stage_latency.push_back(f.stage_latency[0]);
  f.act_bytes.push_back(f.act_bytes[0]);
  CHECK_FALSE(f.validate().ok());
  f.stage_latency.clear();
  f.act_bytes.clear();
  CHECK_FALSE(f.validate().ok());
}

TEST_CASE("act_bytes and load_seconds may be left out and weight bytes may be fractional (AlpaServe's floats)") {
  const std::string text = R"({"format": "switchyard-profile", "version": 1, "batch_sizes": [1, 2, 4, 8, 16],
 "entries": [{"model": "bert-1.3b", "op": 1, "pp": 2, "stage_latency": [[0.05, 0.051], [0.09, 0.091]],
              "weight_bytes": [1395864371.2, 1395864371.2]}]})";
  auto db = profile_db::from_json(text);
  REQUIRE(db.ok());
  const auto* e = db->find("bert-1.3b", {1, 2});
  REQUIRE(e != nullptr);
  CHECK(e->weight_bytes == std::vector<double>{1395864371.2, 1395864371.2});
  CHECK(e->max_weight_bytes() == 1395864371.2);
  CHECK(e->act_bytes == std::vector<std::vector<std::int64_t>>{{0, 0}, {0, 0}});
  CHECK(e->load_seconds.empty());
  // Written back without load_seconds, and read again the same.
  auto back = profile_db::from_json(db->to_json());
  REQUIRE(back.ok());
  expect_same(*db, *back);
  // Present but wrong still fails with the field named.
  std::string bad = text;
  bad.replace(bad.find("\"weight_bytes\""), 0, "\"load_seconds\": [0.1], ");
  auto wrong = profile_db::from_json(bad);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.err().message.find("load_seconds has 1 values, expected 2") != std::string::npos);
}

TEST_CASE("generation costs are optional profile fields: old profiles load, new ones round-trip, a partial set is refused") {
  auto db = sample_db();
  CHECK_FALSE(db.find("bert-1.3b", {1, 1})->has_generation()); // written before the fields existed: still loads
  auto e = make_gen_entry();
  REQUIRE(e.validate().ok());
  CHECK(e.step_seconds(1, 10, 2, 100) == Approx(0.0041 + 1.1e-3 + 6e-4 + 1e-5));
  db.put(e);
  for (const auto& back : {profile_db::from_json(db.to_json()), profile_db::from_msgpack(db.to_msgpack())}) {
    REQUIRE(back.ok());
    const auto* f = back->find("opt-1.3b", {1, 2});
    REQUIRE(f);
    CHECK(f->has_generation());
    CHECK(f->gen_step_s == e.gen_step_s);
    CHECK(f->prefill_s_per_token == e.prefill_s_per_token);
    CHECK(f->decode_s_per_seq == e.decode_s_per_seq);
    CHECK(f->decode_s_per_ctx == e.decode_s_per_ctx);
    CHECK(f->kv_bytes_per_token == e.kv_bytes_per_token);
    CHECK_FALSE(back->find("bert-1.3b", {1, 1})->has_generation());
  }
  auto partial = e;
  partial.decode_s_per_ctx.clear();
  auto st = partial.validate();
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().message.find("model 'opt-1.3b', op 1, pp 2): decode_s_per_ctx is missing") != std::string::npos);
  auto wrong = e;
  wrong.prefill_s_per_token = {1e-4};
  REQUIRE_FALSE(wrong.validate().ok());
  CHECK(wrong.validate().err().message.find("prefill_s_per_token has 1 values, expected 2") != std::string::npos);
}

TEST_CASE("prefill_s_per_pair is optional: absent is 0 and not written, present round-trips and adds the pairs a "
          "prefill attends, a wrong size or a set without the generation fields is refused") {
  auto db = sample_db();
  auto e = make_gen_entry();
  db.put(e);
  CHECK(db.to_json().find("prefill_s_per_pair") == std::string::npos); // not measured: not written
  CHECK(e.step_seconds(1, 10, 0, 0, 55) == Approx(0.0041 + 1.1e-3)); // absent: the pairs cost nothing
  // 10 new tokens behind 6 in the KV attend 10 x 6 + 10 x 11 / 2 = 115 pairs.
  CHECK(profile_entry::prefill_pairs(10, 6) == 115);
  CHECK(profile_entry::prefill_pairs(1, 0) == 1);
  e.prefill_s_per_pair = {1e-6, 2e-6};
  REQUIRE(e.validate().ok());
  CHECK(e.step_seconds(1, 10, 2, 100, 115) == Approx(0.0041 + 1.1e-3 + 6e-4 + 1e-5 + 2.3e-4));
  db.put(e);
  for (const auto& back : {profile_db::from_json(db.to_json()), profile_db::from_msgpack(db.to_msgpack())}) {
    REQUIRE(back.ok());
    CHECK(back->find("opt-1.3b", {1, 2})->prefill_s_per_pair == e.prefill_s_per_pair);
    CHECK(back->find("bert-1.3b", {1, 1})->prefill_s_per_pair.empty());
  }
  auto wrong = e;
  wrong.prefill_s_per_pair = {1e-6};
  REQUIRE_FALSE(wrong.validate().ok());
  CHECK(wrong.validate().err().message.find("prefill_s_per_pair has 1 values, expected 2") != std::string::npos);
  auto alone = make_entry("opt-1.3b", 1, 2, 0.02);
  alone.prefill_s_per_pair = {1e-6, 1e-6};
  REQUIRE_FALSE(alone.validate().ok());
  CHECK(alone.validate().err().message.find("prefill_s_per_pair without the generation fields") != std::string::npos);
  auto negative = e;
  negative.prefill_s_per_pair = {1e-6, -1e-6};
  REQUIRE_FALSE(negative.validate().ok());
}

TEST_CASE("the runtime overheads gen_hop_s and gen_request_s are optional: absent means 0 and is not written, "
          "present round-trips, negative or non-numeric values get an error naming the entry") {
  auto db = sample_db();
  const auto before = db.to_json();
  CHECK(before.find("gen_hop_s") == std::string::npos); // not measured: old outputs stay byte-identical
  CHECK(db.find("bert-1.3b", {1, 1})->gen_hop_s == 0);
  auto e = make_entry("opt-1.3b", 1, 2, 0.02);
  e.gen_hop_s = 0.00025;
  e.gen_request_s = 0.0031;
  REQUIRE(e.validate().ok());
  db.put(e);
  for (const auto& back : {profile_db::from_json(db.to_json()), profile_db::from_msgpack(db.to_msgpack())}) {
    REQUIRE(back.ok());
    CHECK(back->find("opt-1.3b", {1, 2})->gen_hop_s == 0.00025);
    CHECK(back->find("opt-1.3b", {1, 2})->gen_request_s == 0.0031);
    CHECK(back->find("bert-1.3b", {1, 1})->gen_request_s == 0);
  }
  auto neg = e;
  neg.gen_hop_s = -0.001;
  REQUIRE_FALSE(neg.validate().ok());
  CHECK(neg.validate().err().message.find("model 'opt-1.3b', op 1, pp 2): gen_hop_s must be a finite non-negative") !=
        std::string::npos);
  // From a file: the entry's position and model and the field are named.
  auto text = db.to_json();
  auto at = text.find("\"gen_request_s\"");
  REQUIRE(at != std::string::npos);
  auto colon = text.find(':', at);
  auto end = text.find_first_of(",}", colon);
  auto bad_text = text.substr(0, colon + 1) + "\"fast\"" + text.substr(end);
  auto bad = profile_db::from_json(bad_text);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("(model 'opt-1.3b')") != std::string::npos);
  CHECK(bad.err().message.find("field 'gen_request_s': expected a number of seconds, found string") != std::string::npos);
  auto negative_text = text.substr(0, colon + 1) + "-0.5" + text.substr(end);
  auto negative = profile_db::from_json(negative_text);
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.err().message.find("field 'gen_request_s': expected a finite non-negative number of seconds, found -0.5") !=
        std::string::npos);
}

TEST_CASE("the one-pass runtime overhead request_s and the host's cores are optional: absent is 0 and not written, "
          "present round-trips, bad values get an error naming the entry or the field") {
  auto db = sample_db();
  const auto before = db.to_json();
  CHECK(before.find("request_s\"") == std::string::npos);
  CHECK(before.find("host_cores") == std::string::npos);
  CHECK(db.host_cores() == 0);
  auto e = make_entry("opt-1.3b", 1, 2, 0.02);
  e.request_s = 0.0007;
  REQUIRE(e.validate().ok());
  db.put(e);
  db.set_device("cpu");
  db.set_host_cores(2);
  for (const auto& back : {profile_db::from_json(db.to_json()), profile_db::from_msgpack(db.to_msgpack())}) {
    REQUIRE(back.ok());
    CHECK(back->find("opt-1.3b", {1, 2})->request_s == 0.0007);
    CHECK(back->find("bert-1.3b", {1, 1})->request_s == 0);
    CHECK(back->host_cores() == 2);
  }
  auto neg = e;
  neg.request_s = -0.001;
  REQUIRE_FALSE(neg.validate().ok());
  CHECK(neg.validate().err().message.find("model 'opt-1.3b', op 1, pp 2): request_s must be a finite non-negative") !=
        std::string::npos);
  auto text = db.to_json();
  auto replace_value = [&](const std::string& key, const std::string& value) {
    auto at = text.find("\"" + key + "\"");
    REQUIRE(at != std::string::npos);
    auto colon = text.find(':', at);
    auto end = text.find_first_of(",}", colon);
    return text.substr(0, colon + 1) + value + text.substr(end);
  };
  auto bad = profile_db::from_json(replace_value("request_s", "\"quick\""));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("(model 'opt-1.3b')") != std::string::npos);
  CHECK(bad.err().message.find("field 'request_s': expected a number of seconds, found string") != std::string::npos);
  auto negative = profile_db::from_json(replace_value("request_s", "-1e-3"));
  REQUIRE_FALSE(negative.ok());
  CHECK(negative.err().message.find("field 'request_s': expected a finite non-negative number of seconds") !=
        std::string::npos);
  for (const char* v : {"0", "-2", "0.5", "\"two\""}) {
    auto cores = profile_db::from_json(replace_value("host_cores", v));
    REQUIRE_FALSE(cores.ok());
    CHECK(cores.err().message.find(std::string{"field 'host_cores': expected a number of cores in [1, 65536], "
                                               "found "} + v) != std::string::npos);
  }
  auto measured = profile_db::from_json(replace_value("host_cores", "1.25")); // a measured capacity
  REQUIRE(measured.ok());
  CHECK(measured->host_cores() == 1.25);
}

TEST_CASE("gen_fitted_live and gen_step_sdlog (replay --fit-profile) are optional: absent is false / empty and not "
          "written, present round-trips, a wrong type, size or an entry without generation costs is refused") {
  auto db = sample_db();
  CHECK(db.to_json().find("gen_fitted_live") == std::string::npos);
  CHECK(db.to_json().find("gen_step_sdlog") == std::string::npos);
  auto e = make_gen_entry();
  e.gen_fitted_live = true;
  e.gen_step_sdlog = {0.16, 0.15};
  REQUIRE(e.validate().ok());
  db.put(e);
  for (const auto& back : {profile_db::from_json(db.to_json()), profile_db::from_msgpack(db.to_msgpack())}) {
    REQUIRE(back.ok());
    CHECK(back->find("opt-1.3b", {1, 2})->gen_fitted_live);
    CHECK(back->find("opt-1.3b", {1, 2})->gen_step_sdlog == e.gen_step_sdlog);
    CHECK_FALSE(back->find("bert-1.3b", {1, 1})->gen_fitted_live);
    CHECK(back->find("bert-1.3b", {1, 1})->gen_step_sdlog.empty());
  }
  auto wrong = e;
  wrong.gen_step_sdlog = {0.1, 0.1, 0.1};
  REQUIRE_FALSE(wrong.validate().ok());
  CHECK(wrong.validate().err().message.find("gen_step_sdlog has 3 values, expected 2") != std::string::npos);
  auto negative = e;
  negative.gen_step_sdlog = {0.1, -0.1};
  REQUIRE_FALSE(negative.validate().ok());
  auto alone = make_entry("opt-1.3b", 1, 2, 0.02);
  alone.gen_fitted_live = true;
  REQUIRE_FALSE(alone.validate().ok());
  CHECK(alone.validate().err().message.find("gen_fitted_live without the generation fields") != std::string::npos);
  auto text = db.to_json();
  auto at = text.find("\"gen_fitted_live\"");
  REQUIRE(at != std::string::npos);
  auto colon = text.find(':', at);
  auto end = text.find_first_of(",}", colon);
  auto bad = profile_db::from_json(text.substr(0, colon + 1) + "1" + text.substr(end));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("(model 'opt-1.3b')") != std::string::npos);
  CHECK(bad.err().message.find("field 'gen_fitted_live': expected true or false, found number") != std::string::npos);
}
