// `switchyard trace synth|convert`: generate or convert workload traces to the native CSV.
#include <cstdio>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "messages/logging.hpp"
#include "sim/workload.hpp"

namespace sy::apps {

namespace {

result<sim::trace> make_trace(const trace_options& o) {
  if (o.mode == "synth") {
    sim::synth_options s;
    s.models = o.models;
    s.total_rate = o.rate;
    s.cv = o.cv;
    s.duration_s = o.duration;
    s.seed = o.seed;
    s.uniform = o.uniform;
    s.input_tokens = o.tokens;
    return sim::synthesize(s);
  }
  if (o.inputs.empty())
    return make_error("workload", "convert: --input FILE is required");
  // Azure LLM traces name no model: with one file per model, file i serves model i.
  bool per_model = o.format == "azure-llm" && o.inputs.size() > 1 && o.inputs.size() == o.models.size();
  sim::trace_file_options f;
  f.format = o.format;
  f.azure2019.start_minute = o.start_minute;
  f.azure2019.minutes = o.minutes;
  f.azure2019.rate_scale = o.rate_scale;
  f.azure2019.cv_scale = o.cv_scale;
  f.azure2019.seed = o.seed;
  f.azure2019.input_tokens = o.tokens;
  f.azure2021.fit_gamma = o.fit_gamma;
  f.azure2021.interval_s = o.interval;
  f.azure2021.rate_scale = o.rate_scale;
  f.azure2021.cv_scale = o.cv_scale;
  f.azure2021.seed = o.seed;
  f.azure2021.input_tokens = o.tokens;
  f.azure_llm.max_seq = o.max_seq;
  f.azure_llm.uniform = o.uniform;
  f.azure_llm.seed = o.seed;
  std::vector<sim::trace> parts;
  for (std::size_t i = 0; i < o.inputs.size(); ++i) {
    f.models = per_model ? std::vector<std::string>{o.models[i]} : o.models;
    auto part = sim::load_trace_file(o.inputs[i], f);
    if (!part)
      return part.err();
    parts.push_back(std::move(*part));
  }
  return parts.size() == 1 ? parts[0] : sim::merged(parts);
}

} // namespace

int run_trace(const trace_options& o) {
  auto log = logger("trace");
  if (!(o.time_scale > 0) || !(o.thin > 0)) {
    log->error("workload: --time-scale and --thin must be > 0, found {} and {}", o.time_scale, o.thin);
    return 2;
  }
  auto t = make_trace(o);
  if (!t) {
    log->error("{}", t.err().to_string());
    return 1;
  }
  sim::trace out = std::move(*t);
  if (o.slice_end > o.slice_start)
    out = sim::sliced(out, o.slice_start, o.slice_end);
  if (o.time_scale != 1)
    out = sim::time_scaled(out, o.time_scale);
  if (o.thin != 1)
    out = sim::rate_scaled(out, o.thin, o.seed + 1);
  if (auto st = sim::write_csv(out, o.output); !st) {
    log->error("{}", st.err().to_string());
    return 1;
  }
  std::vector<long> per_model(out.models.size(), 0);
  for (const auto& q : out.requests)
    per_model[static_cast<std::size_t>(q.model)]++;
  double span = out.requests.empty() ? 0 : out.requests.back().arrival_s - out.requests.front().arrival_s;
  std::printf("%zu requests over %.3f s (%.3f req/s) to %s\n", out.requests.size(), span,
              span > 0 ? static_cast<double>(out.requests.size()) / span : 0.0, o.output.c_str());
  for (std::size_t m = 0; m < out.models.size(); ++m)
    std::printf("  %-16s %ld\n", out.models[m].c_str(), per_model[m]);
  return 0;
}

void add_trace_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<trace_options>();
  auto* trace = app.add_subcommand("trace", "generate or convert a workload trace (native CSV)");
  trace->require_subcommand(1);
  auto common = [o](CLI::App* c) {
    c->add_option("--models", o->models, "model names, comma-separated")->delimiter(',');
    c->add_option("-o,--output", o->output, "output CSV")->capture_default_str();
    c->add_option("--seed", o->seed, "random seed")->capture_default_str();
    c->add_option("--tokens", o->tokens, "input tokens per request")->capture_default_str();
    c->add_option("--time-scale", o->time_scale, "divide arrival times by this factor");
    c->add_option("--thin", o->thin, "rate scale by thinning (<1) or replication (>1)");
    c->add_option("--slice-start", o->slice_start, "keep arrivals >= this (s)");
    c->add_option("--slice-end", o->slice_end, "keep arrivals < this (s)");
    c->add_flag("--uniform", o->uniform, "uniform popularity instead of the power law");
  };
  auto* synth = trace->add_subcommand("synth", "Gamma-process trace with power-law popularity");
  common(synth);
  synth->add_option("--rate", o->rate, "total requests/s")->capture_default_str();
  synth->add_option("--cv", o->cv, "coefficient of variation of the gaps")->capture_default_str();
  synth->add_option("--duration", o->duration, "seconds")->capture_default_str();
  synth->callback([o, &rc] {
    o->mode = "synth";
    rc = run_trace(*o);
  });
  auto* convert = trace->add_subcommand("convert", "convert csv / azure2019 / azure2021 / azure-llm");
  common(convert);
  convert->add_option("-i,--input", o->inputs, "input trace file(s); repeat to merge")->required();
  convert->add_option("--format", o->format, "csv | azure2019 | azure2021 | azure-llm")->capture_default_str();
  convert->add_option("--rate-scale", o->rate_scale, "azure: rate multiplier of the Gamma processes");
  convert->add_option("--cv-scale", o->cv_scale, "azure: CV (2019) or CV multiplier (2021 fit)");
  convert->add_option("--start-minute", o->start_minute, "azure2019: first minute of the window");
  convert->add_option("--minutes", o->minutes, "azure2019: window length in minutes");
  convert->add_flag("--fit-gamma", o->fit_gamma, "azure2021: per-interval Gamma fit instead of raw");
  convert->add_option("--interval", o->interval, "azure2021: Gamma-fit interval (s)");
  convert->add_option("--max-seq", o->max_seq, "azure-llm: clip input tokens to this");
  convert->callback([o, &rc] {
    o->mode = "convert";
    rc = run_trace(*o);
  });
}

} // namespace sy::apps
