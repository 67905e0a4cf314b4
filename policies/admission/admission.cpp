#include "policies/admission/admission.hpp"

namespace sy::policies {

admission_decision slo_admission_policy::operator()(const admission_view& v) const {
  auto service = std::chrono::duration_cast<nanos>(v.service * slack);
  auto finish = v.queue_wait + v.pending_load + service;
  if (v.time_left <= nanos{0} || finish > v.time_left)
    return {false, "cannot meet SLO"};
  return {};
}

} // namespace sy::policies
