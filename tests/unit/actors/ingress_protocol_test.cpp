#include <catch2/catch.hpp>

#include <msgpack.hpp>

#include "actors/ingress_protocol.hpp"

using namespace sy::actors;

namespace {

// The body of a frame (without its 4-byte length).
std::string body_of(const std::vector<char>& frame) {
  REQUIRE(frame.size() >= 4);
  return std::string(frame.begin() + 4, frame.end());
}

template <class F>
std::string pack_with(F&& f) {
  msgpack::sbuffer sb;
  msgpack::packer<msgpack::sbuffer> pk(sb);
  f(pk);
  return std::string(sb.data(), sb.size());
}

} // namespace

TEST_CASE("a request survives encode and decode with every field") {
  wire_request r{42, "bert-1", {1, 2, 3, 70000}, 250};
  std::vector<char> frame;
  encode_request(r, frame);
  auto got = decode_request(body_of(frame), ingress_limits{});
  REQUIRE(got.ok());
  CHECK(got->id == 42);
  CHECK(got->model == "bert-1");
  CHECK(got->tokens == std::vector<std::int32_t>{1, 2, 3, 70000});
  CHECK(got->slo_ms == 250);
}

TEST_CASE("the frame length prefix is big-endian and counts only the body") {
  wire_request r{1, "m", {5}, 0};
  std::vector<char> frame;
  encode_request(r, frame);
  auto n = (std::uint32_t(std::uint8_t(frame[0])) << 24) | (std::uint32_t(std::uint8_t(frame[1])) << 16) |
           (std::uint32_t(std::uint8_t(frame[2])) << 8) | std::uint32_t(std::uint8_t(frame[3]));
  CHECK(n == frame.size() - 4);
}

TEST_CASE("a response survives encode and decode including output bytes and timings") {
  wire_response r;
  r.id = 7;
  r.status = "ok";
  r.output.data = std::string("\x00\x01\x02\xff", 4);
  r.output.dtype = "float32";
  r.output.shape = {1, 1};
  r.timings = {{"total_ms", 1.5}, {"load_wait_ms", 0.25}};
  r.group = "decoders";
  r.batch_size = 4;
  std::vector<char> frame;
  encode_response(r, frame);
  auto got = decode_response(body_of(frame));
  REQUIRE(got.ok());
  CHECK(got->id == 7);
  CHECK(got->status == "ok");
  CHECK(got->output.data == r.output.data);
  CHECK(got->output.dtype == "float32");
  CHECK(got->output.shape == std::vector<std::int64_t>{1, 1});
  CHECK(got->timings == r.timings);
  CHECK(got->group == "decoders");
  CHECK(got->batch_size == 4);
}

TEST_CASE("bytes that are not msgpack give a precise invalid error") {
  auto got = decode_request(std::string("\xc1\xc1\xc1", 3), ingress_limits{});
  REQUIRE_FALSE(got.ok());
  CHECK(got.err().category == "invalid");
  CHECK(got.err().message.find("malformed msgpack") != std::string::npos);
}

TEST_CASE("a request that is not a map names what it found") {
  auto body = pack_with([](auto& pk) { pk.pack_array(1); pk.pack_int(1); });
  auto got = decode_request(body, ingress_limits{});
  REQUIRE_FALSE(got.ok());
  CHECK(got.err().message == "request: expected a map, found array");
}

TEST_CASE("a missing model is reported with the id still recovered") {
  auto body = pack_with([](auto& pk) {
    pk.pack_map(2);
    pk.pack(std::string("id"));
    pk.pack(99);
    pk.pack(std::string("tokens"));
    pk.pack(std::vector<int>{1});
  });
  std::uint64_t id = 0;
  auto got = decode_request(body, ingress_limits{}, &id);
  REQUIRE_FALSE(got.ok());
  CHECK(id == 99);
  CHECK(got.err().message.find("missing key 'model'") != std::string::npos);
}

TEST_CASE("a token of the wrong type is reported with its index") {
  auto body = pack_with([](auto& pk) {
    pk.pack_map(3);
    pk.pack(std::string("id"));
    pk.pack(1);
    pk.pack(std::string("model"));
    pk.pack(std::string("m"));
    pk.pack(std::string("tokens"));
    pk.pack_array(2);
    pk.pack(3);
    pk.pack(std::string("x"));
  });
  auto got = decode_request(body, ingress_limits{});
  REQUIRE_FALSE(got.ok());
  CHECK(got.err().message == "'tokens'[1]: expected a non-negative 32-bit integer, found string");
}

TEST_CASE("more tokens than the limit are rejected before they are decoded") {
  ingress_limits lim;
  lim.max_tokens = 8;
  wire_request r{1, "m", std::vector<std::int32_t>(9, 1), 0};
  std::vector<char> frame;
  encode_request(r, frame);
  auto got = decode_request(body_of(frame), lim);
  REQUIRE_FALSE(got.ok());
  CHECK(got.err().message.find("limit of 8") != std::string::npos);
  r.tokens.resize(8);
  frame.clear();
  encode_request(r, frame);
  CHECK(decode_request(body_of(frame), lim).ok());
}

TEST_CASE("an empty token list is invalid") {
  wire_request r{1, "m", {}, 0};
  std::vector<char> frame;
  encode_request(r, frame);
  auto got = decode_request(body_of(frame), ingress_limits{});
  REQUIRE_FALSE(got.ok());
  CHECK(got.err().message.find("at least one token") != std::string::npos);
}

TEST_CASE("the frame decoder reassembles frames split at every byte") {
  std::vector<char> stream;
  for (std::uint64_t i = 0; i < 3; ++i)
    encode_request(wire_request{i, "m", {int(i) + 1}, 0}, stream);
  frame_decoder dec(1024);
  std::vector<std::uint64_t> ids;
  for (char c : stream) {
    dec.feed(&c, 1);
    for (auto ev = dec.next(); ev.kind != frame_decoder::event::none; ev = dec.next()) {
      REQUIRE(ev.kind == frame_decoder::event::frame);
      auto r = decode_request(ev.body, ingress_limits{});
      REQUIRE(r.ok());
      ids.push_back(r->id);
    }
  }
  CHECK(ids == std::vector<std::uint64_t>{0, 1, 2});
  CHECK(dec.buffered() == 0);
}

TEST_CASE("an oversized frame is reported once, skipped, and the next frame still decodes") {
  std::vector<char> stream;
  encode_request(wire_request{1, "m", std::vector<std::int32_t>(100, 7), 0}, stream);
  auto big = stream.size() - 4;
  encode_request(wire_request{2, "m", {1}, 0}, stream);
  frame_decoder dec(64);
  // Deliver in two chunks that cut through the oversized body.
  dec.feed(stream.data(), 30);
  auto ev = dec.next();
  REQUIRE(ev.kind == frame_decoder::event::oversized);
  CHECK(ev.length == big);
  CHECK(dec.next().kind == frame_decoder::event::none);
  dec.feed(stream.data() + 30, stream.size() - 30);
  ev = dec.next();
  REQUIRE(ev.kind == frame_decoder::event::frame);
  auto r = decode_request(ev.body, ingress_limits{});
  REQUIRE(r.ok());
  CHECK(r->id == 2);
}
