#include "actors/ingress_protocol.hpp"

#include <cstring>
#include <exception>
#include <limits>

#include <fmt/format.h>
#include <msgpack.hpp>

namespace sy::actors {
namespace {

/// msgpack-c's packer writes through any type with write(const char*, size_t).
struct vec_writer {
  std::vector<char>& out;
  void write(const char* p, std::size_t n) { out.insert(out.end(), p, p + n); }
};

const char* type_name(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "bool";
    case msgpack::type::POSITIVE_INTEGER: return "unsigned integer";
    case msgpack::type::NEGATIVE_INTEGER: return "negative integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "float";
    case msgpack::type::STR: return "string";
    case msgpack::type::BIN: return "binary";
    case msgpack::type::ARRAY: return "array";
    case msgpack::type::MAP: return "map";
    case msgpack::type::EXT: return "ext";
  }
  return "unknown";
}

/// Whether a decoded number converts to int32 without undefined behaviour (NaN and out-of-range do not).
bool in_int32(double x) {
  return x >= -2147483648.0 && x <= 2147483647.0;
}

bool as_number(const msgpack::object& o, double& out) {
  switch (o.type) {
    case msgpack::type::POSITIVE_INTEGER: out = static_cast<double>(o.via.u64); return true;
    case msgpack::type::NEGATIVE_INTEGER: out = static_cast<double>(o.via.i64); return true;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: out = o.via.f64; return true;
    default: return false;
  }
}

std::string_view key_of(const msgpack::object_kv& kv) {
  if (kv.key.type != msgpack::type::STR)
    return {};
  return {kv.key.via.str.ptr, kv.key.via.str.size};
}

void write_frame_length(std::vector<char>& out, std::size_t at) {
  auto n = static_cast<std::uint32_t>(out.size() - at - 4);
  out[at] = static_cast<char>((n >> 24) & 0xff);
  out[at + 1] = static_cast<char>((n >> 16) & 0xff);
  out[at + 2] = static_cast<char>((n >> 8) & 0xff);
  out[at + 3] = static_cast<char>(n & 0xff);
}

void pack_str(msgpack::packer<vec_writer>& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

/// Appends one frame to `out`: the 4-byte big-endian length, then the msgpack map that `body` packs.
template <class Body>
void append_frame(std::vector<char>& out, Body&& body) {
  std::size_t at = out.size();
  out.resize(at + 4);
  vec_writer w{out};
  msgpack::packer<vec_writer> pk(w);
  body(pk);
  write_frame_length(out, at);
}


/// Unpacks one request body: a map, within the limits.
status unpack_body(std::string_view body, const ingress_limits& limits, msgpack::object_handle& oh) {
  // Limits bound what the unpacker allocates before it has seen the data (a claimed array length).
  msgpack::unpack_limit lim(limits.max_tokens + 1, 16, body.size(), body.size(), 0, 4);
  try {
    std::size_t off = 0;
    oh = msgpack::unpack(body.data(), body.size(), off, nullptr, nullptr, lim);
    if (off != body.size())
      return make_error("invalid", fmt::format("frame holds {} trailing bytes after the msgpack map",
                                               body.size() - off));
  } catch (const msgpack::array_size_overflow&) {
    return make_error("invalid",
                      fmt::format("'tokens': more than the limit of {} tokens", limits.max_tokens));
  } catch (const std::exception& e) {
    return make_error("invalid", fmt::format("malformed msgpack: {}", e.what()));
  }
  if (oh.get().type != msgpack::type::MAP)
    return make_error("invalid", fmt::format("request: expected a map, found {}", type_name(oh.get())));
  return {};
}

/// The request's kind ("infer" when the key is absent), or an error naming what was found.
result<std::string> kind_of(const msgpack::object& o) {
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    if (key_of(kv) != "kind")
      continue;
    if (kv.val.type != msgpack::type::STR)
      return make_error("invalid", fmt::format("'kind': expected \"infer\" or \"generate\", found {}", type_name(kv.val)));
    std::string k(kv.val.via.str.ptr, kv.val.via.str.size);
    if (k != "infer" && k != "generate")
      return make_error("invalid", fmt::format("'kind': expected \"infer\" or \"generate\", found \"{}\"", k.substr(0, 32)));
    return k;
  }
  return std::string{"infer"};
}

/// The prompt / tokens array: non-negative 32-bit integers, at most the limit.
status read_tokens(const msgpack::object& v, const ingress_limits& limits, std::vector<std::int32_t>& out) {
  if (v.type != msgpack::type::ARRAY)
    return make_error("invalid", fmt::format("'tokens': expected an array of integers, found {}", type_name(v)));
  if (v.via.array.size > limits.max_tokens)
    return make_error("invalid", fmt::format("'tokens': {} tokens exceed the limit of {}", v.via.array.size,
                                             limits.max_tokens));
  out.reserve(v.via.array.size);
  for (std::uint32_t j = 0; j < v.via.array.size; ++j) {
    const auto& t = v.via.array.ptr[j];
    if (t.type == msgpack::type::POSITIVE_INTEGER &&
        t.via.u64 <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()))
      out.push_back(static_cast<std::int32_t>(t.via.u64));
    else
      return make_error("invalid", fmt::format("'tokens'[{}]: expected a non-negative 32-bit integer, found {}", j,
                                               type_name(t)));
  }
  return {};
}

