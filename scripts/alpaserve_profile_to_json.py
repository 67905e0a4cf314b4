#!/usr/bin/python3
"""Convert AlpaServe's profiling database (a pickle of Dict[model_name -> ProfilingResult], as written by
alpa_serve/profiling.py, e.g. profiling_result.pkl) into switchyard's profile JSON (README "Profile
database format"), so that compat runs use AlpaServe's measured numbers.

AlpaServe's classes are not needed: the pickle is read with stand-ins for alpa_serve.profiling's
ParallelConfig (dp, op, pp), LatencyMemData (latency, act_mem, weight_mem) and ProfilingResult.
Only dp == 1 configs are kept (replication is the placement's job). Batch sizes are kept as the longest
prefix of 1,2,4,8,16 that was profiled. Non-numeric activation sizes ("TODO") become 0. load_seconds is
weight / (--pcie-gbps) when given, else 0 (not measured).

usage: alpaserve_profile_to_json.py profiling_result.pkl out.json [--pcie-gbps 12.8] [--strip-prefix alpa/]
"""
import argparse
import collections
import json
import pickle
import sys

BATCH_SIZES = [1, 2, 4, 8, 16]
ParallelConfig = collections.namedtuple("ParallelConfig", ("dp", "op", "pp"))


class _Record:
    """Stand-in for AlpaServe's dataclasses: keeps whatever state the pickle restores."""

    def __init__(self, *args, **kwargs):
        self.__dict__.update(kwargs)

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {})


class LatencyMemData(_Record):
    pass


class ProfilingResult(_Record):
    pass


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("alpa_serve"):
            if name == "ParallelConfig":
                return ParallelConfig
            if name == "LatencyMemData":
                return LatencyMemData
            if name == "ProfilingResult":
                return ProfilingResult
            return _Record
        return super().find_class(module, name)


def _number(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if v >= 0 else 0.0


def convert(results, pcie_gbps=0.0, strip_prefix=""):
    entries = []
    for key, res in sorted(results.items(), key=lambda kv: str(kv[0])):
        name = getattr(res, "model_name", key) or key
        if strip_prefix and name.startswith(strip_prefix):
            name = name[len(strip_prefix):]
        para = getattr(res, "para_dict", None)
        if para is None:
            print(f"skipping {key}: no para_dict (old profiling format)", file=sys.stderr)
            continue
        for cfg, data in sorted(para.items(), key=lambda kv: tuple(kv[0])):
            dp, op, pp = (int(v) for v in tuple(cfg))
            if dp != 1:
                continue
            lat_rows, act_rows = [], []
            for bs in BATCH_SIZES:
                lat = data.latency.get(bs)
                if lat is None or len(lat) != pp:
                    break
                lat_rows.append([_number(x) for x in lat])
                act = data.act_mem.get(bs, [0] * pp) if isinstance(data.act_mem, dict) else [0] * pp
                act_rows.append([int(_number(x)) for x in (act if len(act) == pp else [0] * pp)])
            if not lat_rows:
                print(f"skipping {name} (op {op}, pp {pp}): no batch-1 latency", file=sys.stderr)
                continue
            weights = [int(_number(x)) for x in data.weight_mem]
            if len(weights) != pp:
                print(f"skipping {name} (op {op}, pp {pp}): {len(weights)} weight sizes", file=sys.stderr)
                continue
            load = [w / (pcie_gbps * 1e9) if pcie_gbps > 0 else 0.0 for w in weights]
            entries.append({"model": name, "op": op, "pp": pp, "stage_latency": lat_rows,
                            "weight_bytes": weights, "act_bytes": act_rows, "load_seconds": load})
    return {"format": "switchyard-profile", "version": 1, "batch_sizes": BATCH_SIZES, "entries": entries}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pickle")
    ap.add_argument("output")
    ap.add_argument("--pcie-gbps", type=float, default=0.0, help="host->device GB/s for load_seconds")
    ap.add_argument("--strip-prefix", default="", help="remove this prefix from model names")
    a = ap.parse_args()
    with open(a.pickle, "rb") as f:
        results = _Unpickler(f).load()
    doc = convert(results, a.pcie_gbps, a.strip_prefix)
    with open(a.output, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"{len(doc['entries'])} entries -> {a.output}")


if __name__ == "__main__":
    main()
