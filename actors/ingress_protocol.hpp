#pragma once
// The client protocol of the msgpack ingress: length-prefixed frames over TCP, each a msgpack map.
//
//   frame    = length (4 bytes, big-endian, counts the body only) + body (a msgpack map)
//   request  = {"id": uint, "model": str, "tokens": [int...], "slo_ms": number (optional)}
//   response = {"id": uint, "status": str, "reason": str, "output": {"data": bin, "dtype": str,
//               "shape": [int...]}, "timings": {name: ms...}, "group": str, "batch_size": int}
//
// Generation (issue 10): a request with "kind": "generate" (absent: "infer"):
//   generate = {"kind": "generate", "id": uint, "model": str, "tokens": [int...] (the prompt),
//               "max_new_tokens": int, "sampling": {"temperature": num, "top_k": int, "top_p": num,
//               "seed": uint} (optional, default greedy), "ignore_eos": bool, "stream": bool,
//               "ttft_ms": num, "tpot_ms": num (optional)}
//   with stream: one frame per new token, as soon as it is sampled: {"id": uint, "index": int, "token": int}
//   then (always) one final frame: {"id", "status", "reason", "tokens": [int...] (all new tokens),
//               "finish_reason": "eos" | "length" | "", "timings": {"queue_ms", "ttft_ms", "tpot_ms",
//               "total_ms", "ingress_ms"}, "token_ms": [ms from arrival per token], "group": str,
//               "preemptions": int}
//   A token frame has "token" and no "status"; the final frame has "status". No frame follows it.
//
// status is one of ok | rejected | deadline_exceeded | failed | invalid (invalid: the request itself is
// malformed: bad frame, bad msgpack, missing key, too many tokens; nothing was scheduled). The README
// ("Ingress protocol") documents the schema; scripts/client.py is the reference client.
//
// Pure functions and one value type (frame_decoder); no I/O, no actors. Any thread may use them; a
// frame_decoder belongs to the one connection (and thread) that feeds it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "messages/errors.hpp"
#include "messages/result.hpp"

