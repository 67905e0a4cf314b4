#!/usr/bin/python3
"""Black-box: `switchyard profile -c` -> `switchyard plan` -> a config with `placement: {plan: plan.yaml}` ->
`switchyard up` serves the planned groups (GET /v2/models shows them) and answers requests; a plan that names
a model the config lacks makes `up` exit 1 with the plan file and the model in the message.

Usage: plan_up_e2e.py --bin PATH/switchyard
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

CONFIG = """nodes:
  - {name: local, address: 127.0.0.1:0, devices: {kind: cpu, count: 4, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 5000}
  - {preset: tiny-bert, weights: {seed: 2}, slo_ms: 5000}
  - {preset: small-gpt, weights: {seed: 3}, slo_ms: 5000}
placement: {plan: %s}
controller: {address: 127.0.0.1:0}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    base.BIN = ap.parse_args().bin
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "cluster.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG % "plan.yaml")
        prof, plan = os.path.join(d, "prof.json"), os.path.join(d, "plan.yaml")
        rc, out, err = run(["--log-level", "warn", "profile", "-c", cfg, "--hardware", "V100-16GB", "-o", prof])
        check(rc == 0, "profile: rc %d %s" % (rc, err))
        rc, out, err = run(["--log-level", "warn", "plan", "--profile", prof, "--models", "tiny-gpt,tiny-bert,small-gpt",
                            "--devices", "4", "--devices-per-node", "4", "--rate", "40", "--duration", "20",
                            "-o", plan])
        check(rc == 0, "plan: rc %d %s" % (rc, err))
        # What the plan says: group i -> its models (the runtime names group i "g<i>").
        text = open(plan).read()
        planned = {}
        for i, m in enumerate(re.finditer(r"\{op: (\d+), pp: (\d+), devices: \[([^\]]*)\], models: \[([^\]]*)\]\}", text)):
            planned["g%d" % i] = sorted(x.strip() for x in m.group(4).split(","))
        check(planned, "plan has groups: %s" % text)
        with base.Server("-c", cfg) as s:
            code, body = s.http("GET", "/v2/models")
            served = {}
            for model in json.loads(body)["models"]:
                for r in model["replicas"]:
                    served.setdefault(r["group"], []).append(model["name"])
            served = {g: sorted(ms) for g, ms in served.items()}
            check(served == planned, "served groups %r == planned groups %r" % (served, planned))
            with s.client() as c:
                for i, m in enumerate(("tiny-gpt", "tiny-bert", "small-gpt")):
                    r = c.infer(i, m, [1, 2, 3])
                    check(r["status"] == "ok", "%s served: %r" % (m, r))
            check(s.stop() == 0, "up exits 0")
        print("planned groups served: %r" % planned)
        # A plan naming a model the config does not have.
        with open(plan, "w") as f:
            f.write("models: [tiny-gpt, bert-2.6b]\ngroups:\n  - {op: 1, pp: 1, devices: [0], models: [bert-2.6b]}\n")
        rc, out, err = run(["up", "--any-ports", "-c", cfg], timeout=120)
        check(rc == 1 and "plan.yaml" in err and "'bert-2.6b'" in err, "bad plan: rc %d %s" % (rc, err))
    print("e2e plan -> up: passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
