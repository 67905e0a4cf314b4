#pragma once
// Runtime-internal payloads: what flows between controller, request, model_group, stage, gpu and node actors
// (DESIGN.md §1-2). Serializable (nodes may live in other processes); tensors as bytes + dtype + shape.
// Internal: ingress and apps use messages/controller.hpp only.
#include <cstdint>
#include <string>
#include <vector>

#include <caf/typed_actor.hpp>

#include "messages/atoms.hpp"
#include "messages/errors.hpp"
#include "messages/generate.hpp"
#include "messages/infer.hpp"

namespace sy::messages {

/// Why an entry did not complete on a stage (issue 9 §1): one code per failure class, the human reason
/// beside it (like CAF's sec). Decisions (the group's, the controller's, HTTP codes, metric labels) use the
/// code, never the reason's text.
enum class stage_error : std::uint8_t {
  none,             // completed
  not_resident,     // a batch of a model whose shard is not on this stage
  invalid_input,    // the engine refused the entry's shapes or tokens (nothing was enqueued)
  out_of_memory,    // the device budget cannot hold the shard, activations or workspace
  device_fault,     // an operation, copy or enqueue failed on the device (transient: the device stays usable)
  device_unhealthy, // the device has a sticky error: nothing on it completes any more
  load_failed,      // a batch queued behind a load that failed
  stopped,          // the stage was stopping
};

constexpr const char* to_string(stage_error e) noexcept {
  switch (e) {
    case stage_error::none: return "none";
    case stage_error::not_resident: return "not_resident";
    case stage_error::invalid_input: return "invalid_input";
    case stage_error::out_of_memory: return "out_of_memory";
    case stage_error::device_fault: return "device_fault";
    case stage_error::device_unhealthy: return "device_unhealthy";
    case stage_error::load_failed: return "load_failed";
    case stage_error::stopped: return "stopped";
  }
  return "device_fault";
}

/// The client-facing code of a request that a stage failed.
constexpr error_code client_code(stage_error e) noexcept {
  switch (e) {
    case stage_error::none: return error_code::none;
    case stage_error::not_resident: return error_code::not_resident;
    case stage_error::invalid_input: return error_code::invalid_request;
    case stage_error::stopped: return error_code::draining;
    case stage_error::out_of_memory:
    case stage_error::device_fault:
    case stage_error::device_unhealthy:
    case stage_error::load_failed: return error_code::device_error;
  }
  return error_code::internal;
}

/// The terminal outcome of one request, sent by the pipeline (last stage / group) to its request actor.
struct request_outcome {
  request_id id;
  request_status status = request_status::failed;
  std::string reason;
  tensor output;
  time_point start{};
  time_point finish{};
  std::int32_t batch_size = 0;
  duration load_wait{0};
  error_code code = error_code::none; // why, when not ok (the reason is its human text)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, request_outcome& x) {
  return f(x.id, x.status, x.reason, x.output, x.start, x.finish, x.batch_size, x.load_wait, x.code);
}

/// The terminal outcome of one generation, sent by its model_group to its request actor (issue 10).
struct generation_outcome {
  request_id id;
  request_status status = request_status::failed;
  std::string reason;
  error_code code = error_code::none;
  std::vector<std::int32_t> tokens; // every new token so far
  std::string finish_reason;        // ok: "eos" | "length"
  time_point admitted{};
  std::vector<time_point> token_times; // when the group had each new token
  std::int32_t preemptions = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generation_outcome& x) {
  return f(x.id, x.status, x.reason, x.code, x.tokens, x.finish_reason, x.admitted, x.token_times, x.preemptions);
}

/// request actor: holds the response promise of one infer or generate and its deadline; answers exactly once.
using request_actor = caf::typed_actor<
  // from the controller (delegated infer): starts the deadline timer, enqueues at the group
  caf::replies_to<infer_atom, infer_request>::with<infer_response>,
  // from the pipeline: the terminal outcome (ignored after the answer)
  caf::reacts_to<outcome_atom, request_outcome>,
  // own deadline timer
  caf::reacts_to<timeout_atom>,
  // from the controller (delegated generate): arms the TTFT timer, enqueues at the group
  caf::replies_to<generate_atom, generate_request>::with<generate_response>,
  // from the group: the next new token (passed on to the request's stream, if any)
  caf::reacts_to<token_atom, token_frame>,
  // from the group: the generation's terminal outcome
  caf::reacts_to<outcome_atom, generation_outcome>,
  // from the stream's sink (the client left): cancel at the group, answer failed
  caf::reacts_to<cancel_atom>>;

/// A generation waiting at (then running in) a model_group; the group owns it from here on.
struct queued_generation {
  request_id id;
  std::string model;
  std::vector<std::int32_t> prompt;
  std::int32_t max_new_tokens = 16;
  sampling_options sampling;
  bool ignore_eos = false;
  time_point arrival{};
  time_point ttft_deadline = time_point::max(); // the first token must come by then
  request_actor requester;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queued_generation& x) {
  return f(x.id, x.model, x.prompt, x.max_new_tokens, x.sampling, x.ignore_eos, x.arrival, x.ttft_deadline,
           x.requester);
}

/// step entry (issue 10): one iteration of a model's continuous batch, i.e. new tokens of a set of sequences
/// (each a prefill chunk or one decode token) on top of the KV each stage caches for them. Stage s runs its
/// layers (appending to its KV) and hands the activations on; the last stage samples the rows that end a
/// sequence's context and returns a step_result to the group. The group owns the sequences (their tokens,
/// their KV ids); a stage only holds their KV.
struct step_entry {
  std::uint64_t step_id = 0;
  std::string model;
  std::vector<std::uint64_t> seqs;   // KV sequence ids (fresh per admission: a recompute gets a new one)
  std::vector<std::int32_t> counts;  // new tokens per sequence (>= 1), packed in `input` in seqs order
  tensor input;                      // stage 0: i32 tokens [sum counts]; later: activations [sum counts, hidden]
  std::vector<std::int32_t> sample;  // per sequence: the index of the new token to sample after this step,
                                     // -1: none (a prefill chunk inside the context)
  std::vector<sampling_options> sampling; // per sequence
  time_point start{};                // stage 0 began
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_entry& x) {
  return f(x.step_id, x.model, x.seqs, x.counts, x.input, x.sample, x.sampling, x.start);
}

/// The last stage's answer to a step (or any stage's failure of it), to the group.
struct step_result {
  std::uint64_t step_id = 0;
  std::string model;
  std::int32_t stage = 0;
  std::vector<std::int32_t> tokens; // per sequence of the step: the sampled token, -1 where none
  duration elapsed{0};              // stage 0 start -> result
  std::string error;                // empty: ok
  stage_error code = stage_error::none;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_result& x) {
  return f(x.step_id, x.model, x.stage, x.tokens, x.elapsed, x.error, x.code);
}

/// release entry: the stage frees the KV of these sequences (sent by the group to every stage, only for
/// sequences none of whose steps is in flight).
struct release_entry {
  std::string model;
  std::vector<std::uint64_t> seqs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_entry& x) {
  return f(x.model, x.seqs);
}

/// KV swap entry (preemption by swap, issue 10 §2): the stage copies the KV of sequence `seq` to pinned host
/// memory and frees its blocks (`out`), or restores it (`!out`). Sent by the group to every stage, only for a
/// sequence none of whose steps is in flight; each stage answers with a kv_swap_result.
struct kv_swap_entry {
  std::string model;
  std::uint64_t seq = 0;
  bool out = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_swap_entry& x) {
  return f(x.model, x.seq, x.out);
}

struct kv_swap_result {
  std::int64_t bytes = 0;                  // host bytes of the copy (swap out)
  stage_error code = stage_error::none;    // out_of_memory: no room to swap in (the copy stays on the host)
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_swap_result& x) {
  return f(x.bytes, x.code, x.error);
}

/// A request waiting in a model_group queue.
struct queued_request {
  request_id id;
  std::string model;
  std::vector<std::int32_t> tokens;
  time_point arrival{};
  time_point deadline{};
  request_actor requester;
  std::string output{}; // the output kind (resolved by the controller); a batch holds one kind
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queued_request& x) {
  return f(x.id, x.model, x.tokens, x.arrival, x.deadline, x.requester, x.output);
}

/// batch entry: stage s runs its layers on `input` and hands the output to stage s+1; the last stage
/// answers the requesters (one output row each).
struct batch_entry {
  std::uint64_t batch_id = 0;
  std::string model;
  std::int32_t batch = 0; // sequences
  std::int32_t seq = 0;   // tokens per sequence (shorter requests are padded by repeating their last token)
  tensor input;           // stage 0: i32 tokens [batch, seq]; later: the previous stage's activations
  std::vector<request_id> ids;
  std::vector<request_actor> requesters;
  time_point start{};     // stage 0 began
  duration load_wait{0};  // time stage 0 waited for the model's load
  std::string output{};   // what the last stage computes for every request of the batch (gpu::output_kind's
                          // name; empty: the model's default): per request [width] or [seq, width]
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_entry& x) {
  return f(x.batch_id, x.model, x.batch, x.seq, x.input, x.ids, x.requesters, x.start, x.load_wait, x.output);
}

/// load entry: each stage forwards it first, then copies its own shard; batches behind it are handed to the
/// device at once and wait there for the copy (device event). `pipelined` false (the baseline of bench swap,
/// runtime.load_pipelining: false): a stage forwards it only once its own copy finished, so the stages load
/// one after another.
struct load_entry {
  std::uint64_t load_id = 0;
  std::string model;
  bool pipelined = true;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, load_entry& x) {
  return f(x.load_id, x.model, x.pipelined);
}

/// evict entry: each stage frees its shard once the model's in-flight batches on it completed.
struct evict_entry {
  std::uint64_t evict_id = 0;
  std::string model;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, evict_entry& x) {
  return f(x.evict_id, x.model);
}

/// evict_done with code != none: the eviction failed and the shard is still resident on that stage.
/// device_unhealthy: the stage's device has a sticky error (entry_id 0, model empty); the stage refuses work.
enum class stage_event_kind : std::uint8_t {
  batch_done, batch_failed, load_done, load_failed, evict_done, device_unhealthy
};

/// What a stage tells its group: completion of an entry on that stage, with the measured duration. The
/// stage owns its shards' residency (DESIGN.md §1); the group's and the controller's views are derived from
/// these events.
struct stage_event {
  stage_event_kind kind = stage_event_kind::batch_done;
  std::int32_t stage = 0;
  std::uint64_t entry_id = 0; // batch_id / load_id / evict_id
  std::string model;
  std::int32_t batch = 0;
  duration elapsed{0};
  std::string error;                  // the reason (empty: none)
  stage_error code = stage_error::none; // the failure class
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_event& x) {
  return f(x.kind, x.stage, x.entry_id, x.model, x.batch, x.elapsed, x.error, x.code);
}

} // namespace sy::messages
