#!/usr/bin/python3
"""Black-box (issue 11 §3): a deployment on `kind: sim` devices, whose ops take the profiled time of
their profile, served by the real runtime (`replay -c`, live), against `replay --simulate` of the same trace and
placement. For each simulator mode (compat and swapping with batching none, batching with greedy batching) it
prints attainment, median and p99 side by side and asserts a loose bound: attainment within 0.05, median
within 25% (README reports the measured figures). The live run's outputs are zeros of the right shape.

Usage: sim_backend_e2e.py --bin PATH/switchyard [--requests N] [--rate R]
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_e2e as base  # noqa: E402
from ingress_e2e import check, run  # noqa: E402

# Stage latencies per batch size 1, 2, 4, 8, 16 (seconds), load seconds per stage; weight bytes are small
# (everything fits: no swapping pressure).
PROFILE = {
    "format": "switchyard-profile", "version": 1, "batch_sizes": [1, 2, 4, 8, 16], "device": "sim",
    "entries": [
        {"model": m, "op": 1, "pp": 1, "stage_latency": [[x * f] for f in (1, 1.4, 2.0, 3.2, 5.5)],
         "weight_bytes": [4e6], "load_seconds": [0.03]}
        for m, x in (("tiny-gpt", 0.1), ("tiny-bert", 0.15))
    ] + [
        {"model": m, "op": 1, "pp": 2, "stage_latency": [[x * f / 2, x * f / 2] for f in (1, 1.4, 2.0, 3.2, 5.5)],
         "weight_bytes": [2e6, 2e6], "load_seconds": [0.015, 0.015]}
        for m, x in (("tiny-gpt", 0.1), ("tiny-bert", 0.15))
    ],
}

CONFIG = """nodes:
  - {{name: local, address: 127.0.0.1:0, devices: {{kind: sim, count: 3, memory: 256MiB, profile: prof.json}}}}
models:
  - {{preset: tiny-gpt, weights: {{seed: 1}}, slo_ms: 1500}}
  - {{preset: tiny-bert, weights: {{seed: 2}}, slo_ms: 1500}}
placement:
  groups:
    - {{name: a, devices: [0], models: [tiny-gpt, tiny-bert]}}
    - {{name: b, devices: [1, 2], pipeline: 2, models: [tiny-gpt, tiny-bert]}}
policies:
  batching: {batching}
controller: {{address: 127.0.0.1:0}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--requests", type=int, default=150)
    ap.add_argument("--rate", type=float, default=6.0)
    a = ap.parse_args()
    base.BIN = a.bin
    t0 = time.monotonic()
    rng = random.Random(7)
    results = []
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "prof.json"), "w") as f:
            json.dump(PROFILE, f)
        trace = os.path.join(d, "t.csv")
        t = 0.0
        with open(trace, "w") as f:
            f.write("arrival_s,model,input_tokens\n")
            for i in range(a.requests):
                t += rng.expovariate(a.rate)
                f.write("%.6f,%s,8\n" % (t, "tiny-gpt" if rng.random() < 0.6 else "tiny-bert"))
        for mode, batching in (("compat", "none"), ("swapping", "none"), ("batching", "{name: greedy, max_batch: 8}")):
            cfg = os.path.join(d, "c-%s.yaml" % mode)
            with open(cfg, "w") as f:
                f.write(CONFIG.format(batching=batching))
            out = {}
            for kind, extra in (("live", []), ("sim", ["--simulate"] + (["--sim-mode", "compat"] if mode == "compat"
                                                                        else []))):
                summ, rec = os.path.join(d, "%s-%s.json" % (mode, kind)), os.path.join(d, "%s-%s.csv" % (mode, kind))
                rc, o, err = run(["--log-level", "info", "replay", "-c", cfg, "--trace", trace, "--summary", summ,
                                  "--records", rec, "--no-progress", *extra], timeout=300)
                check(rc == 0, "%s %s: rc %d %s" % (mode, kind, rc, err[-2000:]))
                if kind == "sim":
                    check("mode %s" % mode in err, "simulated in mode %s: %s" % (mode, err[-800:]))
                out[kind] = json.load(open(summ))["overall"]
            lv, sv = out["live"], out["sim"]
            results.append((mode, lv, sv))
            print("%-9s attainment live %.4f sim %.4f | p50 live %.1f ms sim %.1f ms | p99 live %.1f ms sim %.1f ms"
                  % (mode, lv["attainment"], sv["attainment"], lv["p50_s"] * 1e3, sv["p50_s"] * 1e3,
                     lv["p99_s"] * 1e3, sv["p99_s"] * 1e3))
        # A live answer on sim devices: zeros of the model's output shape.
        cfg = os.path.join(d, "c-swapping.yaml")
        with base.Server("-c", cfg) as s:
            with s.client() as c:
                r = c.infer(1, "tiny-gpt", [1, 2, 3])
                check(r["status"] == "ok", "served on sim devices: %r" % r)
                out = r["output"]
                check(len(out["data"]) == 4 * out["shape"][0] and not any(out["data"]),
                      "zeros of shape %r" % out["shape"])
            check(s.stop() == 0, "up exits 0")
    for mode, lv, sv in results:
        check(abs(lv["attainment"] - sv["attainment"]) <= 0.05,
              "%s: attainment live %.4f vs simulated %.4f" % (mode, lv["attainment"], sv["attainment"]))
        check(abs(lv["p50_s"] - sv["p50_s"]) <= 0.25 * sv["p50_s"],
              "%s: median live %.4f vs simulated %.4f" % (mode, lv["p50_s"], sv["p50_s"]))
    print("e2e sim devices: passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
