// switchyard generate: one generation run through the sharded engine (gpu::generate), and switchyard
// bench generate (apps/bench_generate_cmd.cpp). Registers its own options (STYLE.md: a command registers
// its options in its own file; main() only lists commands).
#include <algorithm>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/model_arg.hpp"
#include "gpu/generation.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

namespace {

struct generate_options {
  std::string model, weights;
  long long seed = 0;
  std::string tokens, lengths;
  int batch = 1;
  int max_new_tokens = 16;
  bool ignore_eos = false;
  int eos = -2; // -2: the model's eos_token
  float temperature = 0.0f, top_p = 1.0f;
  int top_k = 0;
  long long sample_seed = 0;
  int tp = 1, pp = 1;
  std::string backend = "auto";
  std::string output;
  long long budget_mib = 0;
  int threads = 0;
  int max_seqs = 16, token_budget = 512;
};

int run_generate(const generate_options& o) {
  auto log = logger("engine");
  auto fail = [&](const std::string& m, int code = 2) {
    log->error("{}", m);
    return code;
  };
  auto spec = load_model_arg(o.model);
  if (!spec)
    return fail(spec.err().to_string());
  auto kind = gpu::parse_backend_kind(o.backend);
  if (!kind)
    return fail("--backend: " + kind.err().message);
  if (o.tp <= 0 || o.pp <= 0)
    return fail("--tp and --pp must be positive, found " + std::to_string(o.tp) + " and " + std::to_string(o.pp));
  if (o.batch <= 0)
    return fail("--batch must be positive, found " + std::to_string(o.batch));
  if (o.max_new_tokens <= 0)
    return fail("--max-new-tokens must be positive, found " + std::to_string(o.max_new_tokens));
  if (o.budget_mib < 0 || o.threads < 0 || o.seed < 0 || o.sample_seed < 0)
    return fail("--budget-mib, --threads, --seed and --sample-seed must be non-negative");
  auto tokens = parse_tokens(o.tokens);
  if (!tokens)
    return fail(tokens.err().message);
  // The prompts: --lengths splits --tokens into sequences of those lengths; else --batch equal ones.
  auto split = split_sequences(tokens->size(), o.lengths, o.batch);
  if (!split)
    return fail(split.err().message);
  const std::vector<std::size_t>& lens = *split;
  gpu::sampling_params sp;
  sp.temperature = o.temperature;
  sp.top_k = o.top_k;
  sp.top_p = o.top_p;
  sp.seed = static_cast<std::uint64_t>(o.sample_seed);
  if (auto st = sp.check(); !st) { // the field names as options: top_p -> --top-p
    std::string m = "--" + st.err().message;
    std::replace(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(m.find(' ')), '_', '-');
    return fail(m);
  }
  std::vector<gpu::generation_request> reqs;
  std::size_t at = 0;
  for (std::size_t i = 0; i < lens.size(); ++i) {
    gpu::generation_request r;
    r.prompt.assign(tokens->begin() + static_cast<std::ptrdiff_t>(at), tokens->begin() + static_cast<std::ptrdiff_t>(at + lens[i]));
    at += lens[i];
    r.sampling = sp;
    r.sampling.seed = sp.seed + i; // one stream of draws per sequence
    r.stop.max_new_tokens = o.max_new_tokens;
    r.stop.ignore_eos = o.ignore_eos;
    r.stop.eos_token = o.eos == -2 ? spec->eos_token : o.eos;
    reqs.push_back(std::move(r));
  }
  auto layout = gpu::even_layout(*spec, o.tp, o.pp);
  if (!layout)
    return fail(layout.err().to_string());
  auto engine = open_engine(*spec, *layout, {weights_arg(o.model, o.weights), o.seed, *kind, o.budget_mib, o.threads});
  if (!engine)
    return fail(engine.err().to_string(), 1);
  auto& p = engine->model;
  gpu::generation_options go;
  go.max_seqs = o.max_seqs;
  go.token_budget = o.token_budget;
  auto out = gpu::generate(*p, reqs, go);
  if (!out)
    return fail(out.err().to_string(), out.err().category == "generate" ? 2 : 1);

  const std::size_t n = static_cast<std::size_t>(o.max_new_tokens);
  if (!o.output.empty()) {
    std::vector<std::int64_t> flat(out->size() * n, -1); // -1 after a sequence stopped at eos
    for (std::size_t i = 0; i < out->size(); ++i)
      for (std::size_t t = 0; t < (*out)[i].tokens.size(); ++t)
        flat[i * n + t] = (*out)[i].tokens[t];
    if (auto st = write_npy(o.output, flat, {out->size(), n}); !st)
      return fail(st.err().to_string(), 1);
    log->info("wrote [{}, {}] int64 to {}", out->size(), n, o.output);
    return 0;
  }
  for (std::size_t i = 0; i < out->size(); ++i) {
    std::printf("seq %zu (%s):", i, std::string{gpu::to_string((*out)[i].reason)}.c_str());
    for (auto t : (*out)[i].tokens)
      std::printf(" %d", t);
    std::printf("\n");
  }
  return 0;
}

} // namespace

void add_generate_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<generate_options>();
  auto* c = app.add_subcommand("generate", "generate tokens through the sharded engine (paged KV cache)");
  c->add_option("--model", o->model, "preset name, spec.yaml or Hugging Face model folder")->required();
  auto* w = c->add_option("--weights", o->weights, "safetensors file");
  c->add_option("--seed", o->seed, "generate weights from this seed")->excludes(w);
  c->add_option("--tokens", o->tokens, "prompt token ids, concatenated: 1,2,3,4")->required();
  c->add_option("--batch", o->batch, "equal-length prompts in --tokens")->capture_default_str();
  c->add_option("--lengths", o->lengths, "prompt lengths splitting --tokens (instead of --batch): 3,5");
  c->add_option("--max-new-tokens", o->max_new_tokens, "new tokens per sequence")->required();
  c->add_flag("--ignore-eos", o->ignore_eos, "do not stop at the eos token");
  c->add_option("--eos", o->eos, "eos token id (default: the model's; -1 = none)");
  c->add_option("--temperature", o->temperature, "0 = greedy")->capture_default_str();
  c->add_option("--top-k", o->top_k, "0 = off")->capture_default_str();
  c->add_option("--top-p", o->top_p, "1 = off")->capture_default_str();
  c->add_option("--sample-seed", o->sample_seed, "seed of the draws (sequence i uses seed + i)")->capture_default_str();
  c->add_option("--tp", o->tp, "tensor-parallel degree")->capture_default_str();
  c->add_option("--pp", o->pp, "pipeline stages")->capture_default_str();
  c->add_option("--backend", o->backend, "cpu|cuda|auto")->capture_default_str();
  c->add_option("--output", o->output, "write the new tokens as int64 [batch, max-new-tokens] .npy (-1 after eos)");
  c->add_option("--budget-mib", o->budget_mib, "per-device memory budget (0 = default)");
  c->add_option("--threads", o->threads, "cpu backend: OpenBLAS threads (0 = auto)");
  c->add_option("--max-seqs", o->max_seqs, "sequences running at once")->capture_default_str();
  c->add_option("--token-budget", o->token_budget, "new tokens per step (prefill chunks + decodes)")->capture_default_str();
  c->callback([o, &rc] { rc = run_generate(*o); });
}

} // namespace sy::apps
