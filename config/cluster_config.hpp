#pragma once
// cluster_config: the immutable description of one deployment, read from one YAML file
// (configs/reference.yaml documents every key with its default).
//
// Pipeline: parse (yaml-cpp, nodes keep line/column) -> normalize (defaults, sizes to bytes, presets expanded
// into gpu::model_spec) -> validate -> cluster_config. Once returned, a cluster_config is never modified:
// consumers hold it by const reference (or std::shared_ptr<const cluster_config>) and may read it from any
// thread. The loaders are pure functions (no global state except the embedded default, built once,
// thread-safe) and may be called from any thread.
//
// Errors (result<T>::err(), category "config") always read
//   <file>:<line>:<column>: <key path>: expected <what>, found <what>
// e.g. `cluster.yaml:14:7: models[2].slo_ms: expected a positive number, found "fast"`.
//
// Indexing conventions used by every consumer:
//   - nodes[i].devices[j]: a device is identified by (node position i, device position j); its `ordinal`
//     is the number the YAML uses for it (the CUDA device ordinal, or the cpu worker number).
//   - global device index: devices numbered in node order, then device order (cluster_config::global_index);
//     policies::group_placement::devices uses these.
//   - group_config::devices[s * op + r] is the device of pipeline stage s, tensor rank r.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gpu/model_spec.hpp"
#include "messages/result.hpp"

