#include <catch2/catch.hpp>

#include "messages/json.hpp"

namespace json = sy::json;

TEST_CASE("the JSON reader parses every value kind, escapes and nesting") {
  auto v = json::parse(R"( {"a": [1, -2.5e3, true, false, null], "s": "q\"\\\/\n\u00e9\u20ac", "o": {}} )");
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
  CHECK(a[0].get("x") == nullptr); // lookup on a non-object
}

TEST_CASE("JSON objects keep their member order") {
  auto v = json::parse(R"({"z": 1, "a": 2, "m": 3})");
  REQUIRE(v.ok());
  std::string order;
  for (const auto& [k, x] : v->as_object())
    order += k;
  CHECK(order == "zam");
  CHECK(json::write(*v) == R"({"z":1,"a":2,"m":3})");
}

TEST_CASE("JSON written compactly or indented reads back to the same numbers and strings") {
  auto doc = json::value::make_object();
  auto arr = json::value::make_array();
  arr.push(0.1).push(1.0 / 3).push(std::int64_t{123456789012345}).push(-0.0).push(6.02e23);
  doc.set("x", arr).set("name", "tab\there \"quoted\" \x01");
  for (int indent : {-1, 2}) {
    auto back = json::parse(json::write(doc, indent));
    REQUIRE(back.ok());
    const auto& b = back->get("x")->as_array();
    CHECK(b[0].as_number() == 0.1);
    CHECK(b[1].as_number() == 1.0 / 3);
    CHECK(b[2].as_number() == 123456789012345.0);
    CHECK(b[4].as_number() == 6.02e23);
    CHECK(back->get("name")->as_string() == "tab\there \"quoted\" \x01");
  }
  CHECK(json::number(0.1) == "0.1"); // the shortest text that reads back exactly
  CHECK(json::number(3) == "3");
  CHECK(json::number(1.0 / 0.0) == "null");
}

TEST_CASE("64-bit integers beyond 2^53 stay exact through parse, as_int64 and write") {
  const std::int64_t big = 9007199254740993; // 2^53 + 1: not representable as a double
  auto v = json::parse("[9007199254740993, -5, 1.5, 1e3, 99999999999999999999]");
  REQUIRE(v.ok());
  const auto& a = v->as_array();
  CHECK(a[0].as_int64() == big);
  CHECK(a[1].as_int64() == -5);
  CHECK_FALSE(a[2].as_int64());
  CHECK_FALSE(a[3].as_int64()); // not an integer literal
  CHECK_FALSE(a[4].as_int64()); // out of range
  CHECK(json::write(a[0]) == "9007199254740993");
  CHECK(json::write(json::value{big}) == "9007199254740993");
  CHECK(json::value{2.0}.as_int64() == 2);
}

TEST_CASE("surrogate pairs decode to one UTF-8 code point; lone surrogates are errors") {
  auto v = json::parse(R"("\ud83d\ude00")");
  REQUIRE(v.ok());
  CHECK(v->as_string() == "\xf0\x9f\x98\x80");
  auto lone_high = json::parse(R"("\ud83d x")");
  REQUIRE_FALSE(lone_high.ok());
  CHECK(lone_high.err().message.find("low surrogate") != std::string::npos);
  auto lone_low = json::parse(R"("\ude00")");
  REQUIRE_FALSE(lone_low.ok());
  CHECK(lone_low.err().message.find("high surrogate") != std::string::npos);
}

TEST_CASE("malformed JSON is reported with line, column, byte offset, what was expected and found") {
  auto r = json::parse("{\"a\": 1,\n \"b\" 2}");
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().category == "json");
  CHECK(r.err().message == "line 2, column 6 (byte 14): expected ':' after the member name \"b\", found '2'");
  struct bad_case {
    const char* text;
    const char* where;
  };
  for (auto c : {bad_case{"[1, 2", "line 1, column 6 (byte 5): expected ',' or ']' in an array, found end of input"},
                 bad_case{"{\"a\": tru}", "line 1, column 7 (byte 6): expected a value, found 't'"},
                 bad_case{"\"abc", "expected '\"' closing the string"},
                 bad_case{"[1] x", "(byte 4): expected the end of the document, found 'x'"},
                 bad_case{"-", "expected digits in a number"}, bad_case{"\"\\q\"", "one of the escapes"},
                 bad_case{"\"a\tb\"", "no control character inside a string, found byte 0x09"},
                 bad_case{"", "expected a value, found end of input"}}) {
    auto e = json::parse(c.text);
    REQUIRE_FALSE(e.ok());
    INFO(c.text << " -> " << e.err().message);
    CHECK(e.err().message.find(c.where) != std::string::npos);
  }
}

TEST_CASE("nesting deeper than the limit is an error, not a stack overflow") {
  std::string deep(100000, '[');
  auto r = json::parse(deep);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().message.find("at most 64 levels of nesting") != std::string::npos);
  CHECK_FALSE(json::parse("[[[1]]]", 2).ok());
  CHECK(json::parse("[[[1]]]", 3).ok());
}

TEST_CASE("quote escapes quotes, backslashes and control characters") {
  CHECK(json::quote("a\"b\\\n\x01") == "\"a\\\"b\\\\\\n\\u0001\"");
}
