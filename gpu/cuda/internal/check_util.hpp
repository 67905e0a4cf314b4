#pragma once
// Host-side helpers for the params structs' check() functions (private to gpu/cuda/).
#include <cstdint>
#include <string>

#include "messages/result.hpp"

namespace sy::gpu::cuda::internal {

/// Builds the "kernel" error "<kernel>: <field> must be <what>, found <value>".
inline error field_error(const char* kernel, const char* field, const char* what, long long found) {
  return make_error("kernel", std::string{kernel} + ": " + field + " must be " + what + ", found " +
                                std::to_string(found));
}

inline error null_error(const char* kernel, const char* field) {
  return make_error("kernel", std::string{kernel} + ": " + field + " must be a device pointer, found null");
}

} // namespace sy::gpu::cuda::internal
