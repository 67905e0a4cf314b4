// The msgpack frames of generation (actors/ingress_protocol.hpp): requests of either kind, token frames and
// the final answer, and the precise errors of bad generate requests.
#include <catch2/catch.hpp>

#include <msgpack.hpp>

#include "actors/ingress_protocol.hpp"

using namespace sy::actors;

namespace {

std::string_view body_of(const std::vector<char>& frame) {
  return {frame.data() + 4, frame.size() - 4};
}

/// A generate request body with `extra` packed after the required keys.
template <class F>
std::string body_with(F extra, int extra_keys) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(4 + extra_keys);
  pk.pack(std::string{"kind"});
  pk.pack(std::string{"generate"});
  pk.pack(std::string{"id"});
  pk.pack(7u);
  pk.pack(std::string{"model"});
  pk.pack(std::string{"m"});
  pk.pack(std::string{"tokens"});
  pk.pack(std::vector<int>{1, 2, 3});
  extra(pk);
  return std::string(buf.data(), buf.size());
}

} // namespace

TEST_CASE("a generate request survives encode and decode, and a request without kind is an infer",
          "[actors][generation]") {
  wire_generate g;
  g.id = 42;
  g.model = "tiny-gpt";
  g.tokens = {5, 6, 7};
  g.max_new_tokens = 9;
  g.temperature = 0.5f;
  g.top_k = 3;
  g.top_p = 0.75f;
  g.seed = 11;
  g.ignore_eos = true;
  g.stream = true;
  g.ttft_ms = 250;
  std::vector<char> frame;
  encode_generate(g, frame);
  ingress_limits limits;
  auto any = decode_client_request(body_of(frame), limits);
  REQUIRE(any.ok());
  REQUIRE(std::holds_alternative<wire_generate>(*any));
  const auto& h = std::get<wire_generate>(*any);
  CHECK(h.id == 42);
  CHECK(h.model == "tiny-gpt");
  CHECK(h.tokens == g.tokens);
  CHECK(h.max_new_tokens == 9);
  CHECK(h.temperature == 0.5f);
  CHECK(h.top_k == 3);
  CHECK(h.top_p == 0.75f);
  CHECK(h.seed == 11);
  CHECK(h.ignore_eos);
  CHECK(h.stream);
  CHECK(h.ttft_ms == 250);
  wire_request r;
  r.id = 1;
  r.model = "m";
  r.tokens = {1};
  frame.clear();
  encode_request(r, frame);
  any = decode_client_request(body_of(frame), limits);
  REQUIRE(any.ok());
  CHECK(std::holds_alternative<wire_request>(*any));
}

TEST_CASE("token frames and final answers of a generation decode as what was sent", "[actors][generation]") {
  std::vector<char> frame;
  encode_token(wire_token{3, 4, 99}, frame);
  auto f = decode_generate_frame(body_of(frame));
  REQUIRE(f.ok());
  REQUIRE(std::holds_alternative<wire_token>(*f));
  CHECK(std::get<wire_token>(*f).index == 4);
  CHECK(std::get<wire_token>(*f).token == 99);
  wire_generate_response w;
  w.id = 3;
  w.status = "ok";
  w.tokens = {99, 100};
  w.finish_reason = "length";
  w.timings = {{"ttft_ms", 1.5}};
  w.token_ms = {1.5, 2.5};
  w.preemptions = 1;
  frame.clear();
  encode_generate_response(w, frame);
  f = decode_generate_frame(body_of(frame));
  REQUIRE(f.ok());
  REQUIRE(std::holds_alternative<wire_generate_response>(*f));
  const auto& v = std::get<wire_generate_response>(*f);
  CHECK(v.tokens == w.tokens);
  CHECK(v.finish_reason == "length");
  CHECK(v.token_ms == w.token_ms);
  CHECK(v.preemptions == 1);
}

TEST_CASE("bad generate requests get errors that name the key and what was found", "[actors][generation]") {
  ingress_limits limits;
  struct row {
    std::string body;
    std::string says;
  };
  std::vector<row> rows{
    {body_with([](auto& pk) { pk.pack(std::string{"max_new_tokens"}); pk.pack(0); }, 1),
     "'max_new_tokens': expected a positive integer"},
    {body_with([](auto& pk) { pk.pack(std::string{"max_new_tokens"}); pk.pack(std::string{"x"}); }, 1),
     "'max_new_tokens': expected a positive integer up to 1048576, found string"},
    {body_with([](auto& pk) {
       pk.pack(std::string{"sampling"});
       pk.pack_map(1);
       pk.pack(std::string{"temperature"});
       pk.pack(-0.5);
     }, 1), "'sampling.temperature': expected a number >= 0, found -0.5"},
    {body_with([](auto& pk) {
       pk.pack(std::string{"sampling"});
       pk.pack_map(1);
       pk.pack(std::string{"top_p"});
       pk.pack(1.5);
     }, 1), "'sampling.top_p': expected a number in (0, 1], found 1.5"},
    {body_with([](auto& pk) {
       pk.pack(std::string{"sampling"});
       pk.pack_map(1);
       pk.pack(std::string{"beam"});
       pk.pack(2);
     }, 1), "'sampling': unknown key 'beam'"},
    {body_with([](auto& pk) { pk.pack(std::string{"stream"}); pk.pack(1); }, 1), "'stream': expected a boolean"},
    {body_with([](auto& pk) { pk.pack(std::string{"ttft_ms"}); pk.pack(-1); }, 1),
     "'ttft_ms': expected a positive number of milliseconds up to 1e9, found -1"},
    {body_with([](auto& pk) { pk.pack(std::string{"tpot_ms"}); pk.pack(-2.5); }, 1),
     "'tpot_ms': expected a positive number of milliseconds up to 1e9, found -2.5"},
    {body_with([](auto& pk) { pk.pack(std::string{"ttft_ms"}); pk.pack(std::string{"soon"}); }, 1),
     "'ttft_ms': expected a positive number of milliseconds up to 1e9, found string"},
    {body_with([](auto& pk) { pk.pack(std::string{"max_new_tokens"}); pk.pack(-3); }, 1),
     "'max_new_tokens': expected a positive integer up to 1048576, found -3"},
  };
  for (const auto& r : rows) {
    INFO(r.says);
    auto any = decode_client_request(r.body, limits);
    REQUIRE_FALSE(any.ok());
    CHECK(any.err().message.find(r.says) != std::string::npos);
  }
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(1);
  pk.pack(std::string{"kind"});
  pk.pack(std::string{"train"});
  auto any = decode_client_request(std::string_view(buf.data(), buf.size()), limits);
  REQUIRE_FALSE(any.ok());
  CHECK(any.err().message == "'kind': expected \"infer\" or \"generate\", found \"train\"");
}
