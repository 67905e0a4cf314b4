#pragma once
// The fast simulator (ALGORITHMS.md §2): the inner loop of the placement search and `switchyard simulate`.
//
// Modes:
//   compat    AlpaServe's fast simulator, number for number: batch 1, per (group, stage) clocks, stage latency
//             float32(stage_latency[1][k] * (1 + 0.009 pp)), SLO float32, clocks double, replica = earliest free
//             last stage (ties: lowest group), finish = last stage + 0.011 s, admission drop at dispatch.
//   batching  AlpaServe's batching variant: per-model FIFO queues, batches of 1,2,4,8,16 under the head's
//             deadline, overhead added at the start, the batch finishes together.
//   swapping  ours: groups may hold more models than fit; per-GPU residency with a byte budget, eviction by
//             the runtime's eviction policy object (sim_options::eviction, default LRU),
//             pipelined loads (stage k ready at max(copy stream free, arrival, evictions done) + load_seconds[k]);
//             the replica with the earliest predicted finish (load included) serves the request; a load that a
//             request triggers is committed even when the request is then dropped (the runtime starts loading on
//             a miss).
//   generation (issue 10 §4; automatic for requests with output_tokens > 0, beside any mode above for the
//             one-pass requests of the same trace): iteration-level continuous batching per (group, model) as
//             the runtime's model group schedules it (actors/internal/generation_queue), KV capacity in blocks
//             of gen.block_tokens from mem_budget_bytes minus the group's weights, preemption by recompute,
//             up to pp micro-batches in flight, step costs from the profile's generation fields
//             (sim/generation_sim.cpp, README "Generation in the simulator").
// A placement_schedule with several windows is simulated window by window with fresh clocks (Clockwork++):
// request i switches to window w+1 only when arrival[i] > start_times[w+1] (compat window rule).
//
// Threading: a simulator holds scratch buffers: one per thread. The table and the prepared trace are read-only
// and may be shared.
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "policies/placement/placement.hpp"
#include "policies/runtime_registry.hpp"
#include "policies/placement/profile_table.hpp"
#include "sim/workload.hpp"

