#pragma once
// The subcommands of the `switchyard` executable. main.cpp (the only file that includes CLI11, which is
// slow to compile) parses the command line into these option structs and calls run_*; each run_* returns
// the process exit code and logs its own errors.
#include <string>

namespace sy::apps {

struct presets_options {};
int run_presets(const presets_options&);

// --- engine (gpu/) commands: apps/run_model_cmd.cpp, init_weights_cmd.cpp, bench_engine_cmd.cpp ---
struct run_model_options {
  std::string model;          // preset name or spec.yaml path
  std::string weights;        // safetensors file; empty = generate from seed
  long long seed = 0;
  int tp = 1, pp = 1;
  std::string backend = "auto";
  std::string tokens;         // "1,2,3": batch sequences of equal length, concatenated
  int batch = 1;
  std::string output;         // .npy path; empty = print
  long long budget_mib = 0;   // per-device budget, 0 = backend default
  int threads = 0;            // cpu backend: OpenBLAS threads, 0 = auto
};
int run_run_model(const run_model_options&);

struct init_weights_options {
  std::string model;
  long long seed = 0;
  std::string output;
  std::string dtype = "f32";
};
int run_init_weights(const init_weights_options&);

struct bench_engine_options {
  std::string model = "gpt-100m";
  int seq = 128;
  std::string batches = "1,4,16";
  int threads = 0;            // 0 = hardware threads; used for both OpenBLAS and torch
  int reps = 3;
  bool torch = true;          // also run PyTorch CPU on the same weights
  std::string python = "/usr/bin/python3";
};
int run_bench_engine(const bench_engine_options&);

} // namespace sy::apps
