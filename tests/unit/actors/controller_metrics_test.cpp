// The controller's request counters (actors/internal/controller_metrics.cpp): rejection reasons become a
// bounded set of sy_rejected_total labels.
#include <catch2/catch.hpp>

#include <string>

#include "actors/internal/controller_state.hpp"

using namespace sy;
using actors::internal::controller_state;
using actors::internal::record;
using messages::request_status;

TEST_CASE("rejection reasons that differ only in numbers and names count under one label", "[actors][metrics]") {
  controller_state st;
  record(st, "m", request_status::rejected, "not_resident: node b lost (no heartbeat answer for 1002 ms)", 0);
  record(st, "m", request_status::rejected, "not_resident: node c lost (no heartbeat answer for 998 ms)", 0);
  record(st, "m", request_status::rejected, "expected 1..512 tokens", 0);
  record(st, "m", request_status::rejected, "expected 1..64 tokens", 0);
  record(st, "m", request_status::rejected, "unknown model", 0);
  record(st, "m", request_status::rejected, "", 0);
  CHECK(st.rejected_by_reason.size() == 4);
  CHECK(st.rejected_by_reason["not_resident"] == 2);
  CHECK(st.rejected_by_reason["expected"] == 2);
  CHECK(st.rejected_by_reason["unknown model"] == 1);
  CHECK(st.rejected_by_reason["other"] == 1);
  CHECK(st.counts["m"].rejected == 6);
}

TEST_CASE("past 64 distinct rejection labels the rest count as other", "[actors][metrics]") {
  controller_state st;
  for (int i = 0; i < 100; ++i)
    record(st, "m", request_status::rejected, "reason " + std::string(1, static_cast<char>('a' + i % 26)) +
                                                  std::string(1, static_cast<char>('a' + i / 26)), 0);
  CHECK(st.rejected_by_reason.size() == 65);
  CHECK(st.rejected_by_reason["other"] == 36);
}