result<wire_generate> parse_generate(const msgpack::object& o, const ingress_limits& limits) {
  wire_generate r;
  bool has_id = false, has_model = false, has_tokens = false;
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    auto key = key_of(kv);
    const auto& v = kv.val;
    double num = 0;
    if (key == "id") {
      if (v.type != msgpack::type::POSITIVE_INTEGER)
        return make_error("invalid", fmt::format("'id': expected an unsigned integer, found {}", type_name(v)));
      r.id = v.via.u64;
      has_id = true;
    } else if (key == "model") {
      if (v.type != msgpack::type::STR)
        return make_error("invalid", fmt::format("'model': expected a string, found {}", type_name(v)));
      r.model.assign(v.via.str.ptr, v.via.str.size);
      has_model = true;
    } else if (key == "tokens") {
      if (auto st = read_tokens(v, limits, r.tokens); !st)
        return st.err();
      has_tokens = true;
    } else if (key == "max_new_tokens") {
      if (v.type != msgpack::type::POSITIVE_INTEGER || v.via.u64 == 0 || v.via.u64 > (1u << 20))
        return make_error("invalid", fmt::format("'max_new_tokens': expected a positive integer up to {}, found {}",
                                                 1u << 20, v.type == msgpack::type::POSITIVE_INTEGER ? std::to_string(v.via.u64)
                                                           : v.type == msgpack::type::NEGATIVE_INTEGER ? std::to_string(v.via.i64)
                                                                                                      : std::string{type_name(v)}));
      r.max_new_tokens = static_cast<std::int32_t>(v.via.u64);
    } else if (key == "ignore_eos" || key == "stream") {
      if (v.type != msgpack::type::BOOLEAN)
        return make_error("invalid", fmt::format("'{}': expected a boolean, found {}", key, type_name(v)));
      (key == "stream" ? r.stream : r.ignore_eos) = v.via.boolean;
    } else if (key == "ttft_ms" || key == "tpot_ms") {
      if (v.type == msgpack::type::NIL)
        continue;
      if (!as_number(v, num) || !(num > 0) || num > 1e9)
        return make_error("invalid", fmt::format("'{}': expected a positive number of milliseconds up to 1e9, found {}",
                                                 key, as_number(v, num) ? fmt::format("{}", num) : std::string{type_name(v)}));
      (key == "ttft_ms" ? r.ttft_ms : r.tpot_ms) = num;
    } else if (key == "sampling") {
      if (v.type == msgpack::type::NIL)
        continue;
      if (v.type != msgpack::type::MAP)
        return make_error("invalid", fmt::format("'sampling': expected a map, found {}", type_name(v)));
      for (std::uint32_t j = 0; j < v.via.map.size; ++j) {
        const auto& skv = v.via.map.ptr[j];
        auto sk = key_of(skv);
        const auto& sv = skv.val;
        if (sk == "temperature") {
          if (!as_number(sv, num) || !(num >= 0) || num > 1e6)
            return make_error("invalid", fmt::format("'sampling.temperature': expected a number >= 0, found {}",
                                                     as_number(sv, num) ? fmt::format("{}", num) : type_name(sv)));
          r.temperature = static_cast<float>(num);
        } else if (sk == "top_p") {
          if (!as_number(sv, num) || !(num > 0) || num > 1)
            return make_error("invalid", fmt::format("'sampling.top_p': expected a number in (0, 1], found {}",
                                                     as_number(sv, num) ? fmt::format("{}", num) : type_name(sv)));
          r.top_p = static_cast<float>(num);
        } else if (sk == "top_k") {
          if (sv.type != msgpack::type::POSITIVE_INTEGER || sv.via.u64 > (1u << 30))
            return make_error("invalid", fmt::format("'sampling.top_k': expected a non-negative integer, found {}",
                                                     type_name(sv)));
          r.top_k = static_cast<std::int32_t>(sv.via.u64);
        } else if (sk == "seed") {
          if (sv.type != msgpack::type::POSITIVE_INTEGER)
            return make_error("invalid", fmt::format("'sampling.seed': expected an unsigned integer, found {}",
                                                     type_name(sv)));
          r.seed = sv.via.u64;
        } else {
          return make_error("invalid", fmt::format("'sampling': unknown key '{}' (expected temperature, top_k, top_p, "
                                                   "seed)", std::string(sk).substr(0, 32)));
        }
      }
    }
  }
  if (!has_id)
    return make_error("invalid", "request: missing key 'id' (unsigned integer)");
  if (!has_model)
    return make_error("invalid", "request: missing key 'model' (string)");
  if (!has_tokens)
    return make_error("invalid", "request: missing key 'tokens' (array of integers, the prompt)");
  if (r.tokens.empty())
    return make_error("invalid", "'tokens': expected at least one prompt token, found an empty array");
  return r;
}

