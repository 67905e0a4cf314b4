// switchyard bench generate: tokens/s, TTFT and TPOT for 1 and 16 concurrent sequences (issue 10 §6), in
// three rows per concurrency: through the runtime (an in-process local cluster, one group of the model on
// one cpu device, the requests streamed over the msgpack ingress as a user's client sends them; TTFT and
// TPOT from the client's receive times of the token frames), gpu::generate (the engine-level continuous
// batching loop, no actors), and transformers' generate on PyTorch CPU with the same weights in the same
// run (tests/reference/hf_generate.py bench).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "actors/ingress_protocol.hpp"
#include "apps/model_arg.hpp"
#include "apps/serve.hpp"
#include "config/cluster_config.hpp"
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
  bool runtime = true;
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

struct row {
  double tps = 0, ttft50 = 0, ttft99 = 0, tpot50 = 0, tpot99 = 0;
};

/// The benchmark's prompts: the same deterministic tokens for the engine and the runtime.
std::vector<std::int32_t> bench_prompt(int s, int len, std::int64_t vocab) {
  std::vector<std::int32_t> p;
  for (int i = 0; i < len; ++i)
    p.push_back(static_cast<std::int32_t>((static_cast<long long>(i) * 7919 + 13 + s * 104729LL) % vocab));
  return p;
}

/// The deployment of the runtime rows: one node, one cpu device, one group holding the model.
std::string runtime_config(const gpu::model_spec& spec, const std::string& model, int max_seqs, int token_budget) {
  std::string m = gpu::preset(model) ? fmt::format("{{name: {}, preset: {}, weights: {{seed: 1}}}}", spec.name, model)
                                     : fmt::format("{{name: {}, arch: decoder, layers: {}, hidden: {}, heads: {}, "
                                                   "ffn: {}, vocab: {}, max_seq: {}, weights: {{seed: 1}}}}",
                                                   spec.name, spec.layers, spec.hidden, spec.heads, spec.ffn,
                                                   spec.vocab, spec.max_seq);
  return fmt::format(R"(nodes:
  - name: bench
    address: 127.0.0.1:0
    devices: {{kind: cpu, count: 1, memory: 8GiB}}
models:
  - {}
placement:
  groups:
    - {{name: g0, devices: [0], tensor: 1, pipeline: 1, models: [{}]}}
policies:
  admission: none
  batching: none
runtime: {{request_timeout_ms: 600000, gen_max_seqs: {}, gen_token_budget: {}}}
ingress: {{bind: 127.0.0.1, msgpack_port: 0, http_port: 0}}
metrics: {{bind: 127.0.0.1, port: 0}}
controller: {{address: 127.0.0.1:0}}
)",
                     m, spec.name, max_seqs, token_budget);
}

