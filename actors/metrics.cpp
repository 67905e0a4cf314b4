#include "actors/metrics.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace sy::actors {
namespace {

// `{a="x"}` plus one more label (le="..."), keeping the braces right.
std::string with_label(const std::string& rendered, const std::string& extra) {
  if (rendered.empty())
    return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

} // namespace

std::string prometheus_label_value(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\' || c == '"')
      out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string prometheus_number(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v))
    return "NaN";
  return fmt::format("{}", v);
}

std::vector<double> metrics_registry::default_latency_buckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30};
}

std::string metrics_registry::render_labels(const metric_labels& labels) {
  if (labels.empty())
    return {};
  std::string out = "{";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (i)
      out += ",";
    out += labels[i].first + "=\"" + prometheus_label_value(labels[i].second) + "\"";
  }
  return out + "}";
}

metrics_registry::family& metrics_registry::family_of(const std::string& name, kind k) {
  auto [it, fresh] = families_.try_emplace(name);
  if (fresh) {
    it->second.k = k;
    if (k == kind::histogram)
      it->second.bounds = default_latency_buckets();
  }
  return it->second;
}

void metrics_registry::describe_counter(const std::string& name, const std::string& help) {
  std::lock_guard<std::mutex> g(mu_);
  family_of(name, kind::counter).help = help;
}

void metrics_registry::describe_gauge(const std::string& name, const std::string& help) {
  std::lock_guard<std::mutex> g(mu_);
  family_of(name, kind::gauge).help = help;
}

void metrics_registry::describe_histogram(const std::string& name, const std::string& help,
                                          std::vector<double> buckets) {
  std::lock_guard<std::mutex> g(mu_);
  auto& f = family_of(name, kind::histogram);
  f.help = help;
  std::sort(buckets.begin(), buckets.end());
  f.bounds = std::move(buckets);
}

void metrics_registry::counter_add(const std::string& name, const metric_labels& labels, double v) {
  auto key = render_labels(labels);
  std::lock_guard<std::mutex> g(mu_);
  family_of(name, kind::counter).by_labels[key].value += v;
}

void metrics_registry::gauge_set(const std::string& name, const metric_labels& labels, double v) {
  auto key = render_labels(labels);
  std::lock_guard<std::mutex> g(mu_);
  family_of(name, kind::gauge).by_labels[key].value = v;
}

void metrics_registry::gauge_add(const std::string& name, const metric_labels& labels, double v) {
  auto key = render_labels(labels);
  std::lock_guard<std::mutex> g(mu_);
  family_of(name, kind::gauge).by_labels[key].value += v;
}

void metrics_registry::histogram_observe(const std::string& name, const metric_labels& labels, double v) {
  auto key = render_labels(labels);
  std::lock_guard<std::mutex> g(mu_);
  auto& f = family_of(name, kind::histogram);
  auto& s = f.by_labels[key];
  if (s.buckets.size() != f.bounds.size() + 1)
    s.buckets.assign(f.bounds.size() + 1, 0);
  auto idx = static_cast<std::size_t>(std::lower_bound(f.bounds.begin(), f.bounds.end(), v) -
                                      f.bounds.begin());
  ++s.buckets[idx];
  ++s.count;
  s.value += v;
}

double metrics_registry::value(const std::string& name, const metric_labels& labels) const {
  auto key = render_labels(labels);
  std::lock_guard<std::mutex> g(mu_);
  auto f = families_.find(name);
  if (f == families_.end())
    return 0;
  auto s = f->second.by_labels.find(key);
  return s == f->second.by_labels.end() ? 0 : s->second.value;
}

std::uint64_t metrics_registry::histogram_count(const std::string& name, const metric_labels& labels) const {
  auto key = render_labels(labels);
  std::lock_guard<std::mutex> g(mu_);
  auto f = families_.find(name);
  if (f == families_.end())
    return 0;
  auto s = f->second.by_labels.find(key);
  return s == f->second.by_labels.end() ? 0 : s->second.count;
}

std::string metrics_registry::render() const {
  std::lock_guard<std::mutex> g(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.k == kind::counter ? "counter" : f.k == kind::gauge ? "gauge" : "histogram";
    if (!f.help.empty())
      out += fmt::format("# HELP {} {}\n", name, f.help);
    out += fmt::format("# TYPE {} {}\n", name, type);
    for (const auto& [labels, s] : f.by_labels) {
      if (f.k != kind::histogram) {
        out += fmt::format("{}{} {}\n", name, labels, prometheus_number(s.value));
        continue;
      }
      std::uint64_t cum = 0;
      for (std::size_t b = 0; b < f.bounds.size(); ++b) {
        cum += b < s.buckets.size() ? s.buckets[b] : 0;
        out += fmt::format("{}_bucket{} {}\n", name,
                           with_label(labels, "le=\"" + prometheus_number(f.bounds[b]) + "\""), cum);
      }
      out += fmt::format("{}_bucket{} {}\n", name, with_label(labels, "le=\"+Inf\""), s.count);
      out += fmt::format("{}_sum{} {}\n", name, labels, prometheus_number(s.value));
      out += fmt::format("{}_count{} {}\n", name, labels, s.count);
    }
  }
  return out;
}

} // namespace sy::actors
