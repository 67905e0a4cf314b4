// embedded_default(): configs/local.yaml compiled into the binary (the text comes from the generated
// embedded_default_text.cpp, see config/CMakeLists.txt).
#include "config/cluster_config.hpp"
#include "messages/logging.hpp"

#include <cstdlib>

namespace sy::config {

namespace internal {
extern const char* const local_yaml_text; // generated
} // namespace internal

std::string_view embedded_default_text() {
  return internal::local_yaml_text;
}

const cluster_config& embedded_default() {
  static const cluster_config c = [] {
    auto r = parse_config(embedded_default_text(), "<embedded configs/local.yaml>");
    if (!r.ok()) { // a build defect, caught by the config tests; never user input
      logger("config")->critical("the embedded default config is invalid: {}", r.err().message);
      std::abort();
    }
    return std::move(r).value();
  }();
  return c;
}

result<cluster_config> load_config_or_default(const std::string& path) {
  if (path.empty())
    return embedded_default();
  return load_config(path);
}

} // namespace sy::config
