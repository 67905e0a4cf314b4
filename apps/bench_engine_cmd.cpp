// switchyard bench engine: forward latency of the cpu backend (one device, the whole model, fp32) against
// PyTorch CPU (tests/reference/torch_reference.py) on the same model and weights, same thread count, and
// the host->device bandwidth of a shard load. On a Hugging Face folder (--model DIR): transformers on PyTorch CPU
// on the same folder (tests/reference/hf_models.py bench), and the checkpoint load from the files into
// resident pinned shards (GB/s of the files' size) beside the safetensors package's own load_file.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <memory>

#include <CLI/CLI.hpp>

#include "apps/commands.hpp"
#include "apps/model_arg.hpp"
#include "gpu/hf_checkpoint.hpp"
#include "gpu/pipeline.hpp"
#include "messages/logging.hpp"

#ifndef SY_SOURCE_DIR
#define SY_SOURCE_DIR "."
#endif

namespace sy::apps {

namespace {
std::vector<int> parse_list(const std::string& s) {
  std::vector<int> r;
  std::stringstream ss{s};
  std::string item;
  while (std::getline(ss, item, ','))
    r.push_back(std::atoi(item.c_str()));
  return r;
}
} // namespace

int run_bench_engine(const bench_engine_options& o) {
  auto log = logger("engine");
  auto spec = load_model_arg(o.model);
  if (!spec) {
    log->error("{}", spec.err().to_string());
    return 2;
  }
  auto batches = parse_list(o.batches);
  if (batches.empty() || std::any_of(batches.begin(), batches.end(), [](int b) { return b <= 0; }) || o.seq <= 0 ||
      o.seq > spec->max_seq || o.reps <= 0) {
    log->error("bad --batches '{}', --seq {} (max_seq {}) or --reps {}", o.batches, o.seq, spec->max_seq, o.reps);
    return 2;
  }
  int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const bool hf = gpu::is_hf_folder(o.model);
  // transformers and safetensors live in the project's .venv (scripts/setup.sh), not in Debian's python3.
  const std::string venv = SY_SOURCE_DIR "/.venv/bin/python";
  const std::string python = hf && o.python == "/usr/bin/python3" && ::access(venv.c_str(), X_OK) == 0 ? venv : o.python;
  auto w = hf ? result<gpu::weight_set>{gpu::weight_set{}} : gpu::generate_weights(*spec, 1);
  if (!w) {
    log->error("{}", w.err().to_string());
    return 1;
  }
  auto t_open = std::chrono::steady_clock::now();
  std::optional<gpu::hf_checkpoint> ck;
  if (hf) {
    auto c = gpu::open_hf_checkpoint(o.model, spec->type);
    if (!c) {
      log->error("{}", c.err().to_string());
      return 1;
    }
    ck = std::move(*c);
  }
  const double open_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_open).count();
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
  auto t_build = std::chrono::steady_clock::now(); // the devices are opened: time only the shard building
  auto p = ck ? gpu::pipeline::create(**b, *spec, gpu::even_layout(*spec, 1, 1).value(), *ck->source)
              : gpu::pipeline::create(**b, *spec, gpu::even_layout(*spec, 1, 1).value(), *w);
  if (!p) {
    log->error("{}", p.err().to_string());
    return 1;
  }
  const double load_s =
    open_s + std::chrono::duration<double>(std::chrono::steady_clock::now() - t_build).count();
  if (auto st = (*p)->load(); !st) {
    log->error("{}", st.err().to_string());
    return 1;
  }
  double gbps = static_cast<double>((*p)->shard_bytes()) / (*p)->last_load_seconds() / 1e9;
  std::printf("model %s (%lld params, %s), seq %d, threads %d (OpenBLAS and torch)\n", spec->name.c_str(),
              static_cast<long long>(spec->total_params()), std::string{gpu::to_string(spec->type)}.c_str(), o.seq,
              threads);
  if (ck) {
    std::printf("checkpoint load %s -> resident pinned shards (open, map, check, convert/transposes): %.1f MB of "
                "files in %.1f ms = %.2f GB/s\n",
                o.model.c_str(), static_cast<double>(ck->file_bytes) / 1e6, load_s * 1e3,
                static_cast<double>(ck->file_bytes) / load_s / 1e9);
    std::string files;
    for (const auto& f : ck->files)
      files += " " + f;
    std::string cmd = python + " " SY_SOURCE_DIR "/tests/reference/hf_models.py loadbench" + files;
    FILE* f = ::popen(cmd.c_str(), "r");
    char line[512];
    double py_s = -1;
    while (f && std::fgets(line, sizeof line, f))
      (void)std::sscanf(line, "safetensors load_file s %lf", &py_s);
    if (f)
      ::pclose(f);
    if (py_s > 0)
      std::printf("safetensors (Python) load_file of the same files -> torch tensors: %.1f ms = %.2f GB/s "
                  "(ratio switchyard / safetensors time %.2fx)\n",
                  py_s * 1e3, static_cast<double>(ck->file_bytes) / py_s / 1e9, load_s / py_s);
    else
      log->warn("the safetensors load benchmark failed: {}", cmd);
  }
  std::printf("shard load host->device (cpu backend, memcpy in 4 MiB chunks, fresh device pages): %.1f MB in %.1f ms = %.2f GB/s\n",
              static_cast<double>((*p)->shard_bytes()) / 1e6, (*p)->last_load_seconds() * 1e3, gbps);

