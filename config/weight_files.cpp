#include "config/weight_files.hpp"

#include <cstdint>
#include <fstream>

#include <fmt/format.h>

#include "messages/json.hpp"

namespace sy::config {

status check_safetensors_header(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f)
    return make_error("weights", fmt::format("{}: cannot open the weights file", path));
  auto size = static_cast<std::uint64_t>(f.tellg());
  if (size < 8)
    return make_error("weights", fmt::format("{}: {} bytes: too short for a safetensors file (8-byte header length)",
                                             path, size));
  f.seekg(0);
  unsigned char len_bytes[8];
  f.read(reinterpret_cast<char*>(len_bytes), 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | len_bytes[i];
  if (n == 0 || n > size - 8 || n > (std::uint64_t{100} << 20))
    return make_error("weights", fmt::format("{}: header length {} does not fit the file of {} bytes (corrupt or not "
                                             "a safetensors file)", path, n, size));
  std::string header(static_cast<std::size_t>(n), '\0');
  if (!f.read(header.data(), static_cast<std::streamsize>(n)))
    return make_error("weights", fmt::format("{}: cannot read the {}-byte header", path, n));
  auto doc = json::parse(header, 16);
  if (!doc)
    return make_error("weights", fmt::format("{}: header: {}", path, doc.err().message));
  if (!doc->is_object())
    return make_error("weights", fmt::format("{}: header: expected a JSON object, found {}", path,
                                             json::kind_name(doc->type())));
  std::uint64_t data_size = size - 8 - n;
  std::size_t tensors = 0;
  for (const auto& [name, t] : doc->as_object()) {
    if (name == "__metadata__")
      continue;
    ++tensors;
    const auto* dtype = t.get("dtype");
    const auto* shape = t.get("shape");
    const auto* off = t.get("data_offsets");
    if (!t.is_object() || !dtype || !dtype->is_string() || !shape || !shape->is_array() || !off || !off->is_array() ||
        off->as_array().size() != 2)
      return make_error("weights", fmt::format("{}: header: tensor '{}': expected {{dtype, shape, data_offsets: [begin, "
                                               "end]}}", path, name));
    auto b = off->as_array()[0].as_int64(), e = off->as_array()[1].as_int64();
    if (!b || !e || *b < 0 || *e < *b || static_cast<std::uint64_t>(*e) > data_size)
      return make_error("weights", fmt::format("{}: header: tensor '{}': data_offsets outside the {} data bytes "
                                               "(truncated file?)", path, name, data_size));
  }
  if (tensors == 0)
    return make_error("weights", fmt::format("{}: header lists no tensors", path));
  return {};
}

status check_weight_files(const cluster_config& c) {
  for (const auto& m : c.models) {
    if (m.weights.kind != weights_config::source::safetensors)
      continue;
    if (auto st = check_safetensors_header(m.weights.path); !st)
      return make_error("config", fmt::format("{}: model {}: weights: {}", c.source, m.name, st.err().message));
  }
  return {};
}

} // namespace sy::config
