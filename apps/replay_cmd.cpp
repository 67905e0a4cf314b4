// switchyard replay: replays a trace open-loop through the msgpack ingress of a running cluster
// (--target host:port) or of a cluster it starts itself (-c config, or the embedded default), then writes
// the per-request CSV, the summary JSON and plots (README "Replay", "Outputs").
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <unistd.h>

#include <fmt/format.h>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/live_plan.hpp"
#include "apps/replay/driver.hpp"
#include "apps/replay/fit.hpp"
#include "apps/replay/outputs.hpp"
#include "apps/replay/step_fit.hpp"
#include "apps/replay_sim.hpp"
#include "apps/serve.hpp"
#include "config/cluster_config.hpp"
#include "messages/logging.hpp"
#include "policies/profile.hpp"
#include "sim/workload.hpp"

namespace sy::apps {
namespace {

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

result<sim::trace> load_trace(const replay_options& o, const std::vector<std::string>& models) {
  if (o.trace_path.empty()) {
    sim::synth_options s;
    s.models = models;
    s.total_rate = o.rate;
    s.cv = o.cv;
    s.duration_s = o.duration_s;
    s.seed = o.seed;
    s.input_tokens = o.tokens;
    return sim::synthesize(s);
  }
  sim::trace_file_options f;
  f.format = o.format;
  f.models = o.format == "csv" && o.models.empty() ? std::vector<std::string>{} : models; // csv: the file's
  f.azure2019.seed = o.seed;
  f.azure2019.input_tokens = o.tokens;
  f.azure2021.seed = o.seed;
  f.azure2021.input_tokens = o.tokens;
  f.azure_llm.seed = o.seed;
  f.azure_llm.max_seq = 1 << 30; // clipped per model by fit_to_models (counted there)
  return sim::load_trace_file(o.trace_path, f);
}

/// The models a trace's requests go to when --models is not given: the config's; for an Azure LLM trace
/// (every request a generation) its generating models (decoders), when it has any.
std::vector<std::string> default_models(const replay_options& o, const config::cluster_config& cfg) {
  std::vector<std::string> all, decoders;
  for (const auto& m : cfg.models) {
    all.push_back(m.name);
    if (m.spec.kind == gpu::arch::decoder)
      decoders.push_back(m.name);
  }
  return o.format == "azure-llm" && !o.trace_path.empty() && !decoders.empty() ? decoders : all;
}

/// Clips prompts to each model's max positions and drops requests that cannot fit (driver/fit.hpp), with a
/// log line for each kind.
sim::trace fit_trace(const sim::trace& t, const config::cluster_config& cfg, driver::fit_report& report) {
  std::vector<int> max_seq;
  for (const auto& name : t.models) {
    const auto* m = cfg.find_model(name);
    max_seq.push_back(m ? static_cast<int>(m->spec.max_seq) : 0);
  }
  auto out = driver::fit_to_models(t, max_seq, report);
  auto log = logger("replay");
  if (report.clipped > 0)
    log->info("{} of {} prompts clipped to their model's max positions (minus the new tokens)", report.clipped,
              t.requests.size());
  if (report.dropped > 0) {
    log->warn("{} requests dropped: their new tokens leave no room for a prompt in the model", report.dropped);
    for (const auto& e : report.examples)
      log->warn("  {}", e);
  }
  return out;
}

// Creates the folder a output file goes into (replay writes into fresh result folders).
void make_parent(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty())
    std::filesystem::create_directories(parent, ec);
}

std::string scripts_dir() {
  if (const char* env = std::getenv("SWITCHYARD_SCRIPTS"))
    return env;
  return SY_SOURCE_DIR "/scripts";
}

result<driver::driver_result> replay_live(const replay_options& o, const config::cluster_config& cfg,
                                          const sim::trace& tr, std::unique_ptr<local_service>& service,
                                          const served_placement* planned) {
  auto log = logger("replay");
  driver::driver_options d;
  d.time_scale = o.time_scale;
  d.connections = o.connections;
  d.answer_timeout = std::chrono::milliseconds(static_cast<long>(o.answer_timeout_s * 1e3));
  d.progress = !o.no_progress && ::isatty(2);
  if (!o.target.empty()) {
    auto colon = o.target.rfind(':');
    if (colon == std::string::npos)
      return make_error("usage", fmt::format("--target: expected host:port, found '{}'", o.target));
    d.host = o.target.substr(0, colon);
    d.port = static_cast<std::uint16_t>(std::atoi(o.target.c_str() + colon + 1));
  } else {
    serve_overrides ov;
    ov.any_ports = true;
    if (planned) {
      ov.placement_json = planned->json;
      ov.profile = planned->profile;
    }
    auto s = start_local_service(cfg, ov);
    if (!s)
      return s.err();
    service = std::move(*s);
    d.host = "127.0.0.1";
    d.port = service->ports().msgpack;
    log->info("embedded cluster '{}' ({}) listening on 127.0.0.1:{}", cfg.source, service->backend(), d.port);
  }
  return driver::run_open_loop(tr, d);
}

/// TTFT two ways: the first token frame's arrival at the client (what the summary uses) and the final
/// answer's ttft_ms (the server's, from its arrival); logs how far apart they are.
void log_first_token_sources(const std::vector<driver::replay_record>& records) {
  std::vector<double> diff;
  for (const auto& r : records)
    if (r.first_token >= 0 && r.server_ttft >= 0)
      diff.push_back((r.first_token - r.arrival - r.server_ttft) * 1e3);
  if (diff.empty())
    return;
  std::sort(diff.begin(), diff.end());
  logger("replay")->info("TTFT from the stream (used) minus the final answer's ttft_ms: median {:.3f} ms, max {:.3f} "
                         "ms over {} generations", diff[diff.size() / 2], diff.back(), diff.size());
}

/// --fit-profile: each generating model's (op, pp) in the deployment; a model in groups of different
/// configs is left out (its steps would mix two cost models), with a warning.
std::map<std::string, policies::parallel_config> generating_configs(const config::cluster_config& cfg) {
  std::map<std::string, policies::parallel_config> out;
  std::set<std::string> mixed;
  for (const auto& g : cfg.placement.groups)
    for (int m : g.models) {
      const auto& mc = cfg.models[static_cast<std::size_t>(m)];
      if (mc.spec.kind != gpu::arch::decoder)
        continue;
      const policies::parallel_config c{g.op, g.pp};
      auto [it, fresh] = out.emplace(mc.name, c);
      if (!fresh && !(it->second == c))
        mixed.insert(mc.name);
    }
  for (const auto& name : mixed) {
    logger("replay")->warn("--fit-profile: {} is served by groups of different (tensor, pipeline) degrees: not fitted",
                           name);
    out.erase(name);
  }
  return out;
}

/// --fit-profile: fits `db`'s generation costs to the recorded steps, logs what changed, writes `path`.
status fit_profile(const std::vector<step_event>& events, const config::cluster_config& cfg,
                   policies::profile_db& db, const std::string& path) {
  auto log = logger("replay");
  const auto configs = generating_configs(cfg);
  auto fit = driver::fit_steps(events, configs, db);
  if (!fit)
    return fit.err();
  log->info("--fit-profile: {} generation steps, {} seen whole; actor hop {:.3f} ms per hop (every generating entry's "
            "gen_hop_s)", fit->steps, fit->complete_steps, fit->hop_s * 1e3);
  for (const auto& mf : fit->models) {
    if (mf.stages.empty()) {
      log->warn("--fit-profile: {} not fitted: {}", mf.model, mf.why);
      continue;
    }
    for (std::size_t k = 0; k < mf.stages.size(); ++k) {
      const auto& f = mf.stages[k];
      log->info("--fit-profile: {} stage {}: {} decode-only steps, {} with prefill; live device time {:.2f}x the "
                "profile's; gen_step_s {:.4g} decode_s_per_seq {:.4g} decode_s_per_ctx {:.4g} prefill_s_per_token "
                "{:.4g} prefill_s_per_pair {:.4g}; spread (sdlog) {:.3f}", mf.model, k, f.decode_steps,
                f.prefill_steps, f.profile_s > 0 ? f.device_s / f.profile_s : 0.0, f.step_s, f.per_seq, f.per_ctx,
                f.per_token, f.per_pair, f.sdlog);
    }
  }
  if (auto st = driver::apply_step_fit(*fit, configs, db); !st)
    return st;
  make_parent(path);
  if (auto st = db.save(path); !st)
    return st;
  log->info("--fit-profile: wrote {}", path);
  return {};
}

} // namespace

