// safetensors read/write (declared in gpu/weights.hpp). Format: 8-byte little-endian header length N, N
// bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the data; offsets are relative to the start of the data.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "messages/json.hpp"
#include "gpu/safetensors.hpp"
#include "gpu/weights.hpp"

namespace sy::gpu {

namespace {

constexpr std::uint64_t max_header = 100u * 1024 * 1024;

std::string st_name(dtype t) {
  switch (t) {
    case dtype::f32: return "F32";
    case dtype::f16: return "F16";
    case dtype::bf16: return "BF16";
  }
  return "?";
}

error werr(const std::string& origin, const std::string& msg) {
  return make_error("weights", origin + ": " + msg);
}

std::uint64_t element_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64")
    return 8;
  if (d == "F32" || d == "I32" || d == "U32")
    return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16")
    return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2")
    return 1;
  return 0;
}

} // namespace

status write_safetensors(const std::string& path, const weight_set& w, dtype type) {
  auto header = json::value::make_object();
  auto meta = json::value::make_object();
  meta.set("format", "pt").set("switchyard", "1");
  header.set("__metadata__", std::move(meta));
  std::uint64_t offset = 0;
  std::size_t esize = dtype_size(type);
  for (const auto& [name, t] : w.tensors) {
    auto shape = json::value::make_array();
    for (auto d : t.shape)
      shape.push(json::value{static_cast<std::int64_t>(d)});
    std::uint64_t bytes = t.values.size() * esize;
    auto offs = json::value::make_array();
    offs.push(json::value{static_cast<std::int64_t>(offset)});
    offs.push(json::value{static_cast<std::int64_t>(offset + bytes)});
    auto e = json::value::make_object();
    e.set("dtype", st_name(type)).set("shape", std::move(shape)).set("data_offsets", std::move(offs));
    header.set(name, std::move(e));
    offset += bytes;
  }
  std::string text = json::write(header);
  while (text.size() % 8 != 0)
    text += ' ';
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  if (!out)
    return werr(path, "cannot open for writing: " + std::string{std::strerror(errno)});
  unsigned char len[8];
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<unsigned char>(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<char> buf;
  for (const auto& [name, t] : w.tensors) {
    buf.resize(t.values.size() * esize);
    if (type == dtype::f32) {
      std::memcpy(buf.data(), t.values.data(), buf.size()); // little-endian host (x86-64, aarch64)
    } else {
      for (std::size_t i = 0; i < t.values.size(); ++i) {
        std::uint16_t h = type == dtype::f16 ? f32_to_f16(t.values[i]) : f32_to_bf16(t.values[i]);
        std::memcpy(buf.data() + 2 * i, &h, 2);
      }
    }
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  }
  out.flush();
  if (!out)
    return werr(path, "write failed: " + std::string{std::strerror(errno)});
  return {};
}

result<safetensors_header> parse_safetensors_header(std::string_view bytes, std::uint64_t file_size,
                                                    const std::string& origin) {
  if (file_size < 8 || bytes.size() < 8)
    return werr(origin, "truncated file: " + std::to_string(file_size) +
                          " bytes, need at least 8 for the header length");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)])) << (8 * i);
  if (n > max_header)
    return werr(origin, "header length " + std::to_string(n) + " exceeds the 100 MiB limit (not a safetensors file?)");
  if (n > file_size - 8 || n > bytes.size() - 8)
    return werr(origin, "truncated file: header length " + std::to_string(n) + " but only " +
                          std::to_string(file_size - 8) + " bytes follow the length field");
  auto doc = json::parse(bytes.substr(8, n));
  if (!doc)
    return werr(origin, "header: " + doc.err().message);
  if (!doc->is_object())
    return werr(origin, "header: expected a JSON object, found " + std::string{json::kind_name(doc->type())});
  safetensors_header h;
  h.data_start = 8 + n;
  h.data_size = file_size - 8 - n;
  for (const auto& [name, v] : doc->as_object()) {
    if (name == "__metadata__")
      continue;
    std::string where = "tensor '" + name + "': ";
    if (!v.is_object())
      return werr(origin, where + "expected an object, found " + std::string{json::kind_name(v.type())});
    const json::value* dt = v.get("dtype");
    const json::value* sh = v.get("shape");
    const json::value* of = v.get("data_offsets");
    if (!dt || !sh || !of)
      return werr(origin, where + "missing key '" + std::string{!dt ? "dtype" : !sh ? "shape" : "data_offsets"} + "'");
    if (!dt->is_string())
      return werr(origin, where + "dtype: expected a string, found " + std::string{json::kind_name(dt->type())});
    safetensors_entry e;
    e.name = name;
    e.dtype_name = dt->as_string();
    std::uint64_t esize = element_size(e.dtype_name);
    if (esize == 0)
      return werr(origin, where + "unknown dtype '" + e.dtype_name +
                            "', expected one of F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U64, "
                            "U32, U16, U8, BOOL");
    if (e.dtype_name == "F32")
      e.type = dtype::f32;
    else if (e.dtype_name == "F16")
      e.type = dtype::f16;
    else if (e.dtype_name == "BF16")
      e.type = dtype::bf16;
    if (!sh->is_array())
      return werr(origin, where + "shape: expected an array, found " + std::string{json::kind_name(sh->type())});
    std::uint64_t elements = 1;
    for (const auto& d : sh->as_array()) {
      auto x = d.as_int64();
      if (!x || *x < 0 || *x > (std::int64_t{1} << 40))
        return werr(origin, where + "shape: expected non-negative integers, found " + json::write(d));
      e.shape.push_back(*x);
      elements *= static_cast<std::uint64_t>(*x);
      if (elements > (std::uint64_t{1} << 40))
        return werr(origin, where + "shape: too many elements");
    }
    if (!of->is_array() || of->as_array().size() != 2)
      return werr(origin, where + "data_offsets: expected an array [begin, end], found " + json::write(*of));
    auto b = of->as_array()[0].as_int64(), en = of->as_array()[1].as_int64();
    if (!b || !en || *b < 0 || *en < *b)
      return werr(origin, where + "data_offsets: expected integers 0 <= begin <= end, found " + json::write(*of));
    e.begin = static_cast<std::uint64_t>(*b);
    e.end = static_cast<std::uint64_t>(*en);
    if (e.end > h.data_size)
      return werr(origin, where + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                            ") out of range: the data section has " + std::to_string(h.data_size) +
                            " bytes (truncated file?)");
    std::uint64_t need = elements * esize;
    if (e.end - e.begin != need)
      return werr(origin, where + "data_offsets span " + std::to_string(e.end - e.begin) + " bytes but shape " +
                            "and dtype need " + std::to_string(need));
    h.entries.push_back(std::move(e));
  }
  std::vector<const safetensors_entry*> sorted;
  for (const auto& e : h.entries)
    sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end)
      return werr(origin, "tensors '" + sorted[i - 1]->name + "' and '" + sorted[i]->name +
                            "' have overlapping data_offsets");
  return h;
}

