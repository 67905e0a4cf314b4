#include <algorithm>
#include <cstdio>
#include <numeric>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/model_arg.hpp"
#include "gpu/pipeline.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

namespace {
/// --pooling / --logits -> the output kind (precise errors for the wrong architecture).
result<gpu::output_kind> output_of(const run_model_options& o, const gpu::model_spec& spec) {
  const bool dec = spec.kind == gpu::arch::decoder;
  if (!o.pooling.empty() && !o.logits.empty())
    return make_error("args", "--pooling and --logits exclude each other");
  if (!o.logits.empty()) {
    if (!dec)
      return make_error("args", "--logits is for decoders; '" + spec.name + "' is an encoder (use --pooling)");
    if (o.logits == "last")
      return gpu::output_kind::logits_last;
    if (o.logits == "all")
      return gpu::output_kind::logits_all;
    return make_error("args", "--logits: expected last or all, found '" + o.logits + "'");
  }
  if (!o.pooling.empty()) {
    if (dec)
      return make_error("args", "--pooling is for encoders; '" + spec.name + "' is a decoder (use --logits)");
    auto k = gpu::parse_output_kind(o.pooling);
    if (!k || *k == gpu::output_kind::logits_last || *k == gpu::output_kind::logits_all)
      return make_error("args", "--pooling: expected pooler, cls, mean, mean-normalized or hidden, found '" +
                                  o.pooling + "'");
    if (*k == gpu::output_kind::pooler && !spec.pooler)
      return make_error("args", "--pooling pooler: '" + spec.name + "' has no pooler");
    return *k;
  }
  return gpu::default_output(spec);
}

std::string describe(gpu::output_kind k) {
  switch (k) {
    case gpu::output_kind::logits_last: return "logits of the last token";
    case gpu::output_kind::logits_all: return "logits of every token";
    case gpu::output_kind::pooler: return "pooled first token";
    case gpu::output_kind::cls: return "first hidden state";
    case gpu::output_kind::mean: return "mean of the hidden states";
    case gpu::output_kind::mean_normalized: return "L2-normalized mean of the hidden states";
    case gpu::output_kind::hidden: return "hidden states of every token";
  }
  return "?";
}
} // namespace

