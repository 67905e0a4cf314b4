#pragma once
// The KServe v2 / Triton HTTP inference protocol's bodies (what `tritonclient[http]` sends and expects):
// pure functions, no I/O; any thread. The routes that use them are in actors/ingress_http.cpp.
//
//   request  = JSON {"id"?: str, "parameters"?: {"binary_data_output"?: bool},
//                    "inputs": [{"name", "shape": [1, n] | [n], "datatype": "INT64" | "INT32",
//                                "data"?: [...], "parameters"?: {"binary_data_size": bytes}}],
//                    "outputs"?: [{"name", "parameters"?: {"binary_data": bool}}]}
//              followed, with the binary tensor data extension, by the raw little-endian tensors in input
//              order (header `Inference-Header-Content-Length` = the JSON's size)
//   response = JSON {"model_name", "model_version", "id"?, "outputs": [{"name": "output", "datatype": "FP32",
//                    "shape": [...], "data": [...] | "parameters": {"binary_data_size": bytes}}]}
//              followed by the raw output when binary output was asked for
//   error    = JSON {"error": reason, "status": client status, "reason": reason} with the HTTP status of the
//              error code (messages/errors.hpp)
//
// One input tensor: the token ids of one sequence (a batch dimension of 1 is accepted).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/ingress_protocol.hpp"
#include "messages/result.hpp"

namespace sy::actors {

inline constexpr const char* kserve_input_name = "input_ids";
inline constexpr const char* kserve_output_name = "output";

struct kserve_request {
  std::string id;             // echoed in the response when non-empty
  std::vector<std::int32_t> tokens;
  bool binary_output = false; // answer the output as raw bytes after the JSON
  std::string output{};       // parameters.output: the output kind (empty: the model's)
  std::string output_name = kserve_output_name;
};

/// Parses an infer request body. `header_length`: the Inference-Header-Content-Length header (the JSON
/// part's size), absent without binary inputs. Errors name the field, what was expected and what was found.
result<kserve_request> parse_kserve_infer(const std::string& body, std::optional<std::size_t> header_length,
                                          const ingress_limits& limits);

/// True when `body` is a KServe infer request rather than the simple {"tokens": [...]} form.
bool looks_like_kserve(const std::string& body, bool has_header_length);

struct kserve_body {
  std::string body;
  std::optional<std::size_t> header_length; // set: binary output follows the JSON
};

/// The response body for an ok answer.
kserve_body render_kserve_response(const wire_response& w, const std::string& model, const kserve_request& r);

/// {"error": reason, "status": status, "reason": reason}
std::string kserve_error_json(const std::string& status, const std::string& reason);

/// GET /v2 (server metadata).
std::string kserve_server_metadata();
/// GET /v2/models/{m} (model metadata).
std::string kserve_model_metadata(const std::string& model);

} // namespace sy::actors
