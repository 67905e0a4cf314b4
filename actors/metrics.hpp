#pragma once
// metrics_registry: the process's Prometheus metrics (counters, gauges, histograms with labels), rendered
// as Prometheus text for `GET /metrics`.
//
// Ownership: one registry per process, created by the command that starts the services (`switchyard up`),
// shared (std::shared_ptr) with whoever records into it: the ingress (requests by model and status,
// latency, rejections), and any actor that reports swaps or queue depths. Thread-safe: every member may be
// called from any thread (one mutex; recording is a map lookup and an add).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sy::actors {

/// A label value in Prometheus text: backslash, double quote and newline escaped.
std::string prometheus_label_value(const std::string& s);
/// A sample value in Prometheus text (+Inf, -Inf, NaN spelled as the format wants).
std::string prometheus_number(double v);

/// Label pairs in a fixed order, e.g. {{"model","bert-1"},{"status","ok"}}.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

class metrics_registry {
public:
  /// Default latency buckets in seconds (0.5 ms .. 30 s).
  static std::vector<double> default_latency_buckets();

  /// Declares a family (optional: undeclared families are created on first use with an empty help).
  void describe_counter(const std::string& name, const std::string& help);
  void describe_gauge(const std::string& name, const std::string& help);
  void describe_histogram(const std::string& name, const std::string& help, std::vector<double> buckets);

  void counter_add(const std::string& name, const metric_labels& labels, double v = 1);
  void gauge_set(const std::string& name, const metric_labels& labels, double v);
  void gauge_add(const std::string& name, const metric_labels& labels, double v);
  void histogram_observe(const std::string& name, const metric_labels& labels, double v);

  /// The value of one counter or gauge series (0 when absent); for tests and summaries.
  double value(const std::string& name, const metric_labels& labels) const;
  /// The observation count of one histogram series.
  std::uint64_t histogram_count(const std::string& name, const metric_labels& labels) const;

  /// Prometheus text exposition format 0.0.4.
  std::string render() const;

private:
  enum class kind { counter, gauge, histogram };
  struct series {
    double value = 0; // counter/gauge; histogram: sum
    std::uint64_t count = 0;
    std::vector<std::uint64_t> buckets; // histogram: per bucket (not cumulative)
  };
  struct family {
    kind k = kind::counter;
    std::string help;
    std::vector<double> bounds;
    std::map<std::string, series> by_labels; // key: rendered label set `{a="x",b="y"}`
  };
  family& family_of(const std::string& name, kind k);
  static std::string render_labels(const metric_labels& labels);

  mutable std::mutex mu_;
  std::map<std::string, family> families_;
};

} // namespace sy::actors