int run_replay(const replay_options& o) {
  auto log = logger("replay");
  // The deployment: for model names (and, without --target, to serve).
  auto loaded = config::load_config_or_default(o.config_path);
  if (!loaded) {
    log->error("{}", loaded.err().message);
    return 2;
  }
  const config::cluster_config* cfg = &*loaded;
  std::vector<std::string> models = split_names(o.models);
  if (models.empty())
    models = default_models(o, *cfg);
  auto loaded_trace = load_trace(o, models);
  if (!loaded_trace) {
    log->error("{}", loaded_trace.err().message);
    return 2;
  }
  driver::fit_report fit;
  auto tr = fit_trace(*loaded_trace, *cfg, fit);
  long generations = 0;
  for (const auto& q : tr.requests)
    generations += q.output_tokens > 0 ? 1 : 0;
  if (o.time_scale <= 0) {
    log->error("--time-scale: expected a positive number, found {}", o.time_scale);
    return 2;
  }
  log->info("trace: {} requests ({} generations) over {:.2f} s, {} models", tr.requests.size(), generations,
            tr.requests.empty() ? 0.0 : tr.requests.back().arrival_s, tr.models.size());

  if (o.simulate && !o.target.empty()) {
    log->error("--simulate and --target exclude each other: --simulate runs no cluster");
    return 2;
  }
  if (!o.simulate && (!o.sim_hardware.empty() || (!o.sim_profile.empty() && o.fit_profile_path.empty()))) {
    log->error("--profile and --hardware need --simulate (or, --profile, --fit-profile)");
    return 2;
  }
  // --fit-profile: the live replay's generation steps refit --profile's costs (apps/replay/step_fit.hpp).
  std::optional<policies::profile_db> fit_db;
  if (!o.fit_profile_path.empty()) {
    if (o.simulate || !o.target.empty() || o.sim_profile.empty()) {
      log->error("--fit-profile needs --profile (the profile to refit) and a live replay on an embedded cluster "
                 "(neither --simulate nor --target: the steps are observed in this process)");
      return 2;
    }
    auto db = policies::profile_db::load(o.sim_profile);
    if (!db) {
      log->error("{}", db.err().message);
      return 2;
    }
    fit_db = std::move(*db);
  }
  // A policy placement is planned once, here, and both the live cluster and the simulator get its groups.
  std::optional<served_placement> planned;
  if (o.target.empty() && cfg->placement.mode == config::placement_mode::policy) {
    auto p = plan_for_serving(*cfg);
    if (!p) {
      log->error("{}", p.err().message);
      return 2;
    }
    planned = std::move(*p);
    cfg = &planned->cfg;
  }
  std::unique_ptr<local_service> service;
  result<driver::driver_result> res = make_error("replay", "not run");
  if (o.simulate) {
    res = simulate_replay(o, *cfg, tr);
    if (!res) {
      log->error("{}", res.err().message);
      return 2;
    }
  } else {
    std::optional<driver::step_recorder> steps;
    if (fit_db)
      steps.emplace();
    res = replay_live(o, *cfg, tr, service, planned ? &*planned : nullptr);
    if (service && !service->drain_and_stop(std::chrono::seconds(30)))
      log->warn("the embedded cluster still had requests in flight when it stopped");
    if (res && fit_db)
      if (auto st = fit_profile(steps->take(), *cfg, *fit_db, o.fit_profile_path); !st) {
        log->error("{}", st.err().message);
        return 1;
      }
  }
  if (!res) {
    if (res.err().category == "usage") {
      log->error("{}", res.err().message);
      return 2;
    }
    log->error("{}", res.err().to_string());
    return 1;
  }
  // What each record asked for, from the fitted trace (records are in trace order, live or simulated).
  for (std::size_t i = 0; i < res->records.size() && i < tr.requests.size(); ++i) {
    auto& r = res->records[i];
    const auto& q = tr.requests[i];
    r.prompt_tokens = q.input_tokens;
    r.max_new_tokens = std::max(0, q.output_tokens);
    if (q.output_tokens > 0) {
      r.ttft_slo_s = q.slo_s;
      r.tpot_slo_s = q.tpot_slo_s;
    }
  }
  log_first_token_sources(res->records);
  std::vector<driver::generation_slo> slos;
  for (const auto& name : tr.models) {
    driver::generation_slo g;
    if (const auto* mc = cfg->find_model(name)) {
      if (mc->ttft)
        g.ttft_s = std::chrono::duration<double>(*mc->ttft).count();
      if (mc->tpot)
        g.tpot_s = std::chrono::duration<double>(*mc->tpot).count();
    }
    slos.push_back(g);
  }
  auto summary = driver::summarize(*res, tr.models, o.warmup_s, slos);
  if (generations > 0 || fit.clipped > 0 || fit.dropped > 0) {
    summary.extra.emplace_back("clipped_prompts", std::to_string(fit.clipped));
    summary.extra.emplace_back("dropped_not_fitting", std::to_string(fit.dropped));
  }
  if (o.simulate)
    summary.slo_scale = o.slo_scale; // models without slo_ms; live, they have no deadline
  for (auto& m : summary.models)
    if (const auto* mc = cfg->find_model(m.name); mc && mc->slo)
      m.slo_s = std::chrono::duration<double>(*mc->slo).count();
  std::fputs(driver::summary_text(summary).c_str(), stdout);
  int rc = 0;
  for (const auto& p : {o.records_path, o.summary_path})
    if (!p.empty())
      make_parent(p);
  if (!o.plots_dir.empty())
    make_parent(o.plots_dir + "/x");
  if (!o.records_path.empty())
    if (auto st = sim::write_file(o.records_path, driver::records_csv(res->records, tr.models)); !st) {
      log->error("{}", st.err().message);
      rc = 1;
    }
  if (!o.summary_path.empty())
    if (auto st = sim::write_file(o.summary_path, driver::summary_json(summary)); !st) {
      log->error("{}", st.err().message);
      rc = 1;
    }
  if (!o.plots_dir.empty()) {
    std::string csv = o.records_path;
    if (csv.empty()) {
      csv = o.plots_dir + "/records.csv";
      (void)sim::write_file(csv, driver::records_csv(res->records, tr.models));
    }
    std::string summary_file = o.summary_path;
    if (summary_file.empty()) {
      summary_file = o.plots_dir + "/summary.json";
      (void)sim::write_file(summary_file, driver::summary_json(summary));
    }
    auto cmd = fmt::format("/usr/bin/python3 '{}/plot_replay.py' '{}' '{}' --summary '{}'", scripts_dir(), csv,
                           o.plots_dir, summary_file);
    for (std::size_t m = 0; m < tr.models.size(); ++m)
      if (slos[m].ttft_s > 0 || slos[m].tpot_s > 0)
        cmd += fmt::format(" --gen-slo '{}={},{}'", tr.models[m], slos[m].ttft_s, slos[m].tpot_s);
    cmd += " >&2";
    if (std::system(cmd.c_str()) != 0) {
      log->error("plotting failed: {}", cmd);
      rc = 1;
    }
  }
  if (res->unanswered > 0 || res->duplicates > 0 || res->unknown_ids > 0 || res->late_frames > 0) {
    log->error("{} requests unanswered, {} duplicate answers, {} answers with unknown ids, {} token frames after "
               "their final answer", res->unanswered, res->duplicates, res->unknown_ids, res->late_frames);
    rc = 1;
  }
  if (res->stream_mismatches > 0)
    log->warn("{} generations streamed other tokens than their final answer holds", res->stream_mismatches);
  return rc;
}