result<wire_request> parse_infer(const msgpack::object& o, const ingress_limits& limits, std::uint64_t* id_seen);

} // namespace

result<wire_request> decode_request(std::string_view body, const ingress_limits& limits,
                                    std::uint64_t* id_seen) {
  msgpack::object_handle oh;
  if (auto st = unpack_body(body, limits, oh); !st)
    return st.err();
  return parse_infer(oh.get(), limits, id_seen);
}

result<client_request> decode_client_request(std::string_view body, const ingress_limits& limits,
                                             std::uint64_t* id_seen) {
  msgpack::object_handle oh;
  if (auto st = unpack_body(body, limits, oh); !st)
    return st.err();
  const msgpack::object& o = oh.get();
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) // the id first: every later error is answered to it
    if (key_of(o.via.map.ptr[i]) == "id" && o.via.map.ptr[i].val.type == msgpack::type::POSITIVE_INTEGER && id_seen)
      *id_seen = o.via.map.ptr[i].val.via.u64;
  auto kind = kind_of(o);
  if (!kind)
    return kind.err();
  if (*kind == "generate") {
    auto g = parse_generate(o, limits);
    if (!g)
      return g.err();
    return client_request{std::move(*g)};
  }
  auto r = parse_infer(o, limits, id_seen);
  if (!r)
    return r.err();
  return client_request{std::move(*r)};
}

