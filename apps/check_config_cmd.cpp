// switchyard check-config: load, normalize and validate a deployment file; print a summary (and, with
// --print, the normalized YAML) or the precise error (exit code 2). Loads the config's policy plug-ins and
// checks every policy name and parameter, as start-up would.
#include <cstdio>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "config/cluster_config.hpp"
#include "config/weight_files.hpp"
#include "policies/placement/plan_check.hpp"
#include "sim/deployment_plan.hpp"
#include "policies/policy_registry.hpp"

namespace sy::apps {

int run_check_config(const check_config_options& opts) {
  auto r = config::load_config_or_default(opts.config_path);
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.err().message.c_str());
    return 2;
  }
  const auto& c = *r;
  if (c.placement.mode == config::placement_mode::plan_file) { // the plan must fit this deployment
    auto plan = policies::load_plan(c.placement.plan_path);
    auto st = plan ? policies::check_plan(*plan, c, c.placement.plan_path) : status{plan.err()};
    if (!st) {
      std::fprintf(stderr, "%s: placement.plan: %s\n", c.source.c_str(), st.err().message.c_str());
      return 2;
    }
  }
  if (c.placement.mode == config::placement_mode::policy) { // what can be checked without measuring: the
    // policy (sr-replace-* cannot be served), the workload, a given profile's device kind; with a profile
    // file, the whole planning runs (cheap) and a plan that cannot place a model is reported here too.
    status st;
    if (c.placement.policy.name.rfind("sr-replace", 0) == 0)
      st = make_error("config", c.placement.policy.where + ": placement.policy: expected a policy that places once, found '"
                                  + c.placement.policy.name + "' (re-places over time; the runtime serves one placement)");
    auto workload = st ? sim::load_workload(c) : result<sim::trace>{st.err()};
    if (!workload)
      st = workload.err();
    if (st && !c.placement.profile.path.empty()) {
      auto db = sim::load_placement_profile(c);
      auto plan = db ? sim::plan_deployment(c, *db, *workload) : result<sim::deployment_plan>{db.err()};
      if (!plan)
        st = plan.err();
    }
    if (!st) {
      std::fprintf(stderr, "%s\n", st.err().message.c_str());
      return 2;
    }
  }
  // Weight files: open them and parse their headers (cheap), as `up` does before it starts.
  if (auto st = config::check_weight_files(c); !st) {
    std::fprintf(stderr, "%s\n", st.err().message.c_str());
    return 2;
  }
  // Plug-ins load here as they would at start-up; unknown policy names and bad parameters show up now.
  auto reg = policies::load_policy_registry(c);
  if (!reg) {
    std::fprintf(stderr, "%s\n", reg.err().message.c_str());
    return 2;
  }
  if (opts.print) {
    std::fputs(config::to_yaml(c).c_str(), stdout);
    return 0;
  }
  std::printf("%s: ok: %zu node(s), %d device(s), %zu model(s), placement %s", c.source.c_str(), c.nodes.size(),
              c.device_count(), c.models.size(), std::string{to_string(c.placement.mode)}.c_str());
  if (c.placement.mode == config::placement_mode::explicit_groups)
    std::printf(" (%zu group(s))", c.placement.groups.size());
  else if (c.placement.mode == config::placement_mode::policy)
    std::printf(" (%s)", c.placement.policy.name.c_str());
  else
    std::printf(" (%s)", c.placement.plan_path.c_str());
  for (const auto& path : (*reg)->plugins())
    std::printf("\n  plug-in %s", path.c_str());
  std::printf("\n  policies: admission %s, dispatch %s, batching %s, eviction %s\n", c.policies.admission.name.c_str(),
              c.policies.dispatch.name.c_str(), c.policies.batching.name.c_str(), c.policies.eviction.name.c_str());
  return 0;
}

void add_check_config_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<check_config_options>();
  auto* check = app.add_subcommand("check-config", "validate a deployment file and print it normalized");
  check->add_option("-c,--config", o->config_path, "deployment YAML (default: the embedded default)");
  check->add_flag("--print", o->print, "print the normalized config as YAML");
  check->callback([o, &rc] { rc = run_check_config(*o); });
}

} // namespace sy::apps
