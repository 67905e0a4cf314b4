#!/usr/bin/python3
"""Writes a pickle shaped like AlpaServe's profiling database (module alpa_serve.profiling), with the
single-V100 BERT test profiles AlpaServe publishes, for the converter test."""
import collections
import dataclasses
import pickle
import sys
import types
from typing import Dict, List

mod = types.ModuleType("alpa_serve.profiling")
pkg = types.ModuleType("alpa_serve")
pkg.profiling = mod
sys.modules["alpa_serve"] = pkg
sys.modules["alpa_serve.profiling"] = mod

ParallelConfig = collections.namedtuple("ParallelConfig", ("dp", "op", "pp"))
ParallelConfig.__module__ = "alpa_serve.profiling"
mod.ParallelConfig = ParallelConfig


@dataclasses.dataclass
class LatencyMemData:
    latency: Dict
    act_mem: Dict
    weight_mem: List


@dataclasses.dataclass
class ProfilingResult:
    model_name: str
    para_dict: Dict
    preprocess_cpu: float
    postprocess_cpu: float


for c in (LatencyMemData, ProfilingResult):
    c.__module__ = "alpa_serve.profiling"
    setattr(mod, c.__name__, c)

GB = 1 << 30
res = ProfilingResult("bert-1.3b", {
    ParallelConfig(1, 1, 1): LatencyMemData({1: [0.099], 2: [0.19]}, {1: ["TODO"], 2: ["TODO"]}, [2.6 * GB]),
    ParallelConfig(1, 1, 2): LatencyMemData({1: [0.051, 0.052]}, {1: [1e6, 1e6]}, [1.3 * GB, 1.3 * GB]),
    ParallelConfig(2, 1, 1): LatencyMemData({1: [0.099]}, {1: [0]}, [2.6 * GB]),
}, 0.0, 0.0)
with open(sys.argv[1], "wb") as f:
    pickle.dump({"bert-1.3b": res}, f)