namespace {

result<wire_request> parse_infer(const msgpack::object& o, const ingress_limits& limits, std::uint64_t* id_seen) {
  wire_request r;
  bool has_id = false, has_model = false, has_tokens = false;
  // First pass: the id, so that every later error can still be answered to the right request.
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    if (key_of(kv) == "id" && kv.val.type == msgpack::type::POSITIVE_INTEGER) {
      r.id = kv.val.via.u64;
      has_id = true;
      if (id_seen)
        *id_seen = r.id;
    }
  }
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    auto key = key_of(kv);
    const auto& v = kv.val;
    if (key == "id") {
      if (!has_id)
        return make_error("invalid", fmt::format("'id': expected an unsigned integer, found {}",
                                                 type_name(v)));
    } else if (key == "model") {
      if (v.type != msgpack::type::STR)
        return make_error("invalid", fmt::format("'model': expected a string, found {}", type_name(v)));
      r.model.assign(v.via.str.ptr, v.via.str.size);
      has_model = true;
    } else if (key == "tokens") {
      if (v.type != msgpack::type::ARRAY)
        return make_error("invalid",
                          fmt::format("'tokens': expected an array of integers, found {}", type_name(v)));
      if (v.via.array.size > limits.max_tokens)
        return make_error("invalid", fmt::format("'tokens': {} tokens exceed the limit of {}",
                                                 v.via.array.size, limits.max_tokens));
      r.tokens.reserve(v.via.array.size);
      for (std::uint32_t j = 0; j < v.via.array.size; ++j) {
        const auto& t = v.via.array.ptr[j];
        if (t.type == msgpack::type::POSITIVE_INTEGER &&
            t.via.u64 <= static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()))
          r.tokens.push_back(static_cast<std::int32_t>(t.via.u64));
        else
          return make_error("invalid",
                            fmt::format("'tokens'[{}]: expected a non-negative 32-bit integer, found {}",
                                        j, type_name(t)));
      }
      has_tokens = true;
    } else if (key == "output") {
      if (v.type != msgpack::type::STR)
        return make_error("invalid", fmt::format("'output': expected a string (an output kind), found {}",
                                                 type_name(v)));
      r.output.assign(v.via.str.ptr, v.via.str.size);
    } else if (key == "slo_ms") {
      if (v.type == msgpack::type::NIL)
        continue;
      if (!as_number(v, r.slo_ms) || !(r.slo_ms >= 0))
        return make_error("invalid",
                          fmt::format("'slo_ms': expected a non-negative number, found {}", type_name(v)));
    }
    // Other keys are ignored (forward compatibility).
  }
  if (!has_id)
    return make_error("invalid", "request: missing key 'id' (unsigned integer)");
  if (!has_model)
    return make_error("invalid", "request: missing key 'model' (string)");
  if (!has_tokens)
    return make_error("invalid", "request: missing key 'tokens' (array of integers)");
  if (r.tokens.empty())
    return make_error("invalid", "'tokens': expected at least one token, found an empty array");
  return r;
}

} // namespace

namespace {

/// The first three keys of every answer frame: id, status, reason.
void pack_answer_head(msgpack::packer<vec_writer>& pk, std::uint64_t id, const std::string& status,
                      const std::string& reason) {
  pack_str(pk, "id");
  pk.pack_uint64(id);
  pack_str(pk, "status");
  pack_str(pk, status);
  pack_str(pk, "reason");
  pack_str(pk, reason);
}

} // namespace

