// The client-facing error enum: names round-trip, HTTP codes are 4xx for client errors and 5xx otherwise.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "messages/errors.hpp"

using namespace sy::messages;

TEST_CASE("every error code has a distinct name that parses back to the same code") {
  std::set<std::string> names;
  for (auto c : all_error_codes) {
    names.insert(to_string(c));
    auto back = error_code_from_string(to_string(c));
    REQUIRE(back.has_value());
    CHECK(*back == c);
  }
  CHECK(names.size() == std::size(all_error_codes));
  CHECK_FALSE(error_code_from_string("no such code").has_value());
}

TEST_CASE("invalid requests map to 400 invalid, not 503 rejected") {
  CHECK(http_status(error_code::invalid_request) == 400);
  CHECK(std::string{client_status(error_code::invalid_request)} == "invalid");
  CHECK(http_status(error_code::unauthorized) == 401);
  CHECK(http_status(error_code::unknown_model) == 404);
  CHECK(std::string{client_status(error_code::overload)} == "rejected");
  CHECK(http_status(error_code::draining) == 503);
  CHECK(http_status(error_code::deadline_exceeded) == 504);
}

TEST_CASE("only none is 200 and every other code is an HTTP error") {
  for (auto c : all_error_codes) {
    if (c == error_code::none)
      CHECK(http_status(c) == 200);
    else
      CHECK(http_status(c) >= 400);
    CHECK(is_client_error(c) == (http_status(c) >= 400 && http_status(c) < 500));
  }
}
