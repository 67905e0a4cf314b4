// Fuzz target: the msgpack ingress's client side of the wire (actors/ingress_protocol). The input is a byte
// stream as a client would send it, fed to a frame_decoder in chunks whose sizes come from the input itself;
// every frame body goes through decode_request and decode_response.
// Oracles beyond "no crash, no sanitizer report": a request that decodes re-encodes to a frame that decodes
// to the same request; the decoder never buffers more than one frame plus one chunk.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <variant>
#include <vector>

#include "actors/ingress_protocol.hpp"

using namespace sy::actors;

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_ingress_frames: oracle failed: %s\n", what);
    std::abort();
  }
}

void round_trip(const wire_request& r, const ingress_limits& limits) {
  std::vector<char> frame;
  encode_request(r, frame);
  check(frame.size() >= 4, "an encoded request has a length prefix");
  auto again = decode_request(std::string_view(frame.data() + 4, frame.size() - 4), limits);
  check(again.ok(), "a decoded request re-encodes to a frame that decodes");
  check(again->id == r.id && again->model == r.model && again->tokens == r.tokens,
        "a request survives encode and decode");
  check(std::memcmp(&again->slo_ms, &r.slo_ms, sizeof r.slo_ms) == 0, "slo_ms survives encode and decode");
}

void on_body(std::string_view body, const ingress_limits& limits) {
  std::uint64_t id_seen = 0;
  auto req = decode_request(body, limits, &id_seen);
  if (req.ok()) {
    check(req->tokens.size() <= limits.max_tokens, "decode_request enforces max_tokens");
    round_trip(*req, limits);
  } else {
    check(!req.err().message.empty(), "a decode failure has a reason");
  }
  // the generation side (issue 10): either kind of request; a generate request round-trips; server frames
  id_seen = 0;
  auto any = decode_client_request(body, limits, &id_seen);
  if (any.ok()) {
    if (auto* g = std::get_if<wire_generate>(&*any)) {
      check(!g->tokens.empty() && g->tokens.size() <= limits.max_tokens, "a generate prompt is within limits");
      check(g->max_new_tokens > 0 && g->top_p > 0 && g->top_p <= 1 && g->temperature >= 0, "generate settings checked");
      std::vector<char> frame;
      encode_generate(*g, frame);
      auto again = decode_client_request(std::string_view(frame.data() + 4, frame.size() - 4), limits);
      check(again.ok() && std::holds_alternative<wire_generate>(*again), "a generate request re-decodes");
      const auto& h = std::get<wire_generate>(*again);
      check(h.id == g->id && h.tokens == g->tokens && h.max_new_tokens == g->max_new_tokens && h.seed == g->seed &&
              h.stream == g->stream, "a generate request survives encode and decode");
    }
  } else {
    check(!any.err().message.empty(), "a decode failure has a reason");
  }
  (void)decode_generate_frame(body);
  auto resp = decode_response(body);
  if (resp.ok()) {
    std::vector<char> frame;
    encode_response(*resp, frame);
    auto again = decode_response(std::string_view(frame.data() + 4, frame.size() - 4));
    check(again.ok() && again->id == resp->id && again->status == resp->status &&
            again->output.data == resp->output.data && again->output.shape == resp->output.shape,
          "a response survives encode and decode");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2)
    return 0;
  ingress_limits limits;
  limits.max_frame_bytes = 1 + (std::size_t{data[0]} << 6); // 1..16321: small, so oversized paths run
  limits.max_tokens = 1 + data[1];
  std::size_t chunk = 1 + (data[1] % 17);
  data += 2;
  size -= 2;
  frame_decoder dec(limits.max_frame_bytes);
  for (std::size_t at = 0; at < size; at += chunk) {
    std::size_t n = std::min(chunk, size - at);
    dec.feed(reinterpret_cast<const char*>(data + at), n);
    for (;;) {
      auto ev = dec.next();
      if (ev.kind == frame_decoder::event::none)
        break;
      if (ev.kind == frame_decoder::event::frame) {
        check(ev.body.size() <= limits.max_frame_bytes, "a frame body is within max_frame_bytes");
        on_body(ev.body, limits);
      } else {
        check(ev.length > limits.max_frame_bytes, "an oversized event exceeds max_frame_bytes");
      }
    }
    check(dec.buffered() <= 4 + limits.max_frame_bytes + chunk, "the decoder holds at most one frame");
  }
  return 0;
}
