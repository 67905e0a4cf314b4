#!/usr/bin/python3
"""Writes a pickle shaped like AlpaServe's profiling database (module alpa_serve.profiling), with the
single-V100 BERT test profiles AlpaServe publishes, for the converter test.

usage: alpaserve_profile_fixture.py OUT.pkl [current|old|old-no-weight|empty]
  current: ProfilingResult.para_dict of LatencyMemData (today's layout)
  old: mms commit a82bdb1's layout (stage_latency dict, scalar weight_mem in GB)
  old-no-weight: the old layout with weight_mem None (cannot be converted)
  empty: an empty database"""
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


layout = sys.argv[2] if len(sys.argv) > 2 else "current"

if layout == "current":
    @dataclasses.dataclass
    class ProfilingResult:
        model_name: str
        para_dict: Dict
        preprocess_cpu: float
        postprocess_cpu: float
else:
    @dataclasses.dataclass
    class ProfilingResult:  # mms a82bdb1
        model_name: str
        stage_latency: Dict
        preprocess_cpu: float
        postprocess_cpu: float
        act_mem: object
        weight_mem: object


for c in (LatencyMemData, ProfilingResult):
    c.__module__ = "alpa_serve.profiling"
    setattr(mod, c.__name__, c)

GB = 1 << 30
if layout == "current":
    db = {"bert-1.3b": ProfilingResult("bert-1.3b", {
        ParallelConfig(1, 1, 1): LatencyMemData({1: [0.099], 2: [0.19]}, {1: ["TODO"], 2: ["TODO"]}, [2.6 * GB]),
        ParallelConfig(1, 1, 2): LatencyMemData({1: [0.051, 0.052]}, {1: [1e6, 1e6]}, [1.3 * GB, 1.3 * GB]),
        ParallelConfig(2, 1, 1): LatencyMemData({1: [0.099]}, {1: [0]}, [2.6 * GB]),
    }, 0.0, 0.0)}
elif layout in ("old", "old-no-weight"):
    db = {"alpa/bert-1.3b": ProfilingResult("alpa/bert-1.3b", {
        ParallelConfig(1, 1, 1): {1: [0.099], 2: [0.19]},
        ParallelConfig(1, 1, 2): {1: [0.051, 0.052]},
        ParallelConfig(2, 1, 1): {1: [0.099]},
    }, 0, 0, None, 2.6 if layout == "old" else None)}
elif layout == "empty":
    db = {}
else:
    sys.exit(f"unknown layout {layout!r}")
with open(sys.argv[1], "wb") as f:
    pickle.dump(db, f)
