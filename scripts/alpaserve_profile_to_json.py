#!/usr/bin/python3
"""Convert AlpaServe's profiling database (a pickle of Dict[model_name -> ProfilingResult], as written by
alpa_serve/profiling.py, e.g. profiling_result.pkl) into switchyard's profile JSON (README "Profile
database format"), so that compat runs use AlpaServe's measured numbers.

AlpaServe's classes are not needed: the pickle is read with stand-ins for alpa_serve.profiling's
ParallelConfig (dp, op, pp), LatencyMemData (latency, act_mem, weight_mem) and ProfilingResult.
Two layouts are read:
  - current: ProfilingResult.para_dict[config] = LatencyMemData(latency[bs] = [per stage], act_mem[bs],
    weight_mem = [per stage, bytes]);
  - old (mms commit a82bdb1): ProfilingResult.stage_latency[config][bs] = [per stage], act_mem[bs] = scalar or
    None, weight_mem = one scalar for the whole model (GB, as its CSV column "Weights(GB)"; --old-weight-unit B
    for bytes), split evenly over the op * pp GPUs of a config.
Only dp == 1 configs are kept (replication is the placement's job). Batch sizes are kept as the longest
prefix of 1,2,4,8,16 that was profiled. Weight bytes stay floats (AlpaServe's memory rule compares floats).
Non-numeric activation sizes ("TODO") become 0. load_seconds is weight / (--pcie-gbps) when given, else left
out (only the swapping simulator needs it, and refuses entries without it).
A model that cannot be converted is an error naming it and what is missing (exit 1); so is a database that
yields no entry.

usage: alpaserve_profile_to_json.py profiling_result.pkl out.json [--pcie-gbps 12.8] [--strip-prefix alpa/]
                                    [--old-weight-unit GB|B]
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


GB = 1 << 30


class ConvertError(Exception):
    pass


def _rows(name, op, pp, latency, act_of):
    """The longest prefix of BATCH_SIZES with a latency per stage: (latency rows, activation rows)."""
    lat_rows, act_rows = [], []
    for bs in BATCH_SIZES:
        lat = latency.get(bs) if isinstance(latency, dict) else None
        if lat is None or len(lat) != pp:
            break
        lat_rows.append([_number(x) for x in lat])
        act_rows.append(act_of(bs))
    return lat_rows, act_rows


def _entry(name, op, pp, lat_rows, act_rows, weights, pcie_gbps):
    e = {"model": name, "op": op, "pp": pp, "stage_latency": lat_rows, "weight_bytes": weights,
         "act_bytes": act_rows}
    if pcie_gbps > 0:
        e["load_seconds"] = [w / (pcie_gbps * 1e9) for w in weights]
    return e


def _current(name, para, pcie_gbps):
    entries = []
    for cfg, data in sorted(para.items(), key=lambda kv: tuple(kv[0])):
        dp, op, pp = (int(v) for v in tuple(cfg))
        if dp != 1:
            continue

        def act_of(bs, data=data, pp=pp):
            act = data.act_mem.get(bs, [0] * pp) if isinstance(getattr(data, "act_mem", None), dict) else [0] * pp
            return [int(_number(x)) for x in (act if len(act) == pp else [0] * pp)]

        lat_rows, act_rows = _rows(name, op, pp, getattr(data, "latency", None), act_of)
        if not lat_rows:
            print(f"skipping {name} (op {op}, pp {pp}): no batch-1 latency for {pp} stages", file=sys.stderr)
            continue
        weights = [_number(x) for x in getattr(data, "weight_mem", None) or []]
        if len(weights) != pp:
            print(f"skipping {name} (op {op}, pp {pp}): {len(weights)} weight sizes for {pp} stages", file=sys.stderr)
            continue
        entries.append(_entry(name, op, pp, lat_rows, act_rows, weights, pcie_gbps))
    return entries


def _old(name, res, pcie_gbps, weight_unit):
    weight = getattr(res, "weight_mem", None)
    if weight is None or isinstance(weight, (list, tuple, dict)):
        raise ConvertError(f"model '{name}': old layout (stage_latency dict): expected weight_mem to be one "
                           f"number for the whole model, found {weight!r}")
    total = _number(weight) * (GB if weight_unit == "GB" else 1)
    if total <= 0:
        raise ConvertError(f"model '{name}': old layout: expected a positive weight_mem, found {weight!r}")
    act_mem = getattr(res, "act_mem", None)
    entries = []
    for cfg, latency in sorted(res.stage_latency.items(), key=lambda kv: tuple(kv[0])):
        dp, op, pp = (int(v) for v in tuple(cfg))
        if dp != 1:
            continue

        def act_of(bs, op=op, pp=pp):
            a = act_mem.get(bs) if isinstance(act_mem, dict) else None
            return [int(_number(a) / (op * pp)) if a is not None else 0] * pp

        lat_rows, act_rows = _rows(name, op, pp, latency, act_of)
        if not lat_rows:
            print(f"skipping {name} (op {op}, pp {pp}): no batch-1 latency for {pp} stages", file=sys.stderr)
            continue
        entries.append(_entry(name, op, pp, lat_rows, act_rows, [total / (op * pp)] * pp, pcie_gbps))
    return entries


def convert(results, pcie_gbps=0.0, strip_prefix="", weight_unit="GB"):
    if not isinstance(results, dict):
        raise ConvertError(f"expected a dict of model name -> ProfilingResult, found {type(results).__name__}")
    entries = []
    for key, res in sorted(results.items(), key=lambda kv: str(kv[0])):
        name = getattr(res, "model_name", key) or key
        if strip_prefix and name.startswith(strip_prefix):
            name = name[len(strip_prefix):]
        para = getattr(res, "para_dict", None)
        if isinstance(para, dict):
            got = _current(name, para, pcie_gbps)
        elif isinstance(getattr(res, "stage_latency", None), dict):
            got = _old(name, res, pcie_gbps, weight_unit)
        else:
            fields = sorted(vars(res)) if hasattr(res, "__dict__") else type(res).__name__
            raise ConvertError(f"model '{name}': expected a ProfilingResult with para_dict (current layout) or "
                               f"stage_latency (old layout), found {fields}")
        if not got:
            raise ConvertError(f"model '{name}': no dp == 1 config with a batch-1 latency and weights per stage")
        entries.extend(got)
    if not entries:
        raise ConvertError("the database holds no model")
    return {"format": "switchyard-profile", "version": 1, "batch_sizes": BATCH_SIZES, "entries": entries}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pickle")
    ap.add_argument("output")
    ap.add_argument("--pcie-gbps", type=float, default=0.0, help="host->device GB/s for load_seconds")
    ap.add_argument("--strip-prefix", default="", help="remove this prefix from model names")
    ap.add_argument("--old-weight-unit", choices=("GB", "B"), default="GB",
                    help="unit of the old layout's scalar weight_mem (default GB, 1 << 30 bytes)")
    a = ap.parse_args()
    try:
        with open(a.pickle, "rb") as f:
            results = _Unpickler(f).load()
        doc = convert(results, a.pcie_gbps, a.strip_prefix, a.old_weight_unit)
    except (OSError, pickle.UnpicklingError, EOFError, ConvertError) as e:
        print(f"{a.pickle}: {e}", file=sys.stderr)
        return 1
    with open(a.output, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"{len(doc['entries'])} entries -> {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
