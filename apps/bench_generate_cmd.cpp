// switchyard bench generate: tokens/s, TTFT and TPOT of gpu::generate (engine-level continuous batching on
// the cpu backend) for 1 and 16 concurrent sequences, beside transformers' generate on PyTorch CPU with the
// same weights in the same run (tests/reference/hf_generate.py bench).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/model_arg.hpp"
#include "gpu/generation.hpp"
#include "messages/logging.hpp"

namespace sy::apps {

namespace {

struct bench_generate_options {
  std::string model = "gpt-100m";
  int prompt = 128, new_tokens = 64;
  std::string batches = "1,16";
  int threads = 0;
  int token_budget = 512;
  bool torch = true;
  std::string python = SY_SOURCE_DIR "/.venv/bin/python";
};

double pct(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct torch_row {
  double tps = 0, ttft = 0, tpot = 0;
};

int run_bench_generate(const bench_generate_options& o) {
  auto log = logger("engine");
  auto spec = load_model_arg(o.model);
  if (!spec) {
    log->error("{}", spec.err().to_string());
    return 2;
  }
  auto batches = parse_tokens(o.batches);
  if (!batches || o.prompt <= 0 || o.new_tokens <= 0) {
    log->error("--batches, --prompt and --new-tokens must be positive");
    return 2;
  }
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  auto w = gpu::generate_weights(*spec, 1);
  if (!w) {
    log->error("{}", w.err().to_string());
    return 1;
  }
  if (auto it = w->tensors.find("head.bias"); it != w->tensors.end()) // transformers' GPT-2 head has none
    std::fill(it->second.values.begin(), it->second.values.end(), 0.0f);
  gpu::backend_options bo;
  bo.kind = gpu::backend_kind::cpu;
  bo.devices = 1;
  bo.cpu_threads = threads;
  bo.budget_bytes = std::size_t{16} << 30;
  auto b = gpu::open_devices(bo);
  if (!b) {
    log->error("{}", b.err().to_string());
    return 1;
  }
  auto p = gpu::pipeline::create(**b, *spec, gpu::even_layout(*spec, 1, 1).value(), *w);
  if (!p || !(*p)->load()) {
    log->error("cannot build or load the pipeline");
    return 1;
  }
  std::printf("model %s (%lld params, fp32, cpu backend), prompt %d, %d new tokens, threads %d, token budget %d\n",
              spec->name.c_str(), static_cast<long long>(spec->total_params()), o.prompt, o.new_tokens, threads,
              o.token_budget);
  std::printf("switchyard: engine-level continuous batching (gpu::generate; not the actors' scheduler)\n");
  struct row {
    double tps, ttft50, ttft99, tpot50, tpot99;
  };
  std::map<int, row> ours;
  for (int batch : *batches) {
    std::vector<gpu::generation_request> reqs(static_cast<std::size_t>(batch));
    for (int s = 0; s < batch; ++s) {
      for (int i = 0; i < o.prompt; ++i)
        reqs[static_cast<std::size_t>(s)].prompt.push_back(
          static_cast<std::int32_t>((static_cast<long long>(i) * 7919 + 13 + s * 104729LL) % spec->vocab));
      reqs[static_cast<std::size_t>(s)].stop.max_new_tokens = o.new_tokens;
      reqs[static_cast<std::size_t>(s)].stop.ignore_eos = true;
    }
    gpu::generation_options go;
    go.max_seqs = batch;
    go.token_budget = o.token_budget;
    { // warm-up: 2 new tokens
      auto warm = reqs;
      for (auto& r : warm)
        r.stop.max_new_tokens = 2;
      if (auto r = gpu::generate(**p, warm, go); !r) {
        log->error("{}", r.err().to_string());
        return 1;
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto out = gpu::generate(**p, reqs, go);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out) {
      log->error("{}", out.err().to_string());
      return 1;
    }
    std::vector<double> ttft, tpot;
    std::size_t tokens = 0;
    for (const auto& r : *out) {
      tokens += r.tokens.size();
      ttft.push_back(r.token_times.front().count() * 1e3);
      if (r.token_times.size() > 1)
        tpot.push_back((r.token_times.back() - r.token_times.front()).count() * 1e3 /
                       static_cast<double>(r.token_times.size() - 1));
    }
    ours[batch] = row{static_cast<double>(tokens) / total, pct(ttft, 0.5), pct(ttft, 0.99), pct(tpot, 0.5),
                      pct(tpot, 0.99)};
  }
  std::map<int, torch_row> torch;
  if (o.torch) {
    char path[] = "/tmp/sy_bench_generate_XXXXXX";
    int fd = ::mkstemp(path);
    if (fd >= 0) {
      ::close(fd);
      std::string weights{path};
      if (auto st = gpu::write_safetensors(weights, *w, gpu::dtype::f32); st) {
        std::string cmd = o.python + " " SY_SOURCE_DIR "/tests/reference/hf_generate.py bench --weights " + weights +
                          " --layers " + std::to_string(spec->layers) + " --hidden " + std::to_string(spec->hidden) +
                          " --heads " + std::to_string(spec->heads) + " --ffn " + std::to_string(spec->ffn) +
                          " --vocab " + std::to_string(spec->vocab) + " --max-seq " + std::to_string(spec->max_seq) +
                          " --prompt " + std::to_string(o.prompt) + " --new " + std::to_string(o.new_tokens) +
                          " --batches " + o.batches + " --threads " + std::to_string(threads);
        FILE* f = ::popen(cmd.c_str(), "r");
        char line[512];
        while (f && std::fgets(line, sizeof line, f)) {
          int bb = 0;
          torch_row t;
          if (std::sscanf(line, "batch %d tokens_per_s %lf ttft_ms %lf tpot_ms %lf", &bb, &t.tps, &t.ttft, &t.tpot) == 4)
            torch[bb] = t;
        }
        int rc = f ? ::pclose(f) : -1;
        if (rc != 0)
          log->warn("transformers generate failed (exit {}): {}", rc, cmd);
      }
      std::remove(weights.c_str());
    }
  }
  std::printf("%6s | %10s %10s %10s %10s %10s | %10s %10s %10s | %9s %9s\n", "seqs", "tok/s", "TTFT p50", "TTFT p99",
              "TPOT p50", "TPOT p99", "hf tok/s", "hf TTFT", "hf TPOT", "tok/s x", "TPOT x");
  for (int batch : *batches) {
    const row& r = ours[batch];
    std::printf("%6d | %10.1f %8.1fms %8.1fms %8.1fms %8.1fms |", batch, r.tps, r.ttft50, r.ttft99, r.tpot50, r.tpot99);
    if (torch.count(batch)) {
      const auto& t = torch[batch];
      std::printf(" %10.1f %8.1fms %8.1fms | %8.2fx %8.2fx\n", t.tps, t.ttft, t.tpot, r.tps / t.tps, r.tpot50 / t.tpot);
    } else {
      std::printf(" %10s %10s %10s | %9s %9s\n", "-", "-", "-", "-", "-");
    }
  }
  std::printf("tok/s x: switchyard / transformers throughput; TPOT x: switchyard p50 / transformers TPOT (lower is better)\n");
  return 0;
}

} // namespace

void add_bench_generate_command(CLI::App& bench, int& rc) {
  auto o = std::make_shared<bench_generate_options>();
  auto* c = bench.add_subcommand("generate", "generation tokens/s, TTFT, TPOT of the cpu engine vs transformers");
  c->add_option("--model", o->model, "preset or spec.yaml")->capture_default_str();
  c->add_option("--prompt", o->prompt, "prompt tokens per sequence")->capture_default_str();
  c->add_option("--new-tokens", o->new_tokens, "new tokens per sequence")->capture_default_str();
  c->add_option("--batches", o->batches, "concurrent sequences")->capture_default_str();
  c->add_option("--threads", o->threads, "threads for OpenBLAS and torch (0 = all cores)");
  c->add_option("--token-budget", o->token_budget, "new tokens per step")->capture_default_str();
  c->add_flag("!--no-torch", o->torch, "skip transformers");
  c->add_option("--python", o->python, "python with transformers")->capture_default_str();
  c->callback([o, &rc] { rc = run_bench_generate(*o); });
}

} // namespace sy::apps
