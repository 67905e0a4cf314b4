#!/usr/bin/python3
"""Cross-check of the compat simulator against an independent numpy re-statement of AlpaServe's
simulate_requests_mixed (float32 stage latencies with the 0.009 pp penalty, float32 SLOs, float64 clocks,
earliest-free last stage with ties to the lowest group, +0.011 s, admission drop).

Random cases: profile JSON + trace CSV + plan YAML -> `switchyard simulate --records`, compared request by
request (status and finish time, exactly). Prints the number of mismatches; exit code 1 on any.

usage: /usr/bin/python3 scripts/experiments/crosscheck_compat.py [--cases 20]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import binary  # noqa: E402

CONFIGS = [(1, 1), (1, 2), (2, 1), (1, 4), (2, 2)]


def reference(arrivals, model_ids, slos, groups, lat):
    """groups: list of (pp, [models]); lat[(m, g)] = float32 array of stage latencies (penalty applied)."""
    n_groups = len(groups)
    m2g = {}
    for g, (_, ms) in enumerate(groups):
        for m in ms:
            m2g.setdefault(m, []).append(g)
    max_pp = max(pp for pp, _ in groups)
    clocks = np.zeros((n_groups, max_pp), dtype=np.float64)
    finish = np.empty(len(arrivals), dtype=np.float64)
    good = np.zeros(len(arrivals), dtype=bool)
    tmp = np.zeros(max_pp, dtype=np.float64)
    for i in range(len(arrivals)):
        t0, m, slo = arrivals[i], model_ids[i], slos[i]
        g_id, best = -1, 1e20
        for g in m2g.get(m, []):
            c = clocks[g][groups[g][0] - 1]
            if c < best:
                best, g_id = c, g
        if g_id < 0:
            finish[i] = t0
            continue
        t = t0
        for k in range(groups[g_id][0]):
            t = max(t, clocks[g_id][k]) + lat[(m, g_id)][k]
            tmp[k] = t
        f = t + 0.011
        if f - t0 <= slo:
            finish[i] = f
            good[i] = True
            clocks[g_id][: groups[g_id][0]] = tmp[: groups[g_id][0]]
        else:
            finish[i] = t0
    return finish, good


def one_case(seed, exe, tmp):
    rng = np.random.default_rng(seed)
    n_models = int(rng.integers(2, 7))
    names = [f"m{i}" for i in range(n_models)]
    prof = {"format": "switchyard-profile", "version": 1, "batch_sizes": [1, 2, 4, 8, 16], "entries": []}
    base = {}
    for m in range(n_models):
        single = float(rng.uniform(0.02, 0.2))
        for op, pp in CONFIGS:
            per = [single / (op * pp) * float(rng.uniform(0.9, 1.3)) for _ in range(pp)]
            if (op, pp) == (1, 1):
                per = [single]
            base[(m, op, pp)] = per
            prof["entries"].append({
                "model": names[m], "op": op, "pp": pp,
                "stage_latency": [[x * b for x in per] for b in (1, 1.5, 2, 3, 5)],
                "weight_bytes": [1000] * pp, "act_bytes": [[0] * pp for _ in range(5)],
                "load_seconds": [0.0] * pp})
    groups = []
    for _ in range(int(rng.integers(1, 5))):
        op, pp = CONFIGS[int(rng.integers(0, len(CONFIGS)))]
        ms = sorted(set(int(x) for x in rng.integers(0, n_models, size=int(rng.integers(1, n_models + 1)))))
        groups.append((op, pp, ms))
    n = int(rng.integers(200, 2000))
    arrivals = np.cumsum(rng.exponential(1 / float(rng.uniform(5, 60)), size=n))
    model_ids = rng.integers(0, n_models, size=n)
    slo_scale = float(rng.uniform(1.5, 8))
    slos = np.array([slo_scale * sum(base[(int(m), 1, 1)]) for m in model_ids], dtype=np.float32)
    lat = {}
    for g, (op, pp, ms) in enumerate(groups):
        for m in ms:
            lat[(m, g)] = np.array([x * (1 + 0.009 * pp) for x in base[(m, op, pp)]], dtype=np.float32)
    ref_finish, ref_good = reference(arrivals, model_ids, slos, [(pp, ms) for _, pp, ms in groups], lat)

    pf, tf, plf, rf = (os.path.join(tmp, x) for x in ("prof.json", "trace.csv", "plan.yaml", "rec.csv"))
    with open(pf, "w") as f:
        json.dump(prof, f)
    with open(tf, "w") as f:
        f.write("arrival_s,model,input_tokens\n")
        for a, m in zip(arrivals, model_ids):
            f.write(f"{a!r},{names[int(m)]},1\n")
    with open(plf, "w") as f:
        f.write("models: [" + ", ".join(names) + "]\ngroups:\n")
        for op, pp, ms in groups:
            f.write(f"  - {{op: {op}, pp: {pp}, models: [" + ", ".join(names[m] for m in ms) + "]}\n")
    subprocess.run([exe, "--log-level", "warn", "simulate", "--profile", pf, "--trace", tf, "--plan", plf,
                    "--slo-scale", repr(slo_scale), "--records", rf], check=True, stdout=subprocess.DEVNULL)
    bad = 0
    one_case.rejected = getattr(one_case, "rejected", 0) + int((~ref_good).sum())
    with open(rf) as f:
        for i, row in enumerate(csv.DictReader(f)):
            ok = row["status"] == "ok"
            if ok != ref_good[i] or (ok and abs(float(row["finish"]) - ref_finish[i]) > 5e-9):
                bad += 1
    return n, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20)
    a = ap.parse_args()
    exe = binary()
    total = mism = 0
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(a.cases):
            n, bad = one_case(s, exe, tmp)
            total += n
            mism += bad
    print(f"{a.cases} cases, {total} requests ({one_case.rejected} not served in the reference), {mism} mismatches")
    sys.exit(1 if mism else 0)


if __name__ == "__main__":
    main()
