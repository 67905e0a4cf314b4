#pragma once
// safetensors headers: the parsed table of a file's tensors, shared by our own reader (gpu/safetensors.cpp,
// read_safetensors) and the Hugging Face checkpoint source (gpu/hf_checkpoint.hpp), which maps the files and
// reads tensors in place. Value types; no shared state; any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/model_spec.hpp"
#include "messages/result.hpp"

namespace sy::gpu {

struct safetensors_entry {
  std::string name;
  std::string dtype_name;          // as in the file: "F32", "BF16", "I64", ...
  std::optional<dtype> type;       // set for F32, F16, BF16; empty for every other (non-float or F64/F8) dtype
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0; // byte range relative to data_start
};

struct safetensors_header {
  std::uint64_t data_start = 0;   // byte offset of the data section in the file (8 + header length)
  std::uint64_t data_size = 0;    // bytes of the data section
  std::vector<safetensors_entry> entries; // in header order
};

/// Parses and checks the header of a safetensors file whose bytes are `bytes` (the whole file, or at least
/// the header when `file_size` gives the full size). Every dtype of the format is accepted (element sizes:
/// F64/I64/U64 8, F32/I32/U32 4, F16/BF16/I16/U16 2, I8/U8/BOOL/F8_E4M3/F8_E5M2 1); an unknown dtype, a bad
/// shape, data_offsets out of range, not matching shape * element size, or overlapping are errors
/// (category "weights", message starting with `origin`).
result<safetensors_header> parse_safetensors_header(std::string_view bytes, std::uint64_t file_size,
                                                    const std::string& origin);

} // namespace sy::gpu
