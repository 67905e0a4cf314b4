#pragma once
// Client-facing error codes (issue 9 §1, §5): why a request was not answered `ok`, as an enum. HTTP status
// codes, metric labels and client-visible statuses come from this enum, never from parsing reason text;
// the human reason travels beside it. Header only; any thread.
#include <cstdint>
#include <optional>
#include <string_view>

namespace sy::messages {

enum class error_code : std::uint8_t {
  none,              // ok
  invalid_request,   // client error: bad JSON, missing body, wrong types, token outside the vocabulary,
                     // too many tokens, frame too large
  unknown_model,     // the model is not in the cluster config
  unauthorized,      // a control route without the configured bearer token
  overload,          // admission refused: queues full or the SLO cannot be met
  not_resident,      // the model is configured but not loaded
  draining,          // the server is shutting down
  deadline_exceeded, // the deadline passed before the output was ready
  device_error,      // a device fault (CUDA error, failed copy, failed enqueue)
  node_lost,         // a node holding the model was lost
  internal,          // anything else on the server side
};

inline constexpr error_code all_error_codes[] = {
  error_code::none,         error_code::invalid_request,   error_code::unknown_model,
  error_code::unauthorized, error_code::overload,          error_code::not_resident,
  error_code::draining,     error_code::deadline_exceeded, error_code::device_error,
  error_code::node_lost,    error_code::internal,
};

/// The metric label and the wire name (snake_case, stable).
constexpr const char* to_string(error_code c) noexcept {
  switch (c) {
    case error_code::none: return "none";
    case error_code::invalid_request: return "invalid_request";
    case error_code::unknown_model: return "unknown_model";
    case error_code::unauthorized: return "unauthorized";
    case error_code::overload: return "overload";
    case error_code::not_resident: return "not_resident";
    case error_code::draining: return "draining";
    case error_code::deadline_exceeded: return "deadline_exceeded";
    case error_code::device_error: return "device_error";
    case error_code::node_lost: return "node_lost";
    case error_code::internal: return "internal";
  }
  return "internal";
}

/// The inverse of to_string; none for a name that is not a code.
inline std::optional<error_code> error_code_from_string(std::string_view s) noexcept {
  for (auto c : all_error_codes)
    if (s == to_string(c))
      return c;
  return std::nullopt;
}

/// The HTTP status code a client gets for `c`: 4xx for client errors, 5xx for server-side refusals.
constexpr int http_status(error_code c) noexcept {
  switch (c) {
    case error_code::none: return 200;
    case error_code::invalid_request: return 400;
    case error_code::unauthorized: return 401;
    case error_code::unknown_model: return 404;
    case error_code::deadline_exceeded: return 504;
    case error_code::overload:
    case error_code::not_resident:
    case error_code::draining:
    case error_code::node_lost: return 503;
    case error_code::device_error:
    case error_code::internal: return 500;
  }
  return 500;
}

/// True for codes that are the client's fault (4xx).
constexpr bool is_client_error(error_code c) noexcept {
  auto s = http_status(c);
  return s >= 400 && s < 500;
}

/// The client-visible status string for an error code: "invalid" for client errors (issue 9 §5), else
/// the request_status (messages/infer.hpp) that the engine would report: ok | rejected |
/// deadline_exceeded | failed.
constexpr const char* client_status(error_code c) noexcept {
  if (c == error_code::none)
    return "ok";
  if (is_client_error(c))
    return "invalid";
  switch (c) {
    case error_code::deadline_exceeded: return "deadline_exceeded";
    case error_code::overload:
    case error_code::not_resident:
    case error_code::draining: return "rejected";
    default: return "failed";
  }
}

} // namespace sy::messages
