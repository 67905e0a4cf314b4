#include <catch2/catch.hpp>

#include "policies/internal/json.hpp"

using namespace sy::policies::internal;

TEST_CASE("the JSON reader parses every value kind, escapes and nesting") {
  auto v = parse_json(R"( {"a": [1, -2.5e3, true, false, null], "s": "q\"\\\/\n\u00e9\u20ac", "o": {}} )");
  REQUIRE(v.ok());
  const auto& a = v->get("a")->as_array();
  REQUIRE(a.size() == 5);
  CHECK(a[0].as_number() == 1);
  CHECK(a[1].as_number() == -2500);
  CHECK(a[2].as_bool());
  CHECK_FALSE(a[3].as_bool());
  CHECK(a[4].is_null());
  CHECK(v->get("s")->as_string() == "q\"\\/\n\xc3\xa9\xe2\x82\xac");
  CHECK(v->get("o")->is_object());
  CHECK(v->get("missing") == nullptr);
}

TEST_CASE("JSON written compactly or indented reads back to the same numbers and strings") {
  auto doc = json_value::make_object();
  auto arr = json_value::make_array();
  arr.push(0.1).push(1.0 / 3).push(std::int64_t{123456789012345}).push(-0.0);
  doc.set("x", arr).set("name", "tab\there \"quoted\"");
  for (int indent : {-1, 2}) {
    auto back = parse_json(write_json(doc, indent));
    REQUIRE(back.ok());
    const auto& b = back->get("x")->as_array();
    CHECK(b[0].as_number() == 0.1);
    CHECK(b[1].as_number() == 1.0 / 3);
    CHECK(b[2].as_number() == 123456789012345.0);
    CHECK(back->get("name")->as_string() == "tab\there \"quoted\"");
  }
}

TEST_CASE("malformed JSON is reported with line and column") {
  struct bad_case {
    const char* text;
    const char* where;
  };
  for (auto c : {bad_case{"{\"a\": 1,\n \"b\" 2}", "line 2, column 6"}, bad_case{"[1, 2", "line 1, column 6"},
                 bad_case{"{\"a\": tru}", "line 1, column 7"}, bad_case{"\"abc", "line 1"},
                 bad_case{"[1] x", "trailing"}, bad_case{"-", "digits"}, bad_case{"\"\\q\"", "unknown escape"}}) {
    auto r = parse_json(c.text);
    REQUIRE_FALSE(r.ok());
    INFO(r.err().message);
    CHECK(r.err().message.find(c.where) != std::string::npos);
  }
  std::string deep(100, '[');
  CHECK_FALSE(parse_json(deep).ok());
}
