#include <catch2/catch.hpp>

#include <cmath>

#include "gpu/pipeline.hpp"

using namespace sy::gpu;

namespace {

std::vector<std::int32_t> some_tokens(const model_spec& s, int batch, int seq) {
  std::vector<std::int32_t> t;
  for (int i = 0; i < batch * seq; ++i)
    t.push_back(static_cast<std::int32_t>((i * 7919 + 13) % s.vocab));
  return t;
}

std::vector<float> run_model(const model_spec& spec, const weight_set& w, int tp, int pp,
                             const std::vector<std::int32_t>& tokens, int batch,
                             pipeline::handoff h = pipeline::handoff::device) {
  backend_options o;
  o.kind = backend_kind::cpu;
  o.devices = tp * pp;
  o.cpu_threads = 1;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  auto layout = even_layout(spec, tp, pp);
  REQUIRE(layout.ok());
  auto p = pipeline::create(**b, spec, *layout, w);
  REQUIRE(p.ok());
  REQUIRE((*p)->load().ok());
  auto out = (*p)->run(tokens, batch, nullptr, h);
  REQUIRE(out.ok());
  return *out;
}

} // namespace

TEST_CASE("every tp x pp split of tiny-gpt and tiny-bert computes the unsplit model's output", "[gpu][engine]") {
  for (const char* name : {"tiny-gpt", "tiny-bert"}) {
    auto spec = preset(name).value();
    auto generated = generate_weights(spec, 42);
    REQUIRE(generated.ok());
    const weight_set& w = *generated;
    const int batch = 3, seq = 9;
    auto tokens = some_tokens(spec, batch, seq);
    auto ref = run_model(spec, w, 1, 1, tokens, batch);
    REQUIRE(ref.size() == static_cast<std::size_t>(batch) * (spec.kind == arch::decoder ? spec.vocab : spec.hidden));
    // The output is not trivial: it varies across positions and sequences.
    double spread = 0;
    for (std::size_t i = 1; i < ref.size(); ++i)
      spread += std::fabs(ref[i] - ref[0]);
    CHECK(spread > 1e-3);
    for (int tp : {1, 2, 4})
      for (int pp : {1, 2, 4}) {
        INFO(name << " tp=" << tp << " pp=" << pp);
        for (auto h : {pipeline::handoff::device, pipeline::handoff::host}) {
          INFO((h == pipeline::handoff::device ? "activations by device handle" : "activations through host"));
          auto out = run_model(spec, w, tp, pp, tokens, batch, h);
          REQUIRE(out.size() == ref.size());
          float worst = 0;
          for (std::size_t i = 0; i < ref.size(); ++i)
            worst = std::max(worst, std::fabs(out[i] - ref[i]));
          CHECK(worst < 1e-4f);
        }
      }
  }
}

