#pragma once
// `switchyard replay --profile IN --fit-profile OUT` (issue 10 §4, README "Fidelity on cpu devices"): the
// generation costs of IN fitted to the steps a live replay ran, so that `replay --simulate --profile OUT` of
// another trace simulates the engine as it runs inside the serving runtime under load, not alone.
//
// Why: `switchyard profile` times each model's steps alone, one at a time; inside the runtime a step shares
// the host with the other stage's device, the actor threads and the client, and a small model's steps run
// behind a large one's (its weights out of cache). On the embedded default the live steps took 1.15-1.6x
// tiny-gpt's profiled costs, and the actor hops 0.17 ms where the probe, one request at a time, saw 0.06.
//
// What is fitted, from the step events of messages/step_events.hpp (the same points as
// scripts/step_trace.py, which this replaces for the fit):
// - per stage of a group, a step's device time: its device end - max(its submit there, the previous step's
//   device end on that stage) (a device runs its steps in submit order, so the wait behind earlier steps is
//   not the step's cost);
// - per (model, stage), least squares with non-negative coefficients: decode-only steps
//   gen_step_s + decode_s_per_seq x decodes + decode_s_per_ctx x context; then steps with prefill tokens,
//   what is left of their device time after that, prefill_s_per_token x tokens + prefill_s_per_pair x pairs;
// - gen_step_sdlog: per (model, stage), how much the steps vary around that fit (the simulator draws each
//   step's cost from it, so that a median falls where the live one does: on the embedded default 750
//   generations' small-gpt prompts of ~245 tokens took 0.86-1.24x their fitted cost (10th-90th percentile));
// - gen_hop_s: the mean over complete steps of (plan -> stage 0 submit, each stage's device end -> the next
//   stage's submit, the last device end -> result) / (stages + 1), for every generating entry (the runtime's
//   path, the same for every model, as the profile's probe writes it).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "messages/result.hpp"
#include "messages/step_events.hpp"
#include "policies/profile.hpp"

namespace sy::driver {

/// Holds the step events of this process while it lives (set_step_observer; one recorder at a time): every
/// point but `done`, which the fit does not use.
class step_recorder {
public:
  step_recorder();
  ~step_recorder();
  step_recorder(const step_recorder&) = delete;
  step_recorder& operator=(const step_recorder&) = delete;
  /// The events so far (moved out).
  std::vector<step_event> take();

private:
  struct store;
  std::shared_ptr<store> store_;
};

struct stage_fit {
  double step_s = 0, per_seq = 0, per_ctx = 0, per_token = 0, per_pair = 0;
  long decode_steps = 0, prefill_steps = 0; // the steps each part was fitted on
  double device_s = 0, profile_s = 0;       // all the model's steps there: live device time, and the profile's
  double sdlog = 0; // the spread of log(device time / the fitted cost): (84th - 16th percentile) / 2
  /// The fitted cost of a step (profile_entry::step_seconds with these coefficients).
  double seconds(double prefill_tokens, double decodes, double context, double pairs) const {
    return step_s + per_seq * decodes + per_ctx * context + per_token * prefill_tokens + per_pair * pairs;
  }
};

struct model_fit {
  std::string model;
  int pp = 0;
  std::vector<stage_fit> stages; // empty: not fitted (why says why)
  std::string why;
};

struct step_fit_result {
  std::vector<model_fit> models;
  double hop_s = 0;
  long complete_steps = 0; // with every point (plan, each stage's submit and device end, result)
  long steps = 0;          // planned
};

/// Fits the events' steps (see above). `configs`: each generating model's (op, pp) in the deployment, whose
/// entry in `db` gives the profile's costs to compare with; a model needs at least `min_steps` decode-only
/// steps and 3 steps with prefill on every stage to be fitted. Errors: no complete step at all.
result<step_fit_result> fit_steps(const std::vector<step_event>& events,
                                  const std::map<std::string, policies::parallel_config>& configs,
                                  const policies::profile_db& db, long min_steps = 20);

/// Writes the fitted models' costs into their entries of `configs` (gen_fitted_live set) and hop_s into every
/// generating entry's gen_hop_s. Errors: nothing was fitted.
status apply_step_fit(const step_fit_result& fit, const std::map<std::string, policies::parallel_config>& configs,
                      policies::profile_db& db);

} // namespace sy::driver