namespace sy::actors {

/// Bounds on what one client may send and on how much the ingress holds at once.
struct ingress_limits {
  std::size_t max_frame_bytes = 1 << 20; // body bytes of one frame
  std::size_t max_tokens = 4096;         // tokens in one request
  std::size_t max_in_flight = 4096;      // accepted but unanswered requests, all connections together
  std::size_t max_write_backlog = 16 << 20; // answer bytes queued for a client that does not read them;
                                            // beyond: the connection is closed (memory stays bounded)
  std::size_t max_connections = 1024;    // open client connections per listener; beyond: refused (closed)
  std::chrono::milliseconds idle_timeout{60000}; // a connection with nothing in flight and no bytes for
                                                 // this long is closed; 0: never (msgpack)
  std::size_t http_workers = 16;           // HTTP: threads that read requests and run handlers
  std::chrono::milliseconds read_timeout{2000}; // HTTP: one whole request, from its first byte
};

/// A decoded client request (before the model name is resolved).
struct wire_request {
  std::uint64_t id = 0;
  std::string model;
  std::vector<std::int32_t> tokens;
  double slo_ms = 0; // 0: the model's default SLO
  std::string output{}; // the output kind (logits_last, logits_all, pooler, cls, mean, mean_normalized, hidden);
                      // empty: the model's configured output
};

/// A decoded generate request ("kind": "generate").
struct wire_generate {
  std::uint64_t id = 0;
  std::string model;
  std::vector<std::int32_t> tokens;  // the prompt
  std::int32_t max_new_tokens = 16;
  float temperature = 0.0f;          // 0: greedy
  std::int32_t top_k = 0;
  float top_p = 1.0f;
  std::uint64_t seed = 0;
  bool ignore_eos = false;
  bool stream = false;
  double ttft_ms = 0, tpot_ms = 0;   // 0: the model's
};

/// What a client frame asks for.
using client_request = std::variant<wire_request, wire_generate>;

/// One streamed token.
struct wire_token {
  std::uint64_t id = 0;
  std::int32_t index = 0;
  std::int32_t token = 0;
};

/// The final answer to a generate request.
struct wire_generate_response {
  std::uint64_t id = 0;
  messages::error_code code = messages::error_code::none; // not on the wire (status is)
  std::string status;
  std::string reason;
  std::vector<std::int32_t> tokens;
  std::string finish_reason;
  std::vector<std::pair<std::string, double>> timings; // queue_ms, ttft_ms, tpot_ms, total_ms, ingress_ms
  std::vector<double> token_ms;                        // per token, from arrival
  std::string group;
  int preemptions = 0;
};

/// A frame the server sends for a generate request.
using generate_frame = std::variant<wire_token, wire_generate_response>;

/// A tensor as it travels: raw bytes + dtype + shape.
struct wire_output {
  std::string data;
  std::string dtype;
  std::vector<std::int64_t> shape;
};

/// The one terminal answer to a request.
struct wire_response {
  std::uint64_t id = 0;
  messages::error_code code = messages::error_code::none; // why not ok; not on the wire (status is)
  std::string status; // ok | rejected | deadline_exceeded | failed | invalid: client_status(code)
  std::string reason; // empty when ok
  wire_output output;
  std::vector<std::pair<std::string, double>> timings; // milliseconds, e.g. {"total_ms", 1.2}
  std::string group; // the serving group, empty when none
  int batch_size = 0;
};

/// The answer for a request that is not served: its status is client_status(code).
inline wire_response make_wire_error(std::uint64_t id, messages::error_code code, std::string reason) {
  wire_response r;
  r.id = id;
  r.code = code;
  r.status = messages::client_status(code);
  r.reason = std::move(reason);
  return r;
}

/// A request that could not be decoded: the error and the id, when the body still named one (else 0).
struct decode_failure {
  std::uint64_t id = 0;
  std::string reason;
};

/// Decodes one frame body. Never throws; every failure names the key, what was expected and what was
/// found.
result<wire_request> decode_request(std::string_view body, const ingress_limits& limits,
                                    std::uint64_t* id_seen = nullptr);

/// Decodes one frame body of either kind (infer or generate); errors as decode_request.
result<client_request> decode_client_request(std::string_view body, const ingress_limits& limits,
                                             std::uint64_t* id_seen = nullptr);

/// Frames of generation: a request (clients, tests), a token, a final answer.
void encode_generate(const wire_generate& r, std::vector<char>& out);
void encode_token(const wire_token& t, std::vector<char>& out);
void encode_generate_response(const wire_generate_response& r, std::vector<char>& out);
/// Decodes a server frame of a generate request (a token frame or the final answer).
result<generate_frame> decode_generate_frame(std::string_view body);

/// Appends a whole frame (length prefix + body) for a response / request to out.
void encode_response(const wire_response& r, std::vector<char>& out);
void encode_request(const wire_request& r, std::vector<char>& out);

/// Decodes a response body (used by the replay driver and the benchmarks).
result<wire_response> decode_response(std::string_view body);

/// Splits a byte stream into frame bodies. Feed it whatever arrived, then take frames until none is left.
/// A frame whose announced length exceeds the limit is reported once (as an oversized event) and its body
/// is skipped, so the connection stays usable.
class frame_decoder {
public:
  explicit frame_decoder(std::size_t max_frame_bytes) : max_(max_frame_bytes) {}

  struct event {
    enum kind_t { none, frame, oversized } kind = none;
    std::string_view body;  // kind == frame: valid until the next feed()/next()
    std::size_t length = 0; // kind == oversized: the announced length
  };

  void feed(const char* data, std::size_t n);
  /// The next complete frame, or an oversized notice, or none (need more bytes).
  event next();
  /// Bytes buffered but not yet returned (for bounded-memory checks).
  std::size_t buffered() const { return buf_.size() - pos_; }

private:
  std::size_t max_;
  std::vector<char> buf_;
  std::size_t pos_ = 0;
  std::size_t skip_ = 0; // bytes of an oversized body still to drop
};

} // namespace sy::actors