int connect_local(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (fd >= 0)
      ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/// Sends `batch` streamed generations at once over one msgpack connection and waits for every final answer;
/// TTFT and TPOT from the client's receive times of the token frames.
result<row> runtime_run(std::uint16_t port, const std::string& model, int batch, int prompt, int new_tokens,
                        std::int64_t vocab, std::uint64_t first_id) {
  int fd = connect_local(port);
  if (fd < 0)
    return make_error("bench", fmt::format("cannot connect to the msgpack ingress at 127.0.0.1:{}: {}", port,
                                           std::strerror(errno)));
  using clock = std::chrono::steady_clock;
  std::vector<char> out;
  for (int s = 0; s < batch; ++s) {
    actors::wire_generate w;
    w.id = first_id + static_cast<std::uint64_t>(s);
    w.model = model;
    w.tokens = bench_prompt(s, prompt, vocab);
    w.max_new_tokens = new_tokens;
    w.ignore_eos = true;
    w.stream = true;
    actors::encode_generate(w, out);
  }
  const auto t0 = clock::now();
  for (std::size_t off = 0; off < out.size();) {
    auto k = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (k <= 0) {
      ::close(fd);
      return make_error("bench", "the ingress closed the connection while the requests were sent");
    }
    off += static_cast<std::size_t>(k);
  }
  std::vector<std::vector<double>> times(static_cast<std::size_t>(batch)); // seconds from t0 per token frame
  std::vector<std::string> status(static_cast<std::size_t>(batch));
  int finals = 0;
  std::string failure;
  actors::frame_decoder dec(64u << 20);
  std::vector<char> buf(1 << 16);
  double last = 0;
  while (finals < batch) {
    auto k = ::recv(fd, buf.data(), buf.size(), 0);
    if (k <= 0) {
      failure = "the ingress closed the connection before every answer";
      break;
    }
    const double at = std::chrono::duration<double>(clock::now() - t0).count();
    dec.feed(buf.data(), static_cast<std::size_t>(k));
    for (auto ev = dec.next(); ev.kind == actors::frame_decoder::event::frame; ev = dec.next()) {
      auto f = actors::decode_generate_frame(ev.body);
      if (!f) {
        failure = f.err().to_string();
        continue;
      }
      if (auto* t = std::get_if<actors::wire_token>(&*f)) {
        auto i = t->id - first_id;
        if (i < times.size())
          times[i].push_back(at);
      } else {
        auto& a = std::get<actors::wire_generate_response>(*f);
        auto i = a.id - first_id;
        if (i < status.size() && status[i].empty()) {
          status[i] = a.status;
          ++finals;
          last = at;
          if (a.status != "ok" && failure.empty())
            failure = fmt::format("request {}: {} ({})", a.id, a.status, a.reason);
        }
      }
    }
  }
  ::close(fd);
  if (!failure.empty())
    return make_error("bench", failure);
  std::vector<double> ttft, tpot;
  std::size_t tokens = 0;
  for (auto& t : times) {
    tokens += t.size();
    if (t.empty())
      continue;
    ttft.push_back(t.front() * 1e3);
    if (t.size() > 1)
      tpot.push_back((t.back() - t.front()) * 1e3 / static_cast<double>(t.size() - 1));
  }
  return row{last > 0 ? static_cast<double>(tokens) / last : 0, pct(ttft, 0.5), pct(ttft, 0.99), pct(tpot, 0.5),
             pct(tpot, 0.99)};
}

/// The runtime rows: starts the local cluster, warms each concurrency up (2 new tokens), then measures it.
result<std::map<int, row>> runtime_rows(const bench_generate_options& o, const gpu::model_spec& spec,
                                        const std::vector<int>& batches, int threads) {
  const int max_seqs = *std::max_element(batches.begin(), batches.end());
  auto cfg = config::parse_config(runtime_config(spec, o.model, max_seqs, o.token_budget), "<bench generate>");
  if (!cfg)
    return cfg.err();
  ::setenv("OPENBLAS_NUM_THREADS", std::to_string(threads).c_str(), 1); // the node's cpu backend reads it
  serve_overrides ov;
  ov.any_ports = true;
  ov.ready_timeout = std::chrono::milliseconds(120000);
  auto service = start_local_service(*cfg, ov);
  if (!service)
    return service.err();
  const auto port = (*service)->ports().msgpack;
  std::map<int, row> rows;
  std::uint64_t id = 1;
  for (int batch : batches) {
    auto warm = runtime_run(port, spec.name, batch, o.prompt, 2, spec.vocab, id);
    id += static_cast<std::uint64_t>(batch);
    if (!warm) {
      (*service)->drain_and_stop(std::chrono::seconds(30));
      return warm.err();
    }
    auto r = runtime_run(port, spec.name, batch, o.prompt, o.new_tokens, spec.vocab, id);
    id += static_cast<std::uint64_t>(batch);
    if (!r) {
      (*service)->drain_and_stop(std::chrono::seconds(30));
      return r.err();
    }
    rows[batch] = *r;
  }
  (*service)->drain_and_stop(std::chrono::seconds(30));
  return rows;
}

/// The engine rows: gpu::generate on a pipeline of its own (freed before the runtime starts).
result<std::map<int, row>> engine_rows(const bench_generate_options& o, const gpu::model_spec& spec,
                                       const gpu::weight_set& w, const std::vector<int>& batches, int threads) {
  gpu::backend_options bo;
  bo.kind = gpu::backend_kind::cpu;
  bo.devices = 1;
  bo.cpu_threads = threads;
  bo.budget_bytes = std::size_t{16} << 30;
  auto b = gpu::open_devices(bo);
  if (!b)
    return b.err();
  auto p = gpu::pipeline::create(**b, spec, gpu::even_layout(spec, 1, 1).value(), w);
  if (!p)
    return p.err();
  if (auto st = (*p)->load(); !st)
    return st.err();
  std::map<int, row> rows;
  for (int batch : batches) {
    std::vector<gpu::generation_request> reqs(static_cast<std::size_t>(batch));
    for (int s = 0; s < batch; ++s) {
      reqs[static_cast<std::size_t>(s)].prompt = bench_prompt(s, o.prompt, spec.vocab);
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
      if (auto r = gpu::generate(**p, warm, go); !r)
        return r.err();
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto out = gpu::generate(**p, reqs, go);
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!out)
      return out.err();
    std::vector<double> ttft, tpot;
    std::size_t tokens = 0;
    for (const auto& r : *out) {
      tokens += r.tokens.size();
      ttft.push_back(r.token_times.front().count() * 1e3);
      if (r.token_times.size() > 1)
        tpot.push_back((r.token_times.back() - r.token_times.front()).count() * 1e3 /
                       static_cast<double>(r.token_times.size() - 1));
    }
    rows[batch] = row{static_cast<double>(tokens) / total, pct(ttft, 0.5), pct(ttft, 0.99), pct(tpot, 0.5),
                      pct(tpot, 0.99)};
  }
  return rows;
}

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
  std::printf("model %s (%lld params, fp32, cpu backend), prompt %d, %d new tokens, threads %d, token budget %d\n",
              spec->name.c_str(), static_cast<long long>(spec->total_params()), o.prompt, o.new_tokens, threads,
              o.token_budget);
  auto engine = engine_rows(o, *spec, *w, *batches, threads);
  if (!engine) {
    log->error("{}", engine.err().to_string());
    return 1;
  }
  std::map<int, row> runtime;
  if (o.runtime) {
    auto r = runtime_rows(o, *spec, *batches, threads);
    if (!r) {
      log->error("runtime: {}", r.err().to_string());
      return 1;
    }
    runtime = std::move(*r);
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
  std::printf("runtime: an in-process cluster (one group, one cpu device), streamed over the msgpack ingress; TTFT "
              "and TPOT from the client's token frames\nengine: gpu::generate, the engine-level continuous batching "
              "loop without the actors\n");
  std::printf("%6s %-8s| %10s %10s %10s %10s %10s | %10s %10s %10s | %9s %9s\n", "seqs", "path", "tok/s", "TTFT p50",
              "TTFT p99", "TPOT p50", "TPOT p99", "hf tok/s", "hf TTFT", "hf TPOT", "tok/s x", "TPOT x");
  auto print_row = [&](int batch, const char* path, const row& r) {
    std::printf("%6d %-8s| %10.1f %8.1fms %8.1fms %8.1fms %8.1fms |", batch, path, r.tps, r.ttft50, r.ttft99, r.tpot50,
                r.tpot99);
    if (torch.count(batch)) {
      const auto& t = torch[batch];
      std::printf(" %10.1f %8.1fms %8.1fms | %8.2fx %8.2fx\n", t.tps, t.ttft, t.tpot, r.tps / t.tps, r.tpot50 / t.tpot);
    } else {
      std::printf(" %10s %10s %10s | %9s %9s\n", "-", "-", "-", "-", "-");
    }
  };
  for (int batch : *batches) {
    if (runtime.count(batch))
      print_row(batch, "runtime", runtime[batch]);
    print_row(batch, "engine", (*engine)[batch]);
  }
  std::printf("tok/s x: switchyard / transformers throughput; TPOT x: switchyard p50 / transformers TPOT (lower is better)\n");
  return 0;
}

} // namespace

void add_bench_generate_command(CLI::App& bench, int& rc) {
  auto o = std::make_shared<bench_generate_options>();
  auto* c = bench.add_subcommand("generate", "generation tokens/s, TTFT, TPOT through the runtime and the cpu engine vs transformers");
  c->add_option("--model", o->model, "preset or spec.yaml")->capture_default_str();
  c->add_option("--prompt", o->prompt, "prompt tokens per sequence")->capture_default_str();
  c->add_option("--new-tokens", o->new_tokens, "new tokens per sequence")->capture_default_str();
  c->add_option("--batches", o->batches, "concurrent sequences")->capture_default_str();
  c->add_option("--threads", o->threads, "threads for OpenBLAS and torch (0 = all cores)");
  c->add_option("--token-budget", o->token_budget, "new tokens per step")->capture_default_str();
  c->add_flag("!--no-torch", o->torch, "skip transformers");
  c->add_flag("!--no-runtime", o->runtime, "skip the rows through the runtime (actors, msgpack ingress)");
  c->add_option("--python", o->python, "python with transformers")->capture_default_str();
  c->callback([o, &rc] { rc = run_bench_generate(*o); });
}

} // namespace sy::apps