namespace sy::config {

// --- nodes and devices --------------------------------------------------------------------------------

enum class device_kind : std::uint8_t { cpu, cuda, sim };
std::string_view to_string(device_kind k) noexcept;

struct device_config {
  device_kind kind = device_kind::cpu;
  int ordinal = 0;               // unique per node; YAML `index`, default: position in the node's list
  std::int64_t memory_bytes = 0; // memory budget for weights + activations (> 0)
  /// kind sim only (required there): the profile database whose times the simulated device takes
  /// (gpu/sim/sim_backend.hpp), resolved against the config file's folder.
  std::string profile;
};

struct node_config {
  std::string name;          // unique in the cluster
  std::string host;          // from `address: host:port`
  std::uint16_t port = 0;    // the node's CAF middleman port (0: any free port, single-process only)
  std::vector<device_config> devices;
  std::string address() const { return host + ":" + std::to_string(port); }
};

// --- models ---------------------------------------------------------------------------------------------

struct weights_config {
  enum class source : std::uint8_t { seed, safetensors, hf };
  source kind = source::seed;
  std::uint64_t seed = 0; // kind == seed: the generator's seed
  std::string path;       // kind == safetensors: the file; kind == hf (a model's `hf: DIR`): the Hugging Face
                          // model folder (gpu/hf_checkpoint.hpp); resolved against the config file's folder
};

struct model_config {
  std::string name;                // unique in the cluster; == spec.name
  std::string preset;              // the preset it was expanded from, empty for an inline architecture
  gpu::model_spec spec;            // complete (preset expanded, dtype applied), spec.validate() passes
  weights_config weights;
  std::optional<std::chrono::microseconds> slo; // YAML `slo_ms` (may be fractional); none: no deadline
                                                // beyond runtime.request_timeout
  /// Generation SLOs (issue 10), YAML `ttft_ms` / `tpot_ms`: time to the first token (admission predicts
  /// it and refuses what cannot meet it; a first token later than this answers deadline_exceeded) and time
  /// per output token (measured, reported). none: the first token is bounded by runtime.request_timeout.
  std::optional<std::chrono::microseconds> ttft, tpot;
  /// YAML `output`: what a request answers unless it asks for another (gpu::output_kind's name:
  /// logits_last, logits_all, pooler, cls, mean, mean_normalized, hidden); default: the spec's default
  /// (decoders logits_last; encoders pooler, or cls without a pooler). Always set after parsing.
  std::string output{};
};

// --- placement ------------------------------------------------------------------------------------------

struct device_ref {
  int node = 0;   // position in cluster_config::nodes
  int device = 0; // position in nodes[node].devices
  bool operator==(const device_ref& o) const { return node == o.node && device == o.device; }
  bool operator<(const device_ref& o) const { return node != o.node ? node < o.node : device < o.device; }
};

struct group_config {
  std::string name;                // unique, default "g<i>"
  int op = 1;                      // tensor (intra-op) degree, YAML `tensor`; divides every model's heads
  int pp = 1;                      // pipeline (inter-op) degree, YAML `pipeline`; <= every model's layers
  std::vector<device_ref> devices; // size op * pp, [s * op + r] = stage s, tensor rank r; disjoint groups
  std::vector<int> models;         // positions in cluster_config::models
};

enum class placement_mode : std::uint8_t {
  explicit_groups, // `placement: {groups: [...]}`
  policy,          // `placement: {policy: mp-round-robin, ...params}`: computed at start-up by that policy
  plan_file,       // `placement: {plan: path}`: written by `switchyard plan`
};
std::string_view to_string(placement_mode m) noexcept;

// --- policies -------------------------------------------------------------------------------------------

/// A policy parameter: a YAML scalar, typed by its spelling (true/false, integer, number, else string).
using param_value = std::variant<bool, std::int64_t, double, std::string>;
using policy_params = std::map<std::string, param_value>;
std::string to_string(const param_value& v);

/// A policy chosen by name, with free parameters (validated later by the policy registry).
/// YAML: `batching: greedy` or `batching: {name: greedy, max_batch: 8}`.
struct policy_config {
  std::string name;
  policy_params params;
  std::string where; // "<file>:<line>:<column>" of the name in the config (empty: default), for errors found
                     // after parsing (plug-in policy names, parameters)
};

/// A policy plug-in (a shared library, policies/plugin_api.hpp) listed under `plugins:`. Loaded, and the
/// policy names it provides checked, by policies::load_policy_registry (not by the config loader).
struct plugin_config {
  std::string path;    // resolved against the config file's folder
  std::string written; // as written; a bare file name is also searched elsewhere (see load_policy_registry)
  std::string where;   // "<file>:<line>:<column>: plugins[i]", the prefix of every message about it
  // `{path: X, isolate: true, deadline_ms: N}`: the plug-in runs in a `switchyard policy-host` process; each
  // decision waits at most deadline_ms for it, then the built-in decides (policies/isolation/).
  bool isolate = false;
  std::int64_t deadline_ms = 50;
};

/// What a placement policy plans for (`placement.workload`): a trace file, the per-request records of a
/// previous run (`replay --records` / `simulate --records` CSV: its id, model and arrival columns), or a
/// synthetic Gamma trace with power-law popularity over the config's models (the options `plan` takes).
struct workload_config {
  enum class source : std::uint8_t { synthetic, trace, records };
  source kind = source::synthetic;
  std::string path;            // trace / records: resolved against the config file's folder
  double rate = 0;             // synthetic: total requests/s (0: 10 per model)
  double cv = 1;               // synthetic: coefficient of variation of the gaps
  double duration_s = 60;      // synthetic: seconds
  double popularity = 0.5;     // synthetic: power-law exponent (0: uniform)
  std::uint64_t seed = 0;      // synthetic: seed
  int tokens = 16;             // input tokens of synthetic and records requests (the measured profile's length)
  std::string where;           // "<file>:<line>:<column>: placement.workload" (empty: default), for errors
};

/// Where a placement policy's profile comes from (`placement.profile`): a profile database file, or (no
/// path) measured on the deployment's own devices at start and cached on disk per (model spec, parallel
/// config, device kind, tokens).
struct placement_profile_config {
  std::string path;            // a profile database (.json / .msgpack); empty: measure
  std::string cache_dir;       // `profile_cache`: where measured entries are cached; empty: $SWITCHYARD_CACHE_DIR,
                               // else $XDG_CACHE_HOME/switchyard, else ~/.cache/switchyard (then /profiles)
  std::string where;           // "<file>:<line>:<column>: placement.profile" (empty: default), for errors
};

struct placement_config {
  placement_mode mode = placement_mode::policy;
  std::vector<group_config> groups; // mode == explicit_groups
  policy_config policy;             // mode == policy (name is one of known_policy_names("placement")); params:
                                    // threads (2), overcommit (4, swap-aware)
  std::string plan_path;            // mode == plan_file, resolved against the config file's folder
  // mode == policy: the planner's inputs, run at start by `switchyard up` (apps/live_plan.hpp).
  workload_config workload;
  placement_profile_config profile;
  double slo_scale = 5;             // SLO of models without slo_ms: slo_scale x single-device latency
  std::string write_path;           // `write`: where the chosen plan is written (empty: nowhere)
  // `replan: {policy: windowed | drift | none | <plug-in>, window_s, interval_s, margin, threshold,
  // min_interval_s}` (issue 11 §2): re-placement while serving; name empty: off. window_s (default 30): the
  // arrival window the policy sees and the planner plans on; the other parameters are the policy's.
  policy_config replan{};
};

/// The placement policy of a config without a `placement:` section: mp-search on a synthetic workload
/// with a profile measured on the deployment's devices.
inline constexpr const char* default_placement_policy = "mp-search";

struct policies_config {
  policy_config admission{"slo", {}, {}};           // slo | none
  policy_config dispatch{"earliest-free", {}, {}};  // earliest-free | shortest-queue
  policy_config batching{"none", {}, {}};           // none | greedy (max_batch)
  policy_config eviction{"lru", {}, {}};            // lru | demand-aware | swap-cost-aware
};

/// The policy names config accepts per kind ("placement", "admission", "dispatch", "batching",
/// "eviction"); empty for an unknown kind. Kept here until the policy registries exist (placement: the names
/// of policies/placement/registry.cpp; "sr-replace-<seconds>" stands for any name with that prefix).
const std::vector<std::string>& known_policy_names(std::string_view kind);
/// The registry name for a name written in a config: itself, or for placement the target of an alias
/// (round-robin -> mp-round-robin, selective-replication -> sr-greedy, model-parallel|alpaserve ->
/// mp-search); empty when unknown.
std::string canonical_policy_name(std::string_view kind, std::string_view name);

// --- endpoints and runtime ------------------------------------------------------------------------------

struct ingress_config {
  std::string bind = "127.0.0.1";   // address both listeners bind to
  std::uint16_t msgpack_port = 7400; // msgpack over TCP (0: any free port)
  std::uint16_t http_port = 7401;    // HTTP/JSON (0: any free port)
  int max_in_flight = 1024;          // accepted but unanswered requests; beyond: rejected (overload)
  int max_input_tokens = 0;          // per request; 0: each model's max_seq
  int max_connections = 1024;        // open client connections per listener; beyond: refused
  std::chrono::milliseconds idle_timeout{60000}; // a connection without requests this long is closed (0: never)
  std::chrono::milliseconds read_timeout{2000};  // HTTP: one whole request from its first byte
  int http_workers = 16;             // HTTP: threads that read requests and run handlers
  std::string control_token;         // non-empty: control routes need `Authorization: Bearer <token>`
                                     // (SWITCHYARD_CONTROL_TOKEN overrides it)
};

struct metrics_config {
  std::string bind = "127.0.0.1";
  std::uint16_t port = 7402; // Prometheus text at GET /metrics (0: any free port)
};

struct controller_config {
  std::string host;         // default: the first node's host
  std::uint16_t port = 7410; // where the controller is published for `switchyard node --join`
  std::string address() const { return host + ":" + std::to_string(port); }
};

struct runtime_config {
  std::chrono::milliseconds request_timeout{30000}; // a request without SLO fails after this
  std::chrono::milliseconds heartbeat_interval{200}; // CAF middleman heartbeat, same on every node
  std::chrono::milliseconds node_timeout{1000};      // a node silent this long is down (controller heartbeats)
  bool load_pipelining = true; // false: a load's stages copy one after another (bench swap's baseline)
  int gen_max_seqs = 16;       // generation: sequences running at once per model and group (issue 10)
  int gen_token_budget = 256;  // generation: new tokens per step (decodes, then prefill chunks)
  bool gen_swap = false;       // generation: out of KV blocks, preempt by swapping the KV to pinned host memory
                               // (YAML gen_preemption: swap) instead of recompute (gen_preemption: recompute)
};

// --- the whole deployment -------------------------------------------------------------------------------

struct cluster_config {
  std::string source; // file name (or source name given to parse_config) for messages
  std::vector<node_config> nodes;
  std::vector<model_config> models;
  placement_config placement;
  policies_config policies;
  std::vector<plugin_config> plugins; // load order
  ingress_config ingress;
  metrics_config metrics;
  controller_config controller;
  runtime_config runtime;