TEST_CASE("a stage's output left on its device counts against the budget until the last reader drops it",
          "[gpu][engine]") {
  auto spec = preset("tiny-gpt").value();
  auto generated = generate_weights(spec, 7);
  REQUIRE(generated.ok());
  const weight_set& w = *generated;
  backend_options o;
  o.kind = backend_kind::cpu;
  o.devices = 2;
  o.cpu_threads = 1;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  auto layout = even_layout(spec, 1, 2);
  REQUIRE(layout.ok());
  auto p = pipeline::create(**b, spec, *layout, w);
  REQUIRE(p.ok());
  REQUIRE((*p)->load().ok());
  auto& dev0 = (*b)->dev(0);
  const std::size_t before = dev0.memory_used();
  const int batch = 2, seq = 5;
  auto tokens = some_tokens(spec, batch, seq);
  const auto id = (*p)->id();
  std::shared_ptr<device_activation> act;
  forward_request req;
  req.batch = batch;
  req.seq = seq;
  req.tokens = tokens.data();
  req.output_activation = &act;
  REQUIRE((*p)->stage(0).forward(id, req, [] {}).ok());
  REQUIRE(act);
  const std::size_t bytes = static_cast<std::size_t>(batch) * seq * spec.hidden * 4;
  CHECK(act->bytes() == bytes);
  CHECK(&act->owner() == &dev0);
  CHECK(dev0.memory_used() >= before + bytes);
  REQUIRE(dev0.synchronize(dev0.compute_stream()).ok());

  SECTION("bad combinations are refused with a reason and enqueue nothing") {
    forward_request both = req;
    both.output = act->data();
    auto r1 = (*p)->stage(0).forward(id, both, [] {});
    REQUIRE_FALSE(r1.ok());
    CHECK(r1.err().message.find("both a host output and an output_activation") != std::string::npos);
    forward_request last;
    last.batch = batch;
    last.seq = seq;
    last.input_activation = act;
    std::shared_ptr<device_activation> sink;
    last.output_activation = &sink;
    auto r2 = (*p)->stage(1).forward(id, last, [] {});
    REQUIRE_FALSE(r2.ok());
    CHECK(r2.err().message.find("the last stage writes its output to host memory") != std::string::npos);
    forward_request wrong_shape;
    wrong_shape.batch = batch;
    wrong_shape.seq = seq + 1;
    wrong_shape.input_activation = act;
    std::vector<float> out(static_cast<std::size_t>(batch) * spec.vocab);
    wrong_shape.output = out.data();
    auto r3 = (*p)->stage(1).forward(id, wrong_shape, [] {});
    REQUIRE_FALSE(r3.ok());
    CHECK(r3.err().message.find("input_activation of " + std::to_string(bytes) + " bytes") != std::string::npos);
  }
  SECTION("dropping the last handle frees the buffer after the device's work") {
    act.reset();
    REQUIRE(dev0.synchronize(dev0.compute_stream()).ok());
    CHECK(dev0.memory_used() == before);
  }
}

TEST_CASE("workspace_bytes sizes the head rows of the output kind asked for, and a forward fits in it",
          "[gpu][engine]") {
  auto spec = preset("tiny-gpt").value();
  auto generated = generate_weights(spec, 7);
  REQUIRE(generated.ok());
  const int batch = 2, seq = 8;
  auto tokens = some_tokens(spec, batch, seq);
  // A device whose budget is the shard plus `ws` bytes of workspace (and a page of allocator slack).
  auto forward_all_logits_within = [&](std::size_t ws) {
    auto layout = even_layout(spec, 1, 1);
    REQUIRE(layout.ok());
    backend_options probe_o;
    probe_o.kind = backend_kind::cpu;
    probe_o.cpu_threads = 1;
    auto probe = make_cpu_backend(probe_o);
    REQUIRE(probe.ok());
    auto pp = pipeline::create(**probe, spec, *layout, *generated);
    REQUIRE(pp.ok());
    backend_options o = probe_o;
    o.budget_bytes = (*pp)->shard_bytes() + ws + 4096;
    auto b = make_cpu_backend(o);
    REQUIRE(b.ok());
    auto p = pipeline::create(**b, spec, *layout, *generated);
    REQUIRE(p.ok());
    REQUIRE((*p)->load().ok());
    pipeline::run_options ro;
    ro.batch = batch;
    ro.out = output_kind::logits_all;
    return (*p)->run(tokens, ro).ok();
  };
  backend_options o;
  o.kind = backend_kind::cpu;
  o.cpu_threads = 1;
  auto b = make_cpu_backend(o);
  REQUIRE(b.ok());
  auto layout = even_layout(spec, 1, 1);
  REQUIRE(layout.ok());
  auto p = pipeline::create(**b, spec, *layout, *generated);
  REQUIRE(p.ok());
  auto& st = (*p)->stage(0);
  const auto id = (*p)->id();
  const auto last = st.workspace_bytes(id, batch, seq, output_kind::logits_last);
  const auto all = st.workspace_bytes(id, batch, seq, output_kind::logits_all);
  const auto dflt = st.workspace_bytes(id, batch, seq);
  REQUIRE(last.ok());
  REQUIRE(all.ok());
  REQUIRE(dflt.ok());
  CHECK(*dflt == *last); // a decoder's default output is the last position's logits
  // logits_all keeps a row per token: at least the f32 logits of every token more than one row per sequence.
  CHECK(*all >= *last + static_cast<std::size_t>(batch) * (seq - 1) * spec.vocab * 4);
  CHECK(forward_all_logits_within(*all));
  CHECK_FALSE(forward_all_logits_within(*last));
}
