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

} // namespace

result<wire_request> decode_request(std::string_view body, const ingress_limits& limits,
                                    std::uint64_t* id_seen) {
  // Limits bound what the unpacker allocates before it has seen the data (a claimed array length).
  msgpack::unpack_limit lim(limits.max_tokens + 1, 16, body.size(), body.size(), 0, 4);
  msgpack::object_handle oh;
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
  const msgpack::object& o = oh.get();
  if (o.type != msgpack::type::MAP)
    return make_error("invalid", fmt::format("request: expected a map, found {}", type_name(o)));
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

void encode_response(const wire_response& r, std::vector<char>& out) {
  std::size_t at = out.size();
  out.resize(at + 4);
  vec_writer w{out};
  msgpack::packer<vec_writer> pk(w);
  pk.pack_map(7);
  pack_str(pk, "id");
  pk.pack_uint64(r.id);
  pack_str(pk, "status");
  pack_str(pk, r.status);
  pack_str(pk, "reason");
  pack_str(pk, r.reason);
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
  write_frame_length(out, at);
}

void encode_request(const wire_request& r, std::vector<char>& out) {
  std::size_t at = out.size();
  out.resize(at + 4);
  vec_writer w{out};
  msgpack::packer<vec_writer> pk(w);
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
  write_frame_length(out, at);
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
    } else if (key == "batch_size" && as_number(v, num)) {
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
            if (as_number(okv.val.via.array.ptr[k], num))
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

} // namespace sy::actors