void encode_response(const wire_response& r, std::vector<char>& out) {
  append_frame(out, [&](msgpack::packer<vec_writer>& pk) {
    pk.pack_map(7);
    pack_answer_head(pk, r.id, r.status, r.reason);
    pack_str(pk, "output");
    pk.pack_map(3);
    pack_str(pk, "data");
    pk.pack_bin(static_cast<std::uint32_t>(r.output.data.size()));
    pk.pack_bin_body(r.output.data.data(), static_cast<std::uint32_t>(r.output.data.size()));
    pack_str(pk, "dtype");
    pack_str(pk, r.output.dtype);
    pack_str(pk, "shape");
    pk.pack_array(static_cast<std::uint32_t>(r.output.shape.size()));
    for (auto d : r.output.shape)
      pk.pack_int64(d);
    pack_str(pk, "timings");
    pk.pack_map(static_cast<std::uint32_t>(r.timings.size()));
    for (const auto& [name, ms] : r.timings) {
      pack_str(pk, name);
      pk.pack_double(ms);
    }
    pack_str(pk, "group");
    pack_str(pk, r.group);
    pack_str(pk, "batch_size");
    pk.pack_int(r.batch_size);
  });
}

void encode_request(const wire_request& r, std::vector<char>& out) {
  append_frame(out, [&](msgpack::packer<vec_writer>& pk) {
    pk.pack_map(3 + (r.slo_ms > 0 ? 1 : 0) + (r.output.empty() ? 0 : 1));
    pack_str(pk, "id");
    pk.pack_uint64(r.id);
    pack_str(pk, "model");
    pack_str(pk, r.model);
    pack_str(pk, "tokens");
    pk.pack_array(static_cast<std::uint32_t>(r.tokens.size()));
    for (auto t : r.tokens)
      pk.pack_int32(t);
    if (r.slo_ms > 0) {
      pack_str(pk, "slo_ms");
      pk.pack_double(r.slo_ms);
    }
    if (!r.output.empty()) {
      pack_str(pk, "output");
      pack_str(pk, r.output);
    }
  });
}

result<wire_response> decode_response(std::string_view body) {
  msgpack::object_handle oh;
  try {
    // no array, map, string or binary can have more entries than the body has bytes: without this limit a
    // 5-byte array header makes msgpack reserve up to 64 GiB (found by the ingress_frames fuzz target)
    msgpack::unpack_limit lim(body.size(), body.size(), body.size(), body.size(), 0, 8);
    oh = msgpack::unpack(body.data(), body.size(), nullptr, nullptr, lim);
  } catch (const std::exception& e) {
    return make_error("invalid", fmt::format("malformed msgpack response: {}", e.what()));
  }
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::MAP)
    return make_error("invalid", fmt::format("response: expected a map, found {}", type_name(o)));
  wire_response r;
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    auto key = key_of(kv);
    const auto& v = kv.val;
    double num = 0;
    if (key == "id" && v.type == msgpack::type::POSITIVE_INTEGER) {
      r.id = v.via.u64;
    } else if (key == "status" && v.type == msgpack::type::STR) {
      r.status.assign(v.via.str.ptr, v.via.str.size);
    } else if (key == "reason" && v.type == msgpack::type::STR) {
      r.reason.assign(v.via.str.ptr, v.via.str.size);
    } else if (key == "group" && v.type == msgpack::type::STR) {
      r.group.assign(v.via.str.ptr, v.via.str.size);
    } else if (key == "batch_size" && as_number(v, num) && in_int32(num)) {
      r.batch_size = static_cast<int>(num);
    } else if (key == "timings" && v.type == msgpack::type::MAP) {
      for (std::uint32_t j = 0; j < v.via.map.size; ++j)
        if (as_number(v.via.map.ptr[j].val, num))
          r.timings.emplace_back(std::string(key_of(v.via.map.ptr[j])), num);
    } else if (key == "output" && v.type == msgpack::type::MAP) {
      for (std::uint32_t j = 0; j < v.via.map.size; ++j) {
        const auto& okv = v.via.map.ptr[j];
        auto ok = key_of(okv);
        if (ok == "data" && okv.val.type == msgpack::type::BIN)
          r.output.data.assign(okv.val.via.bin.ptr, okv.val.via.bin.size);
        else if (ok == "dtype" && okv.val.type == msgpack::type::STR)
          r.output.dtype.assign(okv.val.via.str.ptr, okv.val.via.str.size);
        else if (ok == "shape" && okv.val.type == msgpack::type::ARRAY)
          for (std::uint32_t k = 0; k < okv.val.via.array.size; ++k)
            if (as_number(okv.val.via.array.ptr[k], num) && num >= -9.2e18 && num <= 9.2e18)
              r.output.shape.push_back(static_cast<std::int64_t>(num));
      }
    }
  }
  if (r.status.empty())
    return make_error("invalid", "response: missing key 'status'");
  return r;
}

