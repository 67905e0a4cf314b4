#!/usr/bin/python3
"""Black-box: `switchyard up` with `placement: {policy: ..., workload: ...}` plans in-process before serving
(issue 11 §1). The profile is measured on the deployment's cpu devices and cached (the second start measures
nothing), the plan is written where `placement.write` says, GET /v2/placement returns it, the served groups
(GET /v2/models) are the plan's and every model answers requests; `replay -c` on the same config serves the
same placement. Bad input is a located config error (exit 2) before anything starts: an unknown policy, an
unreadable workload, a profile for another device kind, a plan that cannot place a model.

Usage: live_plan_e2e.py --bin PATH/switchyard
"""
import argparse
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_e2e as base  # noqa: E402
from ingress_e2e import check, run  # noqa: E402

NODES_MODELS = """nodes:
  - {name: local, address: 127.0.0.1:0, devices: {kind: cpu, count: 2, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 5000}
  - {preset: tiny-bert, weights: {seed: 2}, slo_ms: 5000}
controller: {address: 127.0.0.1:0}
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    base.BIN = ap.parse_args().bin
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        trace = os.path.join(d, "trace.csv")
        rows = ["arrival_s,model,input_tokens"] + ["%.3f,%s,8" % (i * 0.05, "tiny-gpt" if i % 3 else "tiny-bert")
                                                   for i in range(200)]
        write(trace, "\n".join(rows) + "\n")
        cache, plan = os.path.join(d, "cache"), os.path.join(d, "plan.yaml")
        cfg = os.path.join(d, "cluster.yaml")
        write(cfg, NODES_MODELS + "placement:\n  policy: sr-greedy\n  workload: {trace: trace.csv}\n"
                                  "  profile_cache: cache\n  write: plan.yaml\n")
        with base.Server("-c", cfg) as s:
            code, body = s.http("GET", "/v2/placement")
            check(code == 200, "GET /v2/placement: %d %s" % (code, body))
            p = json.loads(body)
            check(p["source"] == "policy" and p["policy"] == "sr-greedy", "placement: %r" % p)
            check(p["requests"] == 200, "planned on the trace's 200 requests: %r" % p)
            planned = {g["name"]: sorted(g["models"]) for g in p["groups"]}
            check(planned, "groups in /v2/placement: %r" % p)
            code, body = s.http("GET", "/v2/models")
            served = {}
            for model in json.loads(body)["models"]:
                for r in model["replicas"]:
                    served.setdefault(r["group"], []).append(model["name"])
            served = {g: sorted(ms) for g, ms in served.items()}
            check(served == planned, "served groups %r == planned %r" % (served, planned))
            with s.client() as c:
                for i, m in enumerate(("tiny-gpt", "tiny-bert", "tiny-gpt", "tiny-bert")):
                    r = c.infer(i, m, [1, 2, 3])
                    check(r["status"] == "ok", "%s served: %r" % (m, r))
            check(s.stop() == 0, "up exits 0")
            err = s.proc.stderr.read()
            check("placement: measuring model tiny-gpt" in err, "first start measures: %s" % err[-2000:])
        text = open(plan).read()
        written = {"g%d" % i: sorted(x.strip() for x in m.group(1).split(","))
                   for i, m in enumerate(re.finditer(r"models: \[([^\]]*)\]\}", text))}
        check(written == planned, "written plan %r == served %r" % (written, planned))
        check(os.listdir(cache), "profile cache written")
        # Second start: the profile comes from the cache; replay -c serves the same plan.
        rec = os.path.join(d, "r.csv")
        rc, out, err = run(["replay", "-c", cfg, "--trace", trace, "--time-scale", "4", "--records", rec,
                            "--no-progress"], timeout=300)
        check(rc == 0, "replay -c: rc %d %s" % (rc, err[-2000:]))
        check("from the cache" in err and "measuring model" not in err, "cached profile reused: %s" % err[-2000:])
        served_rows = [l.split(",") for l in open(rec).read().splitlines()[1:]]
        check(len(served_rows) == 200 and all(r[6] == "ok" for r in served_rows),
              "replay -c answered all 200 ok: %r" % [r[6] for r in served_rows][:20])
        print("planned and served: %r" % planned)

        # Bad inputs: exit 2 with the file and key, before anything starts.
        def refused(placement, *expect):
            bad = os.path.join(d, "bad.yaml")
            write(bad, NODES_MODELS + placement)
            rc, out, err = run(["up", "--any-ports", "-c", bad], timeout=120)
            check(rc == 2 and all(e in err for e in expect) and "ready" not in out,
                  "refused %r: rc %d %s" % (placement, rc, err[-1500:]))
            print("refused: %s" % err.strip().splitlines()[-1][:220])

        refused("placement: {policy: mp-serch}\n", "bad.yaml:7:21: placement.policy", 'did you mean "mp-search"')
        refused("placement: {policy: mp-search, workload: {trace: missing.csv}}\n",
                "bad.yaml:7:42: placement.workload: cannot read the workload", "missing.csv")
        v100 = os.path.join(d, "v100.json")
        rc, out, err = run(["--log-level", "warn", "profile", "--models", "tiny-gpt,tiny-bert", "--hardware",
                            "V100-16GB", "-o", v100])
        check(rc == 0, "profile --hardware: %s" % err)
        refused("placement: {policy: mp-search, profile: v100.json}\n", "placement.profile: expected a profile for "
                "the deployment's cpu devices, found one for V100-16GB")
        # The same entries marked cpu, with tiny-bert heavier than any device: no placement serves it.
        prof = json.load(open(v100))
        prof["device"] = "cpu"
        for e in prof["entries"]:
            if e["model"] == "tiny-bert":
                e["weight_bytes"] = [1e12] * len(e["weight_bytes"])
        write(os.path.join(d, "heavy.json"), json.dumps(prof))
        refused("placement: {policy: mp-search, profile: heavy.json}\n", "bad.yaml:7:21: placement.policy: expected a "
                "placement that serves every model", "no replica of model 'tiny-bert'")
    print("e2e placement at start: passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