namespace sy::sim {

enum class sim_mode : std::uint8_t { compat, batching, swapping };
result<sim_mode> parse_sim_mode(const std::string& s); // "compat" | "batching" | "swapping"

struct sim_options {
  sim_mode mode = sim_mode::compat;
  double overhead_s = 0.011;                   // compat fixed overhead
  double mem_budget_bytes = 13.0 * (1LL << 30); // swapping: per-GPU residency budget
  /// swapping: the runtime's eviction policy object (policies::make_eviction: "lru", "demand-aware"); empty:
  /// lru. It sees what a model group sees: the group's resident models with their bytes, last use (a logical
  /// clock ticked per request served), demand (count decayed by 0.99 per request to the group) and pinned
  /// (still loading); nothing is queued in the simulator (batch 1).
  policies::eviction_fn eviction;
  /// cpu devices (issue 11 §3): the host's cores (profile_db::host_cores, measured: how many device threads ran
  /// at full speed at once) when the deployment's devices are cpu threads and the profile measured each stage
  /// alone on that host; 0: off (sim, cuda and analytic profiles,
  /// AlpaServe's compat numbers). batching and swapping: a stage op that starts while n devices compute (its
  /// own group's op devices included; every stage of a group with tensor degree op counts op devices) takes
  /// its profiled time x max(1, n / host_cores) / max(1, op / host_cores) (busy device threads share the cores
  /// evenly; the profile already ran the op's own op devices at once); the generation
  /// kernel stretches its steps the same way among generation steps. The compat kernel ignores it.
  double host_cores = 0;
  /// batching: the largest batch formed (profiled sizes 1, 2, 4, 8, 16 up to it); AlpaServe's is 16.
  int max_batch = 16;
  /// batching, in runs of a deployment whose admission policy is `slo` (replay --simulate, simulate -c; never
  /// compat nor the planner's search): admission at arrival as the runtime's controller decides it
  /// (actors/controller.cpp, policies::slo_admission_policy): wait = sum over the serving group's models of
  /// (queued requests + batches in its pipeline) x the model's batch-1 latency (stages + overhead), / pp;
  /// refused (`rejected`, at arrival) when wait + slack x its own batch-1 latency > its SLO. Queue heads that
  /// cannot finish by their deadline are still dropped at dispatch (AlpaServe's rule, which the runtime's
  /// deadline timer mirrors). A model's queue is shared by its replicas: with several replicas the wait counts
  /// the whole queue (the runtime: the chosen group's).
  struct runtime_admission {
    bool on = false;
    double slack = 1.0;
  } admission{};
  /// generation: the runtime's settings (runtime.gen_max_seqs, runtime.gen_token_budget, the KV block size)
  /// and whether admission refuses a request whose predicted TTFT exceeds its TTFT SLO (the runtime's rule).
  struct generation {
    int max_seqs = 16;
    int token_budget = 256;
    int block_tokens = 16;
    bool admission = true;
    /// The seed of the step cost draws of entries with gen_step_sdlog (policies/profile.hpp).
    std::uint64_t noise_seed = 1;
  } gen{};
};

/// Terminal status of a simulated request (the runtime's names): ok, rejected (admission drop or a queue
/// head that cannot meet its deadline), failed (no replica of the model).
/// deadline_exceeded: a generation request without a first token by its TTFT deadline (the runtime's rule).
enum class request_status : std::uint8_t { ok, rejected, failed, deadline_exceeded };
const char* to_string(request_status s);

/// One request's record; the same columns as the replay driver's per-request CSV (README "Outputs").
/// Times in seconds from the trace start. For rejected/failed requests start = finish = dispatch.
struct request_record {
  double arrival = 0;
  double dispatch = 0;  // when the simulator decided (= arrival: dispatch is instantaneous)
  double start = 0;     // when stage 0 began (batching: when the batch was formed)
  double finish = 0;
  request_status status = request_status::failed;
  int group = -1;       // serving (or rejecting) group, -1 when none
  int batch_size = 0;
  double load_wait = 0; // seconds the request waited for its model to load (swapping)
  // Generation requests (the generation mode); one-pass requests keep these defaults.
  int new_tokens = 0;       // tokens produced
  double first_token = -1;  // when the first token was produced, -1: none
  double ttft_slo = 0, tpot_slo = 0; // the request's SLOs (0: none)
  bool generation = false;  // a generation request, whatever its outcome
};

/// The trace in the simulator's layout. model[i] indexes the profile table; -1: a request the simulation
/// ignores (it counts in `requests`, never as good; used to restrict the search to a subset of models).
struct prepared_trace {
  struct packed {
    double arrival;
    std::int32_t model;
    float slo;
  };
  std::vector<double> arrival;
  std::vector<std::int32_t> model;
  std::vector<float> slo; // float32, compat
  std::vector<packed> rows; // the same three columns interleaved (the compat kernel's single stream)
  int num_models = 0;
  std::vector<float> model_slo; // [m] the model's deadline for requests that carry none (float32)
  // Generation requests (output_tokens > 0). Empty vectors when the trace has none.
  std::vector<std::int32_t> input_tokens, output_tokens; // [i]; output 0: a one-pass request
  std::vector<double> ttft_slo, tpot_slo;                // [i] seconds, 0: none
  long generation_requests = 0;
  /// The same trace with generation requests mapped to -1: what the one-pass modes simulate (null when the
  /// trace has no generation request).
  std::shared_ptr<const prepared_trace> one_pass;
};

/// Maps trace model names onto the table (an unknown name is an error naming it) and computes SLOs:
/// float32(slo_scale * single-device latency), or float32(model_slo_s[m]) where that is > 0 (a deployment's
/// slo_ms), or float32(slo_s) where the request carries one. `model_slo_s`: empty or one per table model.
/// Generation requests: TTFT SLO = the request's slo_s, else model_ttft_s[m] (> 0; < 0: none, as the runtime
/// for a model without ttft_ms), else the model's one-pass SLO above; TPOT SLO = the request's tpot_slo_s,
/// else model_tpot_s[m], else none.
result<prepared_trace> prepare(const trace& t, const policies::profile_table& table, double slo_scale,
                               const std::vector<double>& model_slo_s = {},
                               const std::vector<double>& model_ttft_s = {},
                               const std::vector<double>& model_tpot_s = {});
/// Same arrays with the models outside `keep` ([m] != 0) mapped to -1.
prepared_trace restrict_models(const prepared_trace& t, const std::vector<char>& keep);

/// What the generation kernel did in the last run (all windows).
struct generation_stats {
  long requests = 0;         // generation requests simulated
  long tokens = 0;           // new tokens produced
  long preemptions = 0;      // sequences preempted (recomputed) for lack of KV blocks
  long steps = 0;            // iterations sent down the pipelines
  double peak_kv_fraction = 0; // max over groups and stages of KV bytes reserved / KV capacity (<= 1)
};

class simulator {
public:
  simulator(const policies::profile_table& table, sim_options opt) : table_(&table), opt_(opt) {}

  /// Simulates `p` on requests [begin, end) of `t` (end clipped to the trace). Counts are untrimmed. With
  /// `records`, it is resized to end - begin and filled (records[i - begin] for request i).
  result<policies::evaluation> run(const policies::placement& p, const prepared_trace& t, std::size_t begin = 0,
                                   std::size_t end = std::numeric_limits<std::size_t>::max(),
                                   std::vector<request_record>* records = nullptr);
  result<policies::evaluation> run(const policies::placement_schedule& s, const prepared_trace& t,
                                   std::vector<request_record>* records = nullptr);

  const sim_options& options() const { return opt_; }
  const generation_stats& last_generation() const { return gen_; }

private:
  generation_stats gen_;
  const policies::profile_table* table_;
  sim_options opt_;
  std::vector<double> scratch_;
};

} // namespace sy::sim
