#include <algorithm>
#include <cstdio>

#include "apps/commands.hpp"
#include "apps/model_arg.hpp"
#include "gpu/pipeline.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

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
  auto tokens = parse_tokens(o.tokens);
  if (!tokens)
    return fail(tokens.err().message);
  if (tokens->size() % static_cast<std::size_t>(o.batch) != 0)
    return fail("--tokens: " + std::to_string(tokens->size()) + " tokens do not form " + std::to_string(o.batch) +
                " sequences of equal length");
  std::size_t seq = tokens->size() / static_cast<std::size_t>(o.batch);
  if (seq > static_cast<std::size_t>(spec->max_seq))
    return fail("--tokens: sequences of " + std::to_string(seq) + " tokens exceed max_seq " +
                std::to_string(spec->max_seq) + " of '" + spec->name + "'");
  for (std::size_t i = 0; i < tokens->size(); ++i)
    if ((*tokens)[i] >= spec->vocab)
      return fail("--tokens: element " + std::to_string(i) + " (" + std::to_string((*tokens)[i]) +
                  ") is outside the vocabulary [0, " + std::to_string(spec->vocab) + ")");
  auto layout = gpu::even_layout(*spec, o.tp, o.pp);
  if (!layout)
    return fail(layout.err().to_string());

  auto engine = open_engine(*spec, *layout, {weights_arg(o.model, o.weights), o.seed, *kind, o.budget_mib, o.threads});
  if (!engine)
    return fail(engine.err().to_string(), 1);
  auto& p = engine->model;
  auto out = p->run(*tokens, o.batch);
  if (!out)
    return fail(out.err().to_string(), 1);

  const std::size_t dim = static_cast<std::size_t>(p->out_dim());
  if (!o.output.empty()) {
    if (auto st = write_npy(o.output, *out, {static_cast<std::size_t>(o.batch), dim}); !st)
      return fail(st.err().to_string(), 1);
    log->info("wrote [{}, {}] float32 to {}", o.batch, dim, o.output);
    return 0;
  }
  bool dec = spec->kind == gpu::arch::decoder;
  std::printf("%s output [%d, %zu] (%s)\n", spec->name.c_str(), o.batch, dim,
              dec ? "logits of the last token" : "pooled first token");
  for (int b0 = 0; b0 < o.batch; ++b0) {
    const float* row = out->data() + static_cast<std::size_t>(b0) * dim;
    std::printf("seq %d:", b0);
    for (std::size_t i = 0; i < std::min<std::size_t>(dim, 8); ++i)
      std::printf(" %.6f", row[i]);
    if (dim > 8)
      std::printf(" ...");
    if (dec)
      std::printf("  argmax %ld", static_cast<long>(std::max_element(row, row + dim) - row));
    std::printf("\n");
  }
  return 0;
}

} // namespace sy::apps