  const model_config* find_model(std::string_view name) const; // nullptr if absent
  int model_index(std::string_view name) const;                // -1 if absent
  const node_config* find_node(std::string_view name) const;   // nullptr if absent
  int device_count() const;                                    // all devices of all nodes
  int global_index(device_ref d) const;                        // node order, then device order
  device_ref device_at(int global) const;                      // inverse of global_index
  const device_config& device(device_ref d) const { return nodes[d.node].devices[d.device]; }
};

/// How the runtime shares one loaded config between actors (never modified after loading).
using cluster_config_ptr = std::shared_ptr<const cluster_config>;

/// Reads, normalizes and validates a file. Relative paths inside resolve against the file's folder.
result<cluster_config> load_config(const std::string& path);
/// The same from text; `source_name` appears in messages; relative paths resolve against `base_dir`.
result<cluster_config> parse_config(std::string_view text, std::string_view source_name = "<string>",
                                    std::string_view base_dir = ".");

/// configs/local.yaml as compiled into the binary: its text, and the config it describes (parsed once).
std::string_view embedded_default_text();
const cluster_config& embedded_default();
/// What a `-c PATH` option means everywhere: `path` empty: a copy of the embedded default; else load_config.
result<cluster_config> load_config_or_default(const std::string& path);

/// The normalized config as YAML (every key, sizes in bytes, presets expanded); parse_config of it gives
/// back an equal config.
std::string to_yaml(const cluster_config& c);

/// A standalone model file (the fields of one `models:` entry, at top level) for `switchyard run-model`.
result<model_config> load_model_spec(const std::string& path);
result<model_config> parse_model_spec(std::string_view text, std::string_view source_name = "<string>",
                                      std::string_view base_dir = ".");

} // namespace sy::config
