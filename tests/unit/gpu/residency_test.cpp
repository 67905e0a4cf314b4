// GCC 12 reports a false -Wfree-nonheap-object in the inlined destructor of result<weight_set> here.
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#include <algorithm>
#include <catch2/catch.hpp>

#include <cmath>
#include <condition_variable>
#include <mutex>

#include "gpu/pipeline.hpp"

using namespace sy::gpu;

namespace {

/// Blocks a stream until opened (tests only: real callbacks never block).
struct gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  void block() {
    std::unique_lock<std::mutex> l{m};
    cv.wait(l, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> l{m};
      open = true;
    }
    cv.notify_all();
  }
};

/// Records completions in order and lets the test wait for a count of them.
struct journal {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> events;
  std::function<void()> note(std::string what) {
    return [this, what] {
      {
        std::lock_guard<std::mutex> l{m};
        events.push_back(what);
      }
      cv.notify_all();
    };
  }
  void wait_for(std::size_t n) {
    std::unique_lock<std::mutex> l{m};
    cv.wait(l, [&] { return events.size() >= n; });
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> l{m};
    return events;
  }
};

weight_set seeded(const model_spec& spec, std::uint64_t seed) {
  auto r = generate_weights(spec, seed);
  REQUIRE(r.ok());
  return std::move(*r);
}

struct fixture {
  model_spec spec = preset("tiny-gpt").value();
  weight_set weights = seeded(spec, 5);
  std::unique_ptr<backend> b;
  std::unique_ptr<stage_executor> ex;
  std::vector<std::int32_t> tokens{1, 2, 3, 4, 5, 6, 7, 8};
  static constexpr sy::model_id id{7};

  explicit fixture(std::size_t budget = 64 << 20) {
    backend_options o;
    o.kind = backend_kind::cpu;
    o.devices = 2;
    o.budget_bytes = budget;
    o.cpu_threads = 1;
    b = std::move(make_cpu_backend(o).value());
    ex = std::move(stage_executor::create(*b, {0, 1}).value());
    auto layout = even_layout(spec, 2, 1).value();
    std::vector<std::shared_ptr<const host_shard>> shards;
    for (int r = 0; r < 2; ++r)
      shards.push_back(build_host_shard(plan_shard(spec, layout, 0, r, dtype::f32).value(), weights, *b).value());
    REQUIRE(ex->add_model(id, std::move(shards)).ok());
  }

  /// The output of the same model through a fresh, synchronously loaded pipeline.
  std::vector<float> expected() {
    backend_options o;
    o.kind = backend_kind::cpu;
    o.cpu_threads = 1;
    auto other = make_cpu_backend(o).value();
    auto p = pipeline::create(*other, spec, even_layout(spec, 1, 1).value(), weights).value();
    REQUIRE(p->load().ok());
    return p->run(tokens, 2).value();
  }
};

void check_close(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::fabs(a[i] - b[i]));
  CHECK(worst < 1e-4f);
}

} // namespace

TEST_CASE("a forward enqueued right behind a load computes with the loaded weights", "[gpu][residency]") {
  fixture f;
  gate g;
  journal j;
  // Hold back both ranks' copy streams, so that the load's copies are still pending when forward is enqueued.
  for (int r = 0; r < 2; ++r)
    REQUIRE(f.b->dev(r).on_complete(f.b->dev(r).copy_stream(), [&] { g.block(); }).ok());
  REQUIRE(f.ex->load(f.id, j.note("loaded")).ok());
  CHECK(*f.ex->state(f.id) == residency::loading);
  std::vector<float> out(2 * f.spec.vocab, -1.0f);
  forward_request req;
  req.batch = 2;
  req.seq = 4;
  req.tokens = f.tokens.data();
  req.output = out.data();
  REQUIRE(f.ex->forward(f.id, req, j.note("forward")).ok()); // does not block on the pending load
  CHECK(j.snapshot().empty());
  g.release();
  j.wait_for(2);
  // Both ran once. Their order is not defined: the load's done runs on the copy streams after the copies, the
  // forward's on the compute streams, which wait only for the copies (the load event), not for that callback.
  auto seen = j.snapshot();
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"forward", "loaded"});
  CHECK(*f.ex->state(f.id) == residency::resident);
  check_close(out, f.expected()); // the proof that it computed with the loaded weights
}

TEST_CASE("an eviction requested during a forward pass completes only after it", "[gpu][residency]") {
  fixture f;
  journal j;
  REQUIRE(f.ex->load(f.id, j.note("loaded")).ok());
  j.wait_for(1);
  auto used_before = f.b->dev(0).memory_used();
  gate g;
  for (int r = 0; r < 2; ++r) // the forward below waits behind this on the compute streams
    REQUIRE(f.b->dev(r).on_complete(f.b->dev(r).compute_stream(), [&] { g.block(); }).ok());
  std::vector<float> out(2 * f.spec.vocab, -1.0f);
  forward_request req;
  req.batch = 2;
  req.seq = 4;
  req.tokens = f.tokens.data();
  req.output = out.data();
  REQUIRE(f.ex->forward(f.id, req, j.note("forward")).ok());
  REQUIRE(f.ex->evict(f.id, j.note("evicted")).ok());
  CHECK(*f.ex->state(f.id) == residency::evicting);
  // New work is refused once eviction started, with a reason.
  auto refused = f.ex->forward(f.id, req, [] {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.err().message.find("evicting") != std::string::npos);
  CHECK(f.b->dev(0).memory_used() >= used_before); // nothing freed while the forward is pending
  g.release();
  j.wait_for(3);
  CHECK(j.snapshot() == std::vector<std::string>{"loaded", "forward", "evicted"});
  CHECK(*f.ex->state(f.id) == residency::host);
  CHECK(f.b->dev(0).memory_used() == 0);
  check_close(out, f.expected());
}

TEST_CASE("a load over the device budget fails with a clear error and leaves the state intact", "[gpu][residency]") {
  fixture f{256 << 10}; // a tiny-gpt tp=2 shard is about 0.6 MiB
  auto st = f.ex->load(f.id, [] {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().category == "memory");
  CHECK(st.err().message.find("out of device memory") != std::string::npos);
  CHECK(*f.ex->state(f.id) == residency::host);
  CHECK(f.b->dev(0).memory_used() == 0);
  CHECK(f.b->dev(1).memory_used() == 0);
  std::vector<float> out(f.spec.vocab);
  forward_request req;
  req.batch = 1;
  req.seq = 8;
  req.tokens = f.tokens.data();
  req.output = out.data();
  CHECK_FALSE(f.ex->forward(f.id, req, [] {}).ok());
}

TEST_CASE("forward rejects tokens outside the vocabulary and sequences beyond max_seq", "[gpu][residency]") {
  fixture f;
  journal j;
  REQUIRE(f.ex->load(f.id, j.note("loaded")).ok());
  j.wait_for(1);
  std::vector<std::int32_t> bad{1, 2, 9999, 4};
  std::vector<float> out(f.spec.vocab);
  forward_request req;
  req.batch = 1;
  req.seq = 4;
  req.tokens = bad.data();
  req.output = out.data();
  auto st = f.ex->forward(f.id, req, [] {});
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().message.find("token 9999 at position 2") != std::string::npos);
  req.seq = f.spec.max_seq + 1;
  CHECK_FALSE(f.ex->forward(f.id, req, [] {}).ok());
}