result<weight_set> parse_safetensors(const std::string& bytes, const std::string& origin) {
  auto h = parse_safetensors_header(bytes, bytes.size(), origin);
  if (!h)
    return h.err();
  for (const auto& e : h->entries)
    if (!e.type)
      return werr(origin, "tensor '" + e.name + "': unsupported dtype '" + e.dtype_name +
                            "', expected F32, F16 or BF16");
  weight_set w;
  const char* data = bytes.data() + h->data_start;
  for (const auto& e : h->entries) {
    host_tensor t;
    t.shape = e.shape;
    std::size_t count = (e.end - e.begin) / dtype_size(*e.type);
    t.values.resize(count);
    const char* src = data + e.begin;
    if (*e.type == dtype::f32) {
      if (count > 0) // an empty tensor has no buffer: memcpy(nullptr, ...) is undefined (found by fuzzing)
        std::memcpy(t.values.data(), src, count * 4);
    } else {
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t x;
        std::memcpy(&x, src + 2 * i, 2);
        t.values[i] = *e.type == dtype::f16 ? f16_to_f32(x) : bf16_to_f32(x);
      }
    }
    w.tensors.emplace(e.name, std::move(t));
  }
  return w;
}

result<weight_set> read_safetensors(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return werr(path, "cannot open: " + std::string{std::strerror(errno)});
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return werr(path, "read failed");
  return parse_safetensors(ss.str(), path);
}

result<weight_set> load_weights(const std::string& path, const model_spec& spec) {
  auto w = read_safetensors(path);
  if (!w)
    return w;
  if (auto st = check_weights(spec, *w); !st)
    return werr(path, st.err().message);
  return w;
}

} // namespace sy::gpu
