#include <catch2/catch.hpp>

#include "config/size.hpp"

using sy::config::format_size;
using sy::config::parse_size;

TEST_CASE("sizes accept plain byte counts and decimal and binary units", "[config][size]") {
  CHECK(*parse_size("4096") == 4096);
  CHECK(*parse_size("512MiB") == 512LL * 1024 * 1024);
  CHECK(*parse_size("13GiB") == 13LL * 1024 * 1024 * 1024);
  CHECK(*parse_size("2 GB") == 2'000'000'000LL);
  CHECK(*parse_size("1.5KiB") == 1536);
  CHECK(*parse_size("7B") == 7);
  CHECK(*parse_size("1TiB") == 1LL << 40);
}

TEST_CASE("sizes reject zero, negatives, unknown units, fractions of a byte and overflow", "[config][size]") {
  for (const char* bad : {"0", "-5", "-1GiB", "512MeB", "12 parsecs", "", "GiB", "1.3B", "99999999999TiB",
                          "99999999999999999999"}) {
    INFO(bad);
    auto r = parse_size(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().message.find("expected a positive size") != std::string::npos);
  }
  CHECK(parse_size("512MeB").err().message.find("unknown unit \"MeB\"") != std::string::npos);
  CHECK(parse_size("-5").err().message.find("negative") != std::string::npos);
}

TEST_CASE("format_size picks the largest binary unit that divides exactly and parses back", "[config][size]") {
  for (std::int64_t v : {256LL << 20, 1536LL, 1000LL, 13LL << 30, 1LL}) {
    auto text = format_size(v);
    INFO(text);
    CHECK(*parse_size(text) == v);
  }
  CHECK(format_size(256LL << 20) == "256MiB");
  CHECK(format_size(1000) == "1000B");
}
