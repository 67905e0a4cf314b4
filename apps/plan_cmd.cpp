// `switchyard plan`: search a placement for a workload and write the plan YAML.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <unistd.h>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/sim_inputs.hpp"
#include "messages/logging.hpp"
#include "policies/placement/plan_check.hpp"
#include "policies/placement/plan_file.hpp"
#include "policies/placement/registry.hpp"
#include "sim/evaluator.hpp"
#include "sim/simulator.hpp"
#include "sim/summary.hpp"

namespace sy::apps {

namespace {

void print_placement(const policies::placement_schedule& s, const policies::profile_table& t) {
  for (std::size_t w = 0; w < s.placements.size(); ++w) {
    const auto& p = s.placements[w];
    if (s.placements.size() > 1)
      std::printf("window %zu from %.3f s:\n", w, s.start_times[w]);
    for (std::size_t g = 0; g < p.groups.size(); ++g) {
      const auto& grp = p.groups[g];
      std::printf("  group %zu (op=%d, pp=%d) devices [", g, grp.config.op, grp.config.pp);
      for (std::size_t i = 0; i < grp.devices.size(); ++i)
        std::printf("%s%d", i ? " " : "", grp.devices[i]);
      std::printf("] %zu models:", grp.models.size());
      for (int m : grp.models)
        std::printf(" %s", t.model_names()[static_cast<std::size_t>(m)].c_str());
      std::printf("\n");
    }
  }
}

struct cluster_shape {
  int devices = 8, devices_per_node = 8;
  double mem_budget_gib = 13;
};

/// Explicit flags win over -c, which wins over the defaults (8 devices, 8 per node, 13 GiB).
result<cluster_shape> shape_of(const plan_options& o, const sim_inputs& in) {
  cluster_shape s;
  if (in.config) {
    const auto& c = *in.config;
    s.devices = c.device_count();
    s.devices_per_node = 0;
    std::int64_t mem = 0;
    for (const auto& n : c.nodes) {
      const int k = static_cast<int>(n.devices.size());
      s.devices_per_node = s.devices_per_node == 0 ? k : std::min(s.devices_per_node, k);
      for (const auto& d : n.devices)
        mem = mem == 0 ? d.memory_bytes : std::min(mem, d.memory_bytes);
    }
    s.mem_budget_gib = static_cast<double>(mem) / policies::gib;
  }
  if (o.devices != 0)
    s.devices = o.devices;
  if (o.devices_per_node != 0)
    s.devices_per_node = o.devices_per_node;
  if (o.mem_budget_gib != 0)
    s.mem_budget_gib = o.mem_budget_gib;
  if (s.devices < 1)
    return make_error("cli", "--devices: expected >= 1, found " + std::to_string(s.devices));
  if (in.config && s.devices > in.config->device_count())
    return make_error("cli", "--devices: expected at most the " + std::to_string(in.config->device_count()) +
                               " devices of " + in.config->source + ", found " + std::to_string(s.devices));
  if (s.devices_per_node < 1)
    return make_error("cli", "--devices-per-node: expected >= 1, found " + std::to_string(s.devices_per_node));
  if (!(s.mem_budget_gib > 0))
    return make_error("cli", "--mem-budget-gib: expected > 0, found " + std::to_string(s.mem_budget_gib));
  return s;
}

} // namespace

int run_plan(const plan_options& o) {
  auto log = logger("plan");
  auto in = load_inputs(o.in);
  if (!in) {
    log->error("{}", in.err().to_string());
    return 2;
  }
  auto shape = shape_of(o, *in);
  if (!shape) {
    log->error("{}", shape.err().to_string());
    return 2;
  }
  auto prepared = prepare_inputs(*in, o.in.slo_scale);
  if (!prepared) {
    log->error("{}", prepared.err().to_string());
    return 2;
  }
  auto trace = std::make_shared<const sim::prepared_trace>(std::move(*prepared));
  auto policy = policies::make_placement_policy(o.policy);
  if (!policy) {
    log->error("{}", policy.err().to_string());
    return 2;
  }
  sim::sim_options sopt;
  sopt.mem_budget_bytes = shape->mem_budget_gib * policies::gib;
  // Generation requests are scored by the generation simulator (ok, TTFT and TPOT within their SLOs), with KV
  // capacity from this budget minus the group's weights.
  if (auto st = apply_generation_options(sopt, o.in, in->config ? &*in->config : nullptr); !st) {
    log->error("{}", st.err().to_string());
    return 2;
  }
  if (o.policy == "swap-aware" && in->config) { // swapping is scored with the deployment's eviction policy
    auto e = policies::make_eviction(in->config->policies.eviction.name);
    if (!e) {
      log->error("{}: policies.eviction: {}", in->config->source, e.err().to_string());
      return 2;
    }
    sopt.eviction = *e;
  }
  policies::placement_problem pb;
  pb.profiles = &in->table;
  pb.num_devices = shape->devices;
  pb.devices_per_node = shape->devices_per_node;
  pb.mem_budget = shape->mem_budget_gib * policies::gib;
  pb.arrivals = trace->arrival;
  pb.model_rates = in->model_rates;
  pb.make_evaluator = sim::make_evaluator_factory(in->table, trace, sopt);
  pb.threads = o.threads;
  pb.swap_overcommit = o.overcommit;
  const bool tty = isatty(STDERR_FILENO) != 0;
  if (tty)
    pb.progress = [](int done, int total) {
      const int width = 30, fill = total > 0 ? done * width / total : width;
      std::fprintf(stderr, "\r[%.*s%*s] %d/%d", fill, "##############################", width - fill, "", done, total);
      if (done == total)
        std::fprintf(stderr, "\n");
    };
  const auto t0 = std::chrono::steady_clock::now();
  auto s = (*policy)(pb);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!s) {
    log->error("{}", s.err().to_string());
    return 1;
  }
  sim::simulator check(in->table, sopt);
  auto e = check.run(*s, *trace);
  if (!e) {
    log->error("{}", e.err().to_string());
    return 1;
  }
  std::printf("policy %s: %d devices, %d models, %zu requests, planned in %.3f s\n", o.policy.c_str(), shape->devices,
              in->table.num_models(), trace->arrival.size(), wall);
  print_placement(*s, in->table);
  if (trace->generation_requests > 0) {
    std::vector<sim::request_record> rec;
    sim::simulator gsim(in->table, sopt);
    if (auto eg = gsim.run(*s, *trace, &rec); eg) {
      auto sum = sim::summarize(rec, trace->model, in->table.model_names(), 0);
      std::printf("expected (planning trace, generation simulator, untrimmed) %s\n",
                  generation_line(sum.overall.gen).c_str());
    }
  }
  std::printf("expected SLO attainment (planning trace, %s, untrimmed): %.4f\n",
              trace->generation_requests > 0 ? "generation requests: both SLOs" : "compat simulator", e->attainment);
  double shown = e->attainment;
  if (o.policy == "swap-aware") {
    sopt.mode = sim::sim_mode::swapping;
    sim::simulator swap(in->table, sopt);
    auto es = swap.run(*s, *trace);
    if (es) {
      std::printf("expected SLO attainment with swapping: %.4f\n", es->attainment);
      shown = es->attainment;
    }
  }
  policies::plan_file f;
  f.policy = o.policy;
  f.devices = shape->devices;
  f.mem_budget_bytes = pb.mem_budget;
  f.expected_attainment = shown;
  f.slo_scale = o.in.slo_scale;
  f.schedule = std::move(*s);
  if (in->config)
    if (auto st = policies::check_plan(f, *in->config, o.output); !st) { // e.g. a group across nodes
      log->error("{}", st.err().to_string());
      return 1;
    }
  if (auto st = policies::save_plan(o.output, f); !st) {
    log->error("{}", st.err().to_string());
    return 1;
  }
  std::printf("wrote %s\n", o.output.c_str());
  return 0;
}

void add_plan_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<plan_options>();
  auto* plan = app.add_subcommand("plan", "search a placement (AlpaServe mp-search, baselines, swap-aware)");
  add_sim_input_options(*plan, o->in);
  plan->add_option("--policy", o->policy, "mp-search|mp-search-sep|sr-greedy|sr-replace-<s>|mp-round-robin|"
                                                 "mp-greedy-<k>|swap-aware")->capture_default_str();
  plan->add_option("--devices", o->devices, "number of GPUs (default: -c's device count, else 8)");
  plan->add_option("--devices-per-node", o->devices_per_node, "GPUs per node (default: -c's smallest node, else 8)");
  plan->add_option("--mem-budget-gib", o->mem_budget_gib,
                   "per-GPU weight budget (default: -c's smallest device memory, else 13)");
  plan->add_option("--threads", o->threads, "parallel candidate evaluation")->capture_default_str();
  plan->add_option("--overcommit", o->overcommit, "swap-aware: weights per group up to this x budget")
      ->capture_default_str();
  plan->add_option("--output,-o", o->output, "plan YAML to write")->capture_default_str();
  plan->callback([o, &rc] { rc = run_plan(*o); });
}

} // namespace sy::apps
