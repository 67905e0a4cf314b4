#include <cstdio>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "gpu/model_spec.hpp"

namespace sy::apps {

int run_presets(const presets_options&) {
  std::printf("%-12s %-8s %6s %6s %5s %6s %6s %6s %5s %12s\n", "name", "arch", "layers", "hidden", "heads",
              "ffn", "vocab", "seq", "dtype", "params");
  for (const auto& name : gpu::preset_names()) {
    auto s = gpu::preset(name).value();
    std::printf("%-12s %-8s %6d %6d %5d %6d %6d %6d %5s %12lld\n", s.name.c_str(),
                std::string{to_string(s.kind)}.c_str(), s.layers, s.hidden, s.heads, s.ffn, s.vocab, s.max_seq,
                std::string{to_string(s.type)}.c_str(), static_cast<long long>(s.total_params()));
  }
  return 0;
}

void add_presets_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<presets_options>();
  app.add_subcommand("presets", "list the built-in model presets")->callback([o, &rc] {
    rc = run_presets(*o);
  });
}

} // namespace sy::apps
