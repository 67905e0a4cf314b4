#include "actors/placement_metrics_text.hpp"

#include <fmt/format.h>

#include "actors/metrics.hpp"

namespace sy::actors {

namespace {

void head(std::string& o, const char* name, const char* type, const char* help) {
  o += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

} // namespace

std::string render_placement_metrics(const messages::metrics_snapshot& s) {
  std::string o;
  head(o, "sy_replans_total", "counter",
       "Re-placement decisions, by policy (windowed, drift, a plug-in, manual: POST /v2/placement) and outcome");
  for (const auto& [key, n] : s.replans) {
    auto slash = key.rfind('/');
    if (slash == std::string::npos)
      continue;
    o += fmt::format("sy_replans_total{{policy=\"{}\",outcome=\"{}\"}} {}\n", prometheus_label_value(key.substr(0, slash)),
                     prometheus_label_value(key.substr(slash + 1)), n);
  }
  head(o, "sy_migrations_total", "counter", "Live migrations to a new placement completed");
  o += fmt::format("sy_migrations_total {}\n", s.migrations);
  head(o, "sy_migration_models_moved_total", "counter", "Model replicas built by live migrations");
  o += fmt::format("sy_migration_models_moved_total {}\n", s.migration_models_moved);
  head(o, "sy_migration_bytes_loaded_total", "counter", "Weight bytes those replicas loaded, over every device");
  o += fmt::format("sy_migration_bytes_loaded_total {}\n", s.migration_bytes_loaded);
  head(o, "sy_migration_seconds", "histogram",
       "Time to converge: a migration accepted -> every new group resident and every leaving group's devices free");
  const auto& h = s.migration_seconds;
  for (std::size_t i = 0; i < h.bounds.size() && i < h.counts.size(); ++i)
    o += fmt::format("sy_migration_seconds_bucket{{le=\"{}\"}} {}\n", prometheus_number(h.bounds[i]), h.counts[i]);
  o += fmt::format("sy_migration_seconds_bucket{{le=\"+Inf\"}} {}\n", h.count);
  o += fmt::format("sy_migration_seconds_sum {}\n", prometheus_number(h.sum));
  o += fmt::format("sy_migration_seconds_count {}\n", h.count);
  return o;
}

} // namespace sy::actors