int run_run_model(const run_model_options& o) {
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
  if (o.budget_mib < 0 || o.threads < 0 || o.seed < 0)
    return fail("--budget-mib, --threads and --seed must be non-negative");
  auto out_kind = output_of(o, *spec);
  if (!out_kind)
    return fail(out_kind.err().message);
  auto tokens = parse_tokens(o.tokens);
  if (!tokens)
    return fail(tokens.err().message);
  gpu::pipeline::run_options ro;
  ro.batch = o.batch;
  ro.out = *out_kind;
  auto split = split_sequences(tokens->size(), o.lengths, o.batch);
  if (!split)
    return fail(split.err().message);
  const std::vector<std::size_t>& lens = *split;
  if (!o.lengths.empty())
    for (auto n : lens)
      ro.seq_lens.push_back(static_cast<int>(n));
  const std::size_t seq = *std::max_element(lens.begin(), lens.end());
  if (seq > static_cast<std::size_t>(spec->max_seq))
    return fail("--tokens: sequences of " + std::to_string(seq) + " tokens exceed max_seq " +
                std::to_string(spec->max_seq) + " of '" + spec->name + "'");
  for (std::size_t i = 0; i < tokens->size(); ++i)
    if ((*tokens)[i] >= spec->vocab)
      return fail("--tokens: element " + std::to_string(i) + " (" + std::to_string((*tokens)[i]) +
                  ") is outside the vocabulary [0, " + std::to_string(spec->vocab) + ")");
  if (!o.token_types.empty()) {
    auto t = parse_tokens(o.token_types);
    if (!t)
      return fail("--token-types: " + t.err().message.substr(t.err().message.find(':') + 2));
    if (spec->type_vocab <= 0)
      return fail("--token-types: '" + spec->name + "' has no token-type embeddings (type_vocab 0)");
    if (t->size() != tokens->size())
      return fail("--token-types: " + std::to_string(t->size()) + " types for " + std::to_string(tokens->size()) +
                  " tokens");
    for (std::size_t i = 0; i < t->size(); ++i)
      if ((*t)[i] >= spec->type_vocab)
        return fail("--token-types: element " + std::to_string(i) + " (" + std::to_string((*t)[i]) +
                    ") is outside [0, " + std::to_string(spec->type_vocab) + ")");
    ro.token_types = std::move(*t);
  }
  auto layout = gpu::even_layout(*spec, o.tp, o.pp);
  if (!layout)
    return fail(layout.err().to_string());

  auto engine = open_engine(*spec, *layout, {weights_arg(o.model, o.weights), o.seed, *kind, o.budget_mib, o.threads});
  if (!engine)
    return fail(engine.err().to_string(), 1);
  auto& p = engine->model;
  auto out = p->run(*tokens, ro);
  if (!out)
    return fail(out.err().to_string(), 1);

  const std::size_t dim = static_cast<std::size_t>(gpu::output_width(*spec, *out_kind));
  const std::size_t rows = out->size() / dim;
  if (!o.output.empty()) {
    if (auto st = write_npy(o.output, *out, {rows, dim}); !st)
      return fail(st.err().to_string(), 1);
    log->info("wrote [{}, {}] float32 to {}", rows, dim, o.output);
    return 0;
  }
  const bool logits = *out_kind == gpu::output_kind::logits_last || *out_kind == gpu::output_kind::logits_all;
  std::printf("%s output [%zu, %zu] (%s)\n", spec->name.c_str(), rows, dim, describe(*out_kind).c_str());
  for (std::size_t b0 = 0; b0 < rows; ++b0) {
    const float* row = out->data() + b0 * dim;
    std::printf("row %zu:", b0);
    for (std::size_t i = 0; i < std::min<std::size_t>(dim, 8); ++i)
      std::printf(" %.6f", row[i]);
    if (dim > 8)
      std::printf(" ...");
    if (logits)
      std::printf("  argmax %ld", static_cast<long>(std::max_element(row, row + dim) - row));
    std::printf("\n");
  }
  return 0;
}

void add_run_model_command(CLI::App& app, int& rc) {
  auto o = std::make_shared<run_model_options>();
  auto* rm_cmd = app.add_subcommand("run-model", "run one forward pass through the sharded engine");
  rm_cmd->add_option("--model", o->model, "preset name, spec.yaml or Hugging Face model folder")->required();
  auto* rm_w = rm_cmd->add_option("--weights", o->weights, "safetensors file");
  rm_cmd->add_option("--seed", o->seed, "generate weights from this seed")->excludes(rm_w);
  rm_cmd->add_option("--tp", o->tp, "tensor-parallel degree")->capture_default_str();
  rm_cmd->add_option("--pp", o->pp, "pipeline stages")->capture_default_str();
  rm_cmd->add_option("--backend", o->backend, "cpu|cuda|auto")->capture_default_str();
  rm_cmd->add_option("--tokens", o->tokens, "token ids, batch sequences of equal length: 1,2,3,4")->required();
  rm_cmd->add_option("--batch", o->batch, "sequences in --tokens")->capture_default_str();
  rm_cmd->add_option("--output", o->output, "write the output as .npy instead of printing it");
  rm_cmd->add_option("--budget-mib", o->budget_mib, "per-device memory budget (0 = default)");
  rm_cmd->add_option("--threads", o->threads, "cpu backend: OpenBLAS threads (0 = auto)");
  rm_cmd->add_option("--pooling", o->pooling, "encoders: pooler|cls|mean|mean-normalized|hidden");
  rm_cmd->add_option("--logits", o->logits, "decoders: last|all (logits of the last token or of every token)");
  rm_cmd->add_option("--lengths", o->lengths, "variable-length sequences in --tokens: 3,5,... (instead of --batch)");
  rm_cmd->add_option("--token-types", o->token_types, "token type ids, one per token: 0,0,1,...");
  rm_cmd->callback([o, &rc] { rc = run_run_model(*o); });
}

} // namespace sy::apps
