#pragma once
// Workloads: a trace is a list of requests sorted by arrival. One implementation shared by the simulator
// (`switchyard simulate`, the placement search) and the replay driver (`switchyard replay`).
// Formats (ALGORITHMS.md §7): native CSV `arrival_s,model,input_tokens[,slo_ms]`, synthetic (Poisson,
// Gamma(rate, CV), power-law popularity, seed), Azure Functions 2019 / 2021, Azure LLM inference 2023/2024.
#include <cstdint>
#include <string>
#include <vector>

#include "messages/result.hpp"

namespace sy::sim {

struct trace_request {
  double arrival_s = 0;   // seconds from the trace start
  int model = 0;          // index into trace::models
  int input_tokens = 1;
  double slo_s = 0;       // 0: the model's default SLO
};

struct trace {
  std::vector<std::string> models;     // index -> model name
  std::vector<trace_request> requests; // sorted by arrival_s
};

} // namespace sy::sim
