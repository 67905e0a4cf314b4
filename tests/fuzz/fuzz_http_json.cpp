// Fuzz target: the HTTP ingress's JSON bodies. The input is an infer body as a client would POST it; it goes
// through messages/json (parse, write, parse again) and the ingress's own parse_infer_json.
// Oracles: write(parse(x)) parses again and writes to the same text (the writer is a fixed point); a body
// that parse_infer_json accepts respects the token limit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "actors/ingress_http.hpp"
#include "messages/json.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_http_json: oracle failed: %s\n", what);
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto v = sy::json::parse(body);
  if (v.ok()) {
    auto text = sy::json::write(*v);
    auto again = sy::json::parse(text);
    check(again.ok(), "what the writer wrote parses");
    check(sy::json::write(*again) == text, "the writer is a fixed point of parse");
    (void)sy::json::write(*v, 2);
  } else {
    check(!v.err().message.empty(), "a parse error has a reason");
  }
  sy::actors::ingress_limits limits;
  limits.max_tokens = 64;
  auto req = sy::actors::parse_infer_json(body, "fuzz-model", limits);
  if (req.ok())
    check(req->tokens.size() <= limits.max_tokens, "parse_infer_json enforces max_tokens");
  return 0;
}