void add_replay_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<replay_options>();
  auto* replay = app.add_subcommand("replay", "replay a trace open-loop and report SLO attainment and latency");
  replay->add_option("--target", o->target, "host:port of a running msgpack ingress (default: serve -c here)");
  replay->add_option("-c,--config", o->config_path, "deployment YAML (default: the embedded default)");
  replay->add_option("--trace", o->trace_path, "trace file (default: a synthetic trace)");
  replay->add_option("--format", o->format, "csv|azure2019|azure2021|azure-llm")->capture_default_str();
  replay->add_option("--models", o->models, "comma-separated model names (default: the config's)");
  replay->add_option("--rate", o->rate, "synthetic: requests/s over all models")->capture_default_str();
  replay->add_option("--cv", o->cv, "synthetic: CV of inter-arrival gaps")->capture_default_str();
  replay->add_option("--duration", o->duration_s, "synthetic: seconds")->capture_default_str();
  replay->add_option("--seed", o->seed, "seed of generated or assigned traces")->capture_default_str();
  replay->add_option("--tokens", o->tokens, "input tokens per request (synthetic, Azure Functions)")
    ->capture_default_str();
  replay->add_option("--time-scale", o->time_scale, "arrival / factor (> 1 compresses time)")->capture_default_str();
  replay->add_option("--connections", o->connections, "TCP connections to the ingress")->capture_default_str();
  replay->add_option("--answer-timeout", o->answer_timeout_s, "seconds to wait for answers after the last send")
    ->capture_default_str();
  replay->add_option("--warmup", o->warmup_s, "seconds trimmed from each end in the summary (sim compat: 10)")
    ->capture_default_str();
  replay->add_option("--records", o->records_path, "per-request CSV output");
  replay->add_option("--summary", o->summary_path, "summary JSON output");
  replay->add_option("--plots", o->plots_dir, "directory for latency CDF and attainment PNGs");
  replay->add_flag("--no-progress", o->no_progress, "no progress bar even on a terminal");
  replay->add_flag("--simulate", o->simulate, "simulate the trace on the config's placement instead of serving it");
  replay->add_option("--profile", o->sim_profile, "--simulate (or --fit-profile): profile database (.json or .msgpack)");
  replay->add_option("--fit-profile", o->fit_profile_path,
                     "live: fit --profile's generation costs and actor hop to this replay's steps and write them "
                     "here (the simulator then runs the engine as it ran in the runtime)");
  replay->add_option("--hardware", o->sim_hardware, "--simulate: analytic profile of this GPU (V100-16GB, ...)");
  replay->add_option("--sim-mode", o->sim_mode, "--simulate: compat|batching|swapping (default: the deployment's: "
                                                "greedy batching -> batching up to its max_batch, else swapping)");
  replay->add_flag("--force", o->force, "--simulate: accept a profile made for another kind of device than the "
                                        "deployment's (e.g. --hardware V100-16GB for cpu devices)");
  replay->add_option("--slo-scale", o->slo_scale, "--simulate: SLO = scale x latency for models without slo_ms")
    ->capture_default_str();
  replay->callback([o, &rc] { rc = run_replay(*o); });
}

} // namespace sy::apps