void frame_decoder::feed(const char* data, std::size_t n) {
  if (skip_ > 0) {
    std::size_t drop = std::min(skip_, n);
    skip_ -= drop;
    data += drop;
    n -= drop;
  }
  if (n == 0)
    return;
  // Compact consumed bytes before growing.
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1 << 16) && pos_ * 2 > buf_.size()) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), data, data + n);
}

frame_decoder::event frame_decoder::next() {
  event ev;
  std::size_t avail = buf_.size() - pos_;
  if (skip_ > 0 || avail < 4)
    return ev;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  std::size_t len = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) |
                    std::size_t{p[3]};
  if (len > max_) {
    pos_ += 4;
    std::size_t drop = std::min(len, buf_.size() - pos_);
    pos_ += drop;
    skip_ = len - drop;
    ev.kind = event::oversized;
    ev.length = len;
    return ev;
  }
  if (avail < 4 + len)
    return ev;
  ev.kind = event::frame;
  ev.body = std::string_view(buf_.data() + pos_ + 4, len);
  pos_ += 4 + len;
  return ev;
}

void encode_generate(const wire_generate& r, std::vector<char>& out) {
  append_frame(out, [&](msgpack::packer<vec_writer>& pk) {
    pk.pack_map(8 + (r.ttft_ms > 0 ? 1 : 0) + (r.tpot_ms > 0 ? 1 : 0));
    pack_str(pk, "kind");
    pack_str(pk, "generate");
    pack_str(pk, "id");
    pk.pack_uint64(r.id);
    pack_str(pk, "model");
    pack_str(pk, r.model);
    pack_str(pk, "tokens");
    pk.pack_array(static_cast<std::uint32_t>(r.tokens.size()));
    for (auto t : r.tokens)
      pk.pack_int32(t);
    pack_str(pk, "max_new_tokens");
    pk.pack_int32(r.max_new_tokens);
    pack_str(pk, "sampling");
    pk.pack_map(4);
    pack_str(pk, "temperature");
    pk.pack_double(r.temperature);
    pack_str(pk, "top_k");
    pk.pack_int32(r.top_k);
    pack_str(pk, "top_p");
    pk.pack_double(r.top_p);
    pack_str(pk, "seed");
    pk.pack_uint64(r.seed);
    pack_str(pk, "ignore_eos");
    r.ignore_eos ? pk.pack_true() : pk.pack_false();
    pack_str(pk, "stream");
    r.stream ? pk.pack_true() : pk.pack_false();
    if (r.ttft_ms > 0) {
      pack_str(pk, "ttft_ms");
      pk.pack_double(r.ttft_ms);
    }
    if (r.tpot_ms > 0) {
      pack_str(pk, "tpot_ms");
      pk.pack_double(r.tpot_ms);
    }
  });
}

void encode_token(const wire_token& t, std::vector<char>& out) {
  append_frame(out, [&](msgpack::packer<vec_writer>& pk) {
    pk.pack_map(3);
    pack_str(pk, "id");
    pk.pack_uint64(t.id);
    pack_str(pk, "index");
    pk.pack_int32(t.index);
    pack_str(pk, "token");
    pk.pack_int32(t.token);
  });
}