  { // The same copies into device memory whose pages are already mapped (a second load into a reused pool).
    gpu::device& d = (*b)->dev(0);
    std::size_t bytes = std::size_t{256} << 20;
    auto host = (*b)->allocate_pinned(bytes);
    auto dev = d.allocate(bytes);
    if (host && dev) {
      std::memset(host->data(), 1, bytes);
      double best = 1e30;
      for (int i = 0; i < 3; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        for (std::size_t off = 0; off < bytes; off += std::size_t{4} << 20)
          (void)d.copy_to_device(dev->as<std::byte>() + off, host->data() + off, std::size_t{4} << 20,
                                 d.copy_stream());
        (void)d.synchronize(d.copy_stream());
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (i > 0) // the first pass maps the pages
          best = std::min(best, s);
      }
      std::printf("host->device copy into mapped device memory (4 MiB chunks, 256 MiB): %.2f GB/s\n",
                  static_cast<double>(bytes) / best / 1e9);
      d.free(*dev);
    }
  }

  std::map<int, double> ours;
  for (int batch : batches) {
    std::vector<std::int32_t> tokens;
    for (int i = 0; i < batch * o.seq; ++i)
      tokens.push_back(static_cast<std::int32_t>((static_cast<long long>(i) * 7919 + 13) % spec->vocab));
    for (int warm = 0; warm < 2; ++warm) // warm-up, as in torch_reference.py bench
      if (auto r = (*p)->run(tokens, batch); !r) {
        log->error("{}", r.err().to_string());
        return 1;
      }
    std::vector<double> t;
    for (int i = 0; i < o.reps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto r = (*p)->run(tokens, batch);
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!r)
        return 1;
    }
    std::sort(t.begin(), t.end());
    ours[batch] = t[t.size() / 2];
  }

  std::map<int, double> torch;
  if (o.torch && ck) { // transformers on PyTorch CPU, same folder
    std::string cmd = python + " " SY_SOURCE_DIR "/tests/reference/hf_models.py bench --dir " + o.model +
                      " --seq " + std::to_string(o.seq) + " --batches " + o.batches + " --threads " +
                      std::to_string(threads) + " --reps " + std::to_string(o.reps);
    FILE* f = ::popen(cmd.c_str(), "r");
    char line[512];
    while (f && std::fgets(line, sizeof line, f)) {
      int bb = 0, ss = 0;
      double ms = 0;
      if (std::sscanf(line, "batch %d seq %d ms %lf", &bb, &ss, &ms) == 3)
        torch[bb] = ms;
    }
    if (int rc = f ? ::pclose(f) : -1; rc != 0)
      log->warn("transformers failed (exit {}): {}", rc, cmd);
  } else if (o.torch) {
    char path[] = "/tmp/sy_bench_engine_XXXXXX";
    int fd = ::mkstemp(path);
    if (fd < 0) {
      log->error("cannot create a temporary file for the weights");
      return 1;
    }
    ::close(fd);
    std::string weights = std::string{path};
    if (auto st = gpu::write_safetensors(weights, *w, gpu::dtype::f32); !st) {
      log->error("{}", st.err().to_string());
      return 1;
    }
    std::string cmd = o.python + " " SY_SOURCE_DIR "/tests/reference/torch_reference.py bench --weights " + weights +
                      " --arch " + std::string{gpu::to_string(spec->kind)} + " --layers " +
                      std::to_string(spec->layers) + " --hidden " + std::to_string(spec->hidden) + " --heads " +
                      std::to_string(spec->heads) + " --ffn " + std::to_string(spec->ffn) + " --vocab " +
                      std::to_string(spec->vocab) + " --max-seq " + std::to_string(spec->max_seq) + " --seq " +
                      std::to_string(o.seq) + " --batches " + o.batches + " --threads " + std::to_string(threads) +
                      " --reps " + std::to_string(o.reps);
    FILE* f = ::popen(cmd.c_str(), "r");
    char line[512];
    while (f && std::fgets(line, sizeof line, f)) {
      int bb = 0, ss = 0;
      double ms = 0;
      if (std::sscanf(line, "batch %d seq %d ms %lf", &bb, &ss, &ms) == 3)
        torch[bb] = ms;
    }
    int rc = f ? ::pclose(f) : -1;
    std::remove(weights.c_str());
    if (rc != 0)
      log->warn("the PyTorch reference failed (exit {}): {}", rc, cmd);
  }
  std::printf("%6s %14s %16s %10s\n", "batch", "switchyard ms", ck ? "transformers ms" : "torch ms", "ratio");
  for (int batch : batches) {
    if (torch.count(batch))
      std::printf("%6d %14.1f %16.1f %9.2fx\n", batch, ours[batch], torch[batch], ours[batch] / torch[batch]);
    else
      std::printf("%6d %14.1f %16s %10s\n", batch, ours[batch], "-", "-");
  }
  return 0;
}

void add_bench_engine_command(CLI::App& bench, int& rc) {
  auto o = std::make_shared<bench_engine_options>();
  auto* be_cmd = bench.add_subcommand("engine", "forward latency of the cpu backend vs PyTorch CPU");
  be_cmd->add_option("--model", o->model, "preset or spec.yaml")->capture_default_str();
  be_cmd->add_option("--seq", o->seq, "tokens per sequence")->capture_default_str();
  be_cmd->add_option("--batches", o->batches, "batch sizes")->capture_default_str();
  be_cmd->add_option("--threads", o->threads, "threads for OpenBLAS and torch (0 = all cores)");
  be_cmd->add_option("--reps", o->reps, "timed repetitions (median)")->capture_default_str();
  be_cmd->add_flag("!--no-torch", o->torch, "skip the PyTorch comparison");
  be_cmd->add_option("--python", o->python, "python with torch")->capture_default_str();
  be_cmd->callback([o, &rc] { rc = run_bench_engine(*o); });
}

} // namespace sy::apps
