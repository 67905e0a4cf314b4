#pragma once
// The subcommands of the `switchyard` executable. Each command's *_cmd.cpp registers its options with CLI11
// (add_*_command, at the end of this header; CLI11 stays out of this header) into these option structs and
// calls run_*; main.cpp only lists the commands. Each run_* returns the process exit code and logs its own
// errors.
#include <cstdint>
#include <string>
#include <vector>

namespace sy::apps {

struct presets_options {};
int run_presets(const presets_options&);

/// `switchyard profile`: writes a profile database (analytic cost model; --measure: the real engine).
struct profile_options {
  std::string config_path;           // -c: profile the models of this deployment (inline specs too)
  std::vector<std::string> models;   // preset names (added to the config's models)
  std::string hardware;               // analytic cost model of this GPU; empty: V100-16GB, or with -c: measure
  std::string output = "profile.msgpack"; // .msgpack or .json
  int seq_len = 2048;
  double memory_gib = 0;             // per-GPU budget; 0: the device's memory (-c's smallest, --measure)
  std::vector<std::string> configs;  // "OPxPP" (e.g. 2x4); empty: every default config
  std::string calibrate;             // measured profile db to fit the efficiency factors to
  bool measure = false;              // measure the real engine (apps/profile_measure.cpp)
  std::string backend;               // --measure: cpu | cuda | auto; empty: -c's device kind, else auto
  int devices = 0;                   // --measure: devices to open; 0: -c's largest node, else 1
  int reps = 3;                      // --measure: timed repetitions per point (median)
  bool print = false;                // print a latency table
  bool plan = false;                 // print each config's stage boundaries and the ILP's layer sharding
  double ilp_time_limit = 10;        // seconds per intra-op ILP
  int runtime_probe = 8;             // -c, measured: generations per decoder through an in-process runtime
                                     // (apps/profile_runtime.hpp: gen_hop_s, gen_request_s); 0: none
  std::string runtime_only;          // a measured profile db: only run the runtime probe on it (needs -c)
};
int run_profile(const profile_options&);

/// `switchyard trace synth|convert`: generate or convert a workload trace to the native CSV.
struct trace_options {
  std::string mode;                  // "synth" | "convert"
  std::vector<std::string> models;
  std::string output = "trace.csv";
  std::uint64_t seed = 1;
  // synth
  double rate = 10, cv = 1, duration = 60;
  bool uniform = false;
  int tokens = 128;
  // convert
  std::string format = "csv";        // csv | azure2019 | azure2021 | azure-llm
  std::vector<std::string> inputs;   // several: merged; azure-llm with one file per model: file i -> model i
  double rate_scale = 1, cv_scale = 1; // azure2019 / azure2021 --fit-gamma
  int start_minute = 0, minutes = 1440;
  bool fit_gamma = false;
  double interval = 60;
  int max_seq = 2048;
  // transforms applied to the result (both modes)
  double time_scale = 1;             // arrival / factor
  double thin = 1;                   // rate scale by thinning / replication
  double slice_start = 0, slice_end = 0; // slice_end > slice_start: keep [start, end)
};
int run_trace(const trace_options&);
/// switchyard check-config [-c FILE] [--print]: validate a deployment file (default: the embedded one).
struct check_config_options {
  std::string config_path; // empty: the embedded default (configs/local.yaml)
  bool print = false;      // print the normalized config as YAML
};
int run_check_config(const check_config_options&);
// --- engine (gpu/) commands: apps/run_model_cmd.cpp, init_weights_cmd.cpp, bench_engine_cmd.cpp ---
struct run_model_options {
  std::string model;          // preset name or spec.yaml path
  std::string weights;        // safetensors file; empty = generate from seed
  long long seed = 0;
  int tp = 1, pp = 1;
  std::string backend = "auto";
  std::string tokens;         // "1,2,3": batch sequences of equal length, concatenated
  int batch = 1;
  std::string output;         // .npy path; empty = print
  long long budget_mib = 0;   // per-device budget, 0 = backend default
  int threads = 0;            // cpu backend: OpenBLAS threads, 0 = auto
  std::string pooling;        // encoders: pooler|cls|mean|mean-normalized|hidden (empty = model default)
  std::string logits;         // decoders: last|all (empty = last)
  std::string lengths;        // "3,5": variable-length sequences in --tokens (replaces --batch)
  std::string token_types;    // "0,0,1,...": one per token (encoders with token types)
};
int run_run_model(const run_model_options&);

struct init_weights_options {
  std::string model;
  long long seed = 0;
  std::string output;
  std::string dtype = "f32";
};
int run_init_weights(const init_weights_options&);

struct bench_engine_options {
  std::string model = "gpt-100m";
  int seq = 128;
  std::string batches = "1,4,16";
  int threads = 0;            // 0 = hardware threads; used for both OpenBLAS and torch
  int reps = 3;
  bool torch = true;          // also run PyTorch CPU on the same weights
  std::string python = "/usr/bin/python3";
};
int run_bench_engine(const bench_engine_options&);

/// switchyard up [-c FILE]: the controller, the local node and the ingress, until SIGINT/SIGTERM.
struct up_options {
  std::string config_path; // empty: the embedded default
  bool any_ports = false;  // bind every listener to a free port (printed in the log)
  int max_in_flight = 0;   // > 0: overrides ingress.max_in_flight
  std::string node;        // the config node run here (multi-node configs; default: the first)
  double join_timeout_s = 120; // multi-node configs: the other nodes must join within this time
};
int run_up(const up_options&);

/// switchyard node --join HOST:PORT: one node of a multi-node config in this process, joined to `up`'s controller.
struct node_options {
  std::string join;        // HOST:PORT of the controller (the config's controller.address)
  std::string config_path; // the same config `up` runs; empty: the embedded default (single node: an error)
  std::string node;        // the config node run here; default: the second of two
  double timeout_s = 30;   // keep retrying a refused connection this long
};
int run_node(const node_options&);

/// switchyard policy [--http HOST:PORT] [KIND [NAME [KEY=NUMBER...]]]: list, show or swap the runtime policies
/// of a running cluster (apps/policy_cmd.cpp). Exit 0: answered; 1: refused or no answer; 2: bad arguments.
struct policy_options {
  std::string http = "127.0.0.1:7401"; // the cluster's HTTP ingress
  std::vector<std::string> args;       // none: every kind; KIND: show it; KIND NAME [k=v...]: swap it
};
int run_policy(const policy_options&);

/// switchyard replay: a trace open-loop through the msgpack ingress; per-request CSV, summary, plots.
struct replay_options {
  std::string target;      // host:port of a running ingress; empty: serve -c (or the embedded default) here
  std::string config_path; // the deployment (model names; served in-process without --target)
  std::string trace_path;  // empty: a synthetic trace (rate, cv, duration, seed, tokens)
  std::string format = "csv"; // csv | azure2019 | azure2021 | azure-llm
  std::string models;      // comma-separated model names (default: the config's models)
  double rate = 20, cv = 1, duration_s = 10;
  std::uint64_t seed = 1;
  int tokens = 16;
  double time_scale = 1;
  int connections = 4;
  double answer_timeout_s = 60;
  double warmup_s = 0;
  std::string records_path, summary_path, plots_dir;
  bool no_progress = false;
  // --simulate: the same trace through the simulator on the config's placement instead of a live cluster.
  bool simulate = false;
  std::string sim_profile;            // profile database; or
  std::string sim_hardware;           // the analytic cost model of this GPU
  std::string sim_mode;               // compat | batching | swapping; empty: from the deployment
  double slo_scale = 5;               // SLO of models without slo_ms: slo_scale x single-device latency
  bool force = false;                 // accept a profile made for another device kind than the deployment's
  std::string fit_profile_path;       // live: sim_profile's generation costs fitted to the replay's steps
};
int run_replay(const replay_options&);

/// switchyard bench control-plane: sustained req/s and added latency of the control path (free stages).
struct bench_control_plane_options {
  int pipeline = 2;      // stages of the null model (1, 2 or 4)
  int max_batch = 1;     // > 1: greedy batching up to this size
  int connections = 2;
  int window = 64;       // outstanding requests per connection
  double duration_s = 5;
  bool ingress_only = false; // an echo controller instead of the cluster: the ingress's own ceiling
  double rate = 0;           // > 0: open loop at this many requests/s (added latency at a fixed load)
};
int run_bench_control_plane(const bench_control_plane_options&);

/// switchyard bench swap: two models that cannot both be resident, alternating; pipeline degree 1, 2, 4.
struct bench_swap_options {
  int layers = 8;
  int hidden = 512;
  int requests = 20; // per run (4 runs per pipeline degree: 2 pipelined, 2 sequential)
};
int run_bench_swap(const bench_swap_options&);

/// Where the simulator and planner get profiles and the workload (apps/sim_inputs.cpp).
struct sim_input_options {
  std::string config_path;      // -c: the deployment (models with specs and slo_ms, devices, memory)
  std::string profile;          // profile database (.json or .msgpack); or
  std::string hardware;         // analytic cost model of this GPU (V100-16GB, A100-40GB, H100-80GB)
  std::string models;           // "bert-1.3b:48,bert-6.7b:2": presets, NAME:K = K copies NAME-0..NAME-(K-1)
  std::string trace;            // native trace CSV (--trace or --workload); without it a synthetic one:
  double rate = 0;              // total requests/s (0: 10 per model)
  double cv = 1;                // coefficient of variation of the gaps (Gamma process)
  double duration_s = 60;
  double popularity = 0.5;      // power-law exponent: rate_i ~ (i+1)^-popularity (0: uniform)
  unsigned long seed = 0;
  double slo_scale = 5;         // SLO = slo_scale x single-device latency, for models without slo_ms
  bool force = false;           // -c: accept a profile (--hardware GPU, or a db's `device`) of another device kind
  // Generation (issue 10 §4): requests with output_tokens > 0 go through the generation simulator.
  int input_tokens = 128;       // synthetic: prompt tokens of every request
  int output_tokens = 0;        // synthetic: > 0 makes every request a generation of that many new tokens
  double ttft_ms = 0;           // TTFT SLO of generation requests without their own (and without -c's ttft_ms)
  double tpot_ms = 0;           // TPOT SLO likewise (0: none)
  int gen_max_seqs = 0;         // 0: -c's runtime.gen_max_seqs, else 16
  int gen_token_budget = 0;     // 0: -c's runtime.gen_token_budget, else 256
};

struct simulate_options {
  sim_input_options in;
  std::string plan;
  std::string mode;             // compat | batching | swapping; empty: -c's (batching policy), else compat
  double mem_budget_gib = 0;    // swapping residency budget per GPU; 0: -c's smallest device memory, else 13
  std::string eviction;         // swapping: runtime eviction policy; empty: -c's policies.eviction, else lru
  double warmup_s = 10;
  std::string records;          // per-request CSV
  std::string summary;          // summary JSON
};
int run_simulate(const simulate_options&);

struct plan_options {
  sim_input_options in;
  std::string policy = "mp-search";
  int devices = 0;              // 0: -c's device count, else 8
  int devices_per_node = 0;     // 0: -c's smallest node, else 8
  double mem_budget_gib = 0;    // 0: -c's smallest device memory, else 13
  int threads = 2;
  double overcommit = 4;        // swap-aware
  std::string output = "plan.yaml";
};
int run_plan(const plan_options&);

struct bench_sim_options {
  long requests = 1000000;
  int devices = 64;
  int models = 48;
  int repeat = 5;
};
int run_bench_sim(const bench_sim_options&);

struct bench_planner_options {
  int devices = 64;
  int models = 48;
  double rate = 400;
  double cv = 4;
  double duration_s = 60;
  double slo_scale = 5;
  int threads = 2;
  std::string policy = "mp-search";
};
int run_bench_planner(const bench_planner_options&);

// --- generation (issue 10): apps/generate_cmd.cpp, apps/bench_generate_cmd.cpp; each registers its options ---
} // namespace sy::apps
namespace CLI {
class App;
}
namespace sy::apps {
/// switchyard generate
void add_generate_command(CLI::App& app, int& rc);
/// switchyard bench generate (under the `bench` subcommand)
void add_bench_generate_command(CLI::App& bench, int& rc);
/// switchyard bench soak (apps/bench_soak_cmd.cpp): the embedded default at N x its capacity
void add_bench_soak_command(CLI::App& bench, int& rc);
/// switchyard policy-host (apps/policy_host_cmd.cpp): the process an isolated policy plug-in runs in
void add_policy_host_command(CLI::App& app, int& rc);

// --- the other commands' registrations (each in its own apps/*_cmd.cpp; `rc` receives the exit code) ---
void add_presets_command(CLI::App& app, int& rc);
void add_profile_command(CLI::App& app, int& rc);
void add_trace_command(CLI::App& app, int& rc);
void add_check_config_command(CLI::App& app, int& rc);
void add_run_model_command(CLI::App& app, int& rc);
void add_init_weights_command(CLI::App& app, int& rc);
void add_up_command(CLI::App& app, int& rc);
void add_node_command(CLI::App& app, int& rc);
void add_policy_command(CLI::App& app, int& rc);
void add_replay_command(CLI::App& app, int& rc);
void add_simulate_command(CLI::App& app, int& rc);
void add_plan_command(CLI::App& app, int& rc);
void add_bench_engine_command(CLI::App& bench, int& rc);
void add_bench_control_plane_command(CLI::App& bench, int& rc);
void add_bench_swap_command(CLI::App& bench, int& rc);
void add_bench_sim_command(CLI::App& bench, int& rc);
void add_bench_planner_command(CLI::App& bench, int& rc);
/// The inputs simulate and plan share (-c, --profile, --hardware, --trace, ...): apps/simulate_cmd.cpp.
void add_sim_input_options(CLI::App& c, sim_input_options& in);

} // namespace sy::apps
