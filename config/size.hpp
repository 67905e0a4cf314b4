#pragma once
// Byte sizes as people write them in configs and on command lines: "512MiB", "13GiB", "1.5 GB", "4096".
// Pure functions, any thread.
#include <cstdint>
#include <string>
#include <string_view>

#include "messages/result.hpp"

namespace sy::config {

/// A positive size: an integer number of bytes, or a number (decimals allowed) followed by an optional space
/// and a unit: B, KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (powers of 1024); units are
/// case-sensitive except that k/kB are accepted for KB. The result must be a whole number of bytes > 0
/// that fits in int64. The error message says which rule failed (unit, sign, zero, overflow, fraction).
result<std::int64_t> parse_size(std::string_view text);

/// The largest binary unit that divides `bytes` exactly ("256MiB", "1536KiB", "1000B").
std::string format_size(std::int64_t bytes);

} // namespace sy::config
