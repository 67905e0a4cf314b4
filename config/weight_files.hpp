#pragma once
// Cheap checks of a deployment's safetensors weight files, before anything loads them: the file opens, its
// header length fits the file, the header is a JSON object whose tensors have a dtype, a shape and data
// offsets inside the file. Used by `switchyard check-config` and by `switchyard up` before it starts (a
// missing or corrupt file is reported at once, not after the ready timeout). Reads only the headers.
#include "config/cluster_config.hpp"
#include "messages/result.hpp"

namespace sy::config {

/// Checks one safetensors file's header; the message starts with the path.
status check_safetensors_header(const std::string& path);

/// check_safetensors_header for every model whose weights come from a file; the message names the config,
/// the model and the file.
status check_weight_files(const cluster_config& c);

} // namespace sy::config