void encode_generate_response(const wire_generate_response& r, std::vector<char>& out) {
  append_frame(out, [&](msgpack::packer<vec_writer>& pk) {
    pk.pack_map(9);
    pack_answer_head(pk, r.id, r.status, r.reason);
    pack_str(pk, "tokens");
    pk.pack_array(static_cast<std::uint32_t>(r.tokens.size()));
    for (auto t : r.tokens)
      pk.pack_int32(t);
    pack_str(pk, "finish_reason");
    pack_str(pk, r.finish_reason);
    pack_str(pk, "timings");
    pk.pack_map(static_cast<std::uint32_t>(r.timings.size()));
    for (const auto& [name, ms] : r.timings) {
      pack_str(pk, name);
      pk.pack_double(ms);
    }
    pack_str(pk, "token_ms");
    pk.pack_array(static_cast<std::uint32_t>(r.token_ms.size()));
    for (double ms : r.token_ms)
      pk.pack_double(ms);
    pack_str(pk, "group");
    pack_str(pk, r.group);
    pack_str(pk, "preemptions");
    pk.pack_int32(r.preemptions);
  });
}

result<generate_frame> decode_generate_frame(std::string_view body) {
  msgpack::object_handle oh;
  try {
    msgpack::unpack_limit lim(body.size(), body.size(), body.size(), body.size(), 0, 8);
    oh = msgpack::unpack(body.data(), body.size(), nullptr, nullptr, lim);
  } catch (const std::exception& e) {
    return make_error("invalid", fmt::format("malformed msgpack frame: {}", e.what()));
  }
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::MAP)
    return make_error("invalid", fmt::format("frame: expected a map, found {}", type_name(o)));
  bool has_status = false, has_token = false;
  wire_token t;
  wire_generate_response r;
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    auto key = key_of(kv);
    const auto& v = kv.val;
    double num = 0;
    if (key == "id" && v.type == msgpack::type::POSITIVE_INTEGER) {
      t.id = r.id = v.via.u64;
    } else if (key == "index" && as_number(v, num) && in_int32(num)) {
      t.index = static_cast<std::int32_t>(num);
    } else if (key == "token" && as_number(v, num) && in_int32(num)) {
      t.token = static_cast<std::int32_t>(num);
      has_token = true;
    } else if (key == "status" && v.type == msgpack::type::STR) {
      r.status.assign(v.via.str.ptr, v.via.str.size);
      has_status = true;
    } else if (key == "reason" && v.type == msgpack::type::STR) {
      r.reason.assign(v.via.str.ptr, v.via.str.size);
    } else if (key == "finish_reason" && v.type == msgpack::type::STR) {
      r.finish_reason.assign(v.via.str.ptr, v.via.str.size);
    } else if (key == "group" && v.type == msgpack::type::STR) {
      r.group.assign(v.via.str.ptr, v.via.str.size);
    } else if (key == "preemptions" && as_number(v, num) && in_int32(num)) {
      r.preemptions = static_cast<int>(num);
    } else if (key == "tokens" && v.type == msgpack::type::ARRAY) {
      // A number outside int32 is no token id (converting it would be undefined behaviour): left out.
      for (std::uint32_t j = 0; j < v.via.array.size; ++j)
        if (as_number(v.via.array.ptr[j], num) && in_int32(num))
          r.tokens.push_back(static_cast<std::int32_t>(num));
    } else if (key == "token_ms" && v.type == msgpack::type::ARRAY) {
      for (std::uint32_t j = 0; j < v.via.array.size; ++j)
        if (as_number(v.via.array.ptr[j], num))
          r.token_ms.push_back(num);
    } else if (key == "timings" && v.type == msgpack::type::MAP) {
      for (std::uint32_t j = 0; j < v.via.map.size; ++j)
        if (as_number(v.via.map.ptr[j].val, num))
          r.timings.emplace_back(std::string(key_of(v.via.map.ptr[j])), num);
    }
  }
  if (has_status)
    return generate_frame{std::move(r)};
  if (has_token)
    return generate_frame{t};
  return make_error("invalid", "frame: neither a token frame (key 'token') nor a final answer (key 'status')");
}

} // namespace sy::actors
