#!/usr/bin/python3
"""Black-box (issue 11 §2): re-placement while serving, with real processes (`switchyard up` on `kind: sim`
devices, `switchyard replay --target` against it, GET/POST /v2/placement over HTTP).

Scenarios:
  flip    A trace whose popularity flips halfway (power law over four models, then reversed) on six devices
          that each hold one model: the placement matters (the popular model needs three replicas). Served
          with and without `placement.replan` (windowed). Asserts: zero lost or duplicated answers in both
          runs, and the second half's SLO attainment is higher with re-placement by at least --margin. Prints
          the time from the flip to the new placement being resident (polled GET /v2/placement).
  manual  POST /v2/placement by hand: 401 without the control token, 400 with the precise reason for a bad
          plan (unknown model, unknown device, a plan that does not fit device memory), nothing changed;
          202 with an id, 409 with that id while it runs, GET shows the migration, then the new groups.

Usage: replan_e2e.py --bin PATH/switchyard {flip|manual} [--runs N] [--margin M] [--policy windowed|drift]
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_e2e as base  # noqa: E402
from ingress_e2e import check  # noqa: E402

MODELS = ["m0", "m1", "m2", "m3"]
LAT = 0.04  # seconds per request on a device (batch 1)
# One model per device for the planner (150 MB of weights each, 256 MiB devices, 85% for weights); the runtime's
# tiny-gpt shards are small, so its own memory check passes for any one-model-per-device plan.
PROFILE = {
    "format": "switchyard-profile", "version": 1, "batch_sizes": [1, 2, 4, 8, 16], "device": "sim",
    "entries": [{"model": "tiny-gpt", "op": 1, "pp": 1, "stage_latency": [[LAT * f] for f in (1, 1.4, 2.0, 3.2, 5.5)],
                 "weight_bytes": [150e6], "load_seconds": [0.5]}],
}

# No placement.profile: the planner at start takes the sim devices' profile, and the re-planner the same one,
# handed over by `up` (apps/live_plan.hpp served_placement::profile).
CONFIG = """nodes:
  - {{name: local, address: 127.0.0.1:0, devices: {{kind: sim, count: 6, memory: 256MiB, profile: prof.json}}}}
models:
{models}
placement:
  policy: sr-greedy
  workload: {{trace: phase1.csv, tokens: 8}}
{replan}
policies: {{admission: slo, batching: none}}
controller: {{address: 127.0.0.1:0}}
ingress: {{control_token: sesame}}
"""
SLO_MS = 200
RATES = [40.0, 10.0, 6.0, 4.0]  # requests/s of m0..m3 in the first half; reversed in the second


def write_inputs(d, half_s, seed, policy, replan=None, extra=""):
    """The trace (t.csv), its first half (phase1.csv), the profile and with.yaml / without.yaml. `replan`
    replaces with.yaml's placement.replan line (e.g. a plug-in's policy), `extra` is appended to both configs
    (e.g. a plugins: entry)."""
    rng = random.Random(seed)
    rows = []
    for phase, rates in ((0, RATES), (1, RATES[::-1])):
        for m, r in enumerate(rates):
            t = phase * half_s
            while True:
                t += rng.expovariate(r)
                if t >= (phase + 1) * half_s:
                    break
                rows.append((t, MODELS[m]))
    rows.sort()
    with open(os.path.join(d, "t.csv"), "w") as f:
        f.write("arrival_s,model,input_tokens\n")
        for t, m in rows:
            f.write("%.6f,%s,8\n" % (t, m))
    with open(os.path.join(d, "phase1.csv"), "w") as f:
        f.write("arrival_s,model,input_tokens\n")
        for t, m in rows:
            if t < half_s:
                f.write("%.6f,%s,8\n" % (t, m))
    with open(os.path.join(d, "prof.json"), "w") as f:
        json.dump(PROFILE, f)
    models = "\n".join("  - {name: %s, preset: tiny-gpt, weights: {seed: %d}, slo_ms: %d}" % (m, i + 1, SLO_MS)
                       for i, m in enumerate(MODELS))
    if replan is None:
        replan = ("  replan: {policy: %s, window_s: 4, interval_s: 4, margin: 0.02, threshold: 0.5, "
                  "min_interval_s: 4}" % policy)
    for name, line in (("with", replan), ("without", "")):
        with open(os.path.join(d, "%s.yaml" % name), "w") as f:
            f.write(CONFIG.format(models=models, replan=line) + extra)
    return len(rows)


def poll_placement(server, stop, events, t0):
    """Records (seconds since t0, generation, migration id or None) whenever GET /v2/placement changes."""
    last = None
    while not stop.is_set():
        code, body = server.http("GET", "/v2/placement")
        if code == 200:
            doc = json.loads(body)
            key = (doc.get("generation", 0), (doc.get("migration") or {}).get("id"))
            if key != last:
                events.append((time.monotonic() - t0, key[0], key[1]))
                last = key
        time.sleep(0.05)


def serve_and_replay(d, name, n, half_s, inspect=None):
    """Serves <name>.yaml, replays t.csv against it; checks every request was answered exactly once and none
    failed. `inspect(server)`, when given, runs after the replay and before SIGTERM; its value is returned
    as "inspected"."""
    cfg = os.path.join(d, "%s.yaml" % name)
    inspected = None
    rec, summ = os.path.join(d, "%s.csv" % name), os.path.join(d, "%s.json" % name)
    events = []
    with base.Server("-c", cfg) as s:
        stop = threading.Event()
        t0 = time.monotonic()
        poller = threading.Thread(target=poll_placement, args=(s, stop, events, t0), daemon=True)
        poller.start()
        p = subprocess.run([base.BIN, "replay", "--target", "127.0.0.1:%d" % s.ports["msgpack"], "--trace",
                            os.path.join(d, "t.csv"), "--records", rec, "--summary", summ, "--no-progress",
                            "--warmup", "0", "--connections", "4"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=half_s * 2 + 120)
        stop.set()
        poller.join()
        check(p.returncode == 0, "%s: replay rc %d\n%s" % (name, p.returncode, p.stderr[-3000:]))
        code, metrics = s.http("GET", "/metrics")
        if inspect:
            inspected = inspect(s)
        check(s.stop() == 0, "%s: up exits 0" % name)
        log = s.proc.stderr.read()
    rows = list(csv.DictReader(open(rec)))
    ids = [r["id"] for r in rows]
    check(len(rows) == n, "%s: %d records for %d requests" % (name, len(rows), n))
    check(len(set(ids)) == n, "%s: duplicated answers (%d unique ids)" % (name, len(set(ids))))
    statuses = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    check(statuses.get("unanswered", 0) == 0, "%s: lost answers: %r" % (name, statuses))
    check(statuses.get("failed", 0) == 0, "%s: failed answers: %r" % (name, statuses))
    halves = [[0, 0], [0, 0]]
    for r in rows:
        h = 0 if float(r["arrival"]) < half_s else 1
        halves[h][1] += 1
        if r["status"] == "ok" and float(r["finish"]) - float(r["arrival"]) <= SLO_MS / 1000.0:
            halves[h][0] += 1
    att = [g / max(1, a) for g, a in halves]
    return {"attainment": att, "statuses": statuses, "events": events, "metrics": metrics, "log": log,
            "inspected": inspected}


def scenario_flip(a):
    results = []
    for run_i in range(a.runs):
        with tempfile.TemporaryDirectory() as d:
            n = write_inputs(d, a.half, 11 + run_i, a.policy)
            without = serve_and_replay(d, "without", n, a.half)
            withr = serve_and_replay(d, "with", n, a.half)
        done = [t for t, gen, mig in withr["events"] if gen >= 1]
        started = [t for t, gen, mig in withr["events"] if mig]
        flip_to_resident = (done[0] - a.half) if done else float("nan")
        replans = [l for l in withr["metrics"].splitlines() if l.startswith("sy_replans_total{")]
        print("run %d: second-half attainment without %.4f, with %.4f (first half %.4f / %.4f); statuses without %r, "
              "with %r" % (run_i, without["attainment"][1], withr["attainment"][1], without["attainment"][0],
                           withr["attainment"][0], without["statuses"], withr["statuses"]))
        print("run %d: migration started at %s s, resident at %s s (trace time, flip at %.0f s): flip -> resident "
              "%.2f s; lost 0, duplicated 0; %s" % (run_i, ["%.2f" % t for t in started], ["%.2f" % t for t in done],
                                                      a.half, flip_to_resident, "; ".join(replans)))
        results.append((without["attainment"][1], withr["attainment"][1], withr))
    for without, withr, w in results:
        check(withr >= without + a.margin,
              "second-half attainment with re-placement %.4f, without %.4f: expected at least +%.2f\n%s"
              % (withr, without, a.margin, w["log"][-4000:]))
    print("e2e replan flip: passed")


def scenario_manual(a):
    with tempfile.TemporaryDirectory() as d:
        write_inputs(d, a.half, 5, a.policy)
        with base.Server("-c", os.path.join(d, "without.yaml")) as s:
            code, body = s.http("GET", "/v2/placement")
            check(code == 200, "GET /v2/placement: %d %s" % (code, body))
            before = json.loads(body)
            plan = {"groups": [{"devices": ["local:%d" % i], "models": [m]}
                               for i, m in enumerate(["m3", "m3", "m3", "m0", "m1", "m2"])]}

            def post(body, token="sesame"):
                import urllib.request
                req = urllib.request.Request("http://127.0.0.1:%d/v2/placement" % s.ports["http"], method="POST",
                                             data=body.encode())
                if token:
                    req.add_header("Authorization", "Bearer " + token)
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        return r.status, json.loads(r.read().decode())
                except urllib.error.HTTPError as e:
                    return e.code, json.loads(e.read().decode())

            code, doc = post(json.dumps(plan), token=None)
            check(code == 401, "POST without the control token: %d %r" % (code, doc))
            bad = {"groups": [{"devices": ["local:0"], "models": ["nope"]}]}
            code, doc = post(json.dumps(bad))
            check(code == 400 and "unknown model 'nope'" in doc["reason"], "unknown model: %d %r" % (code, doc))
            bad = {"groups": [{"devices": ["local:9"], "models": MODELS}]}
            code, doc = post(json.dumps(bad))
            check(code == 400 and "has no device '9'" in doc["reason"], "unknown device: %d %r" % (code, doc))
            code, doc = post("models: [m0]\ngroups:\n  - {op: 1, pp: 1, devices: [0], models: [m0]}\n")
            check(code == 400 and "m1 has no replica" in doc["reason"], "a model left out: %d %r" % (code, doc))
            code, doc = post("{not json")
            check(code == 400, "not a plan: %d %r" % (code, doc))
            code, body = s.http("GET", "/v2/placement")
            check(json.loads(body)["groups"] == before["groups"], "nothing changed after the refusals")
            code, doc = post(json.dumps(plan))
            check(code == 202 and doc["id"] == "m1", "accepted: %d %r" % (code, doc))
            code2, doc2 = post(json.dumps(plan))
            code, body = s.http("GET", "/v2/placement")
            now = json.loads(body)
            if "migration" in now:  # still running (it loads for 0.5 s): a second POST is refused with its id
                check(code2 == 409 and doc2["id"] == "m1", "busy: %d %r" % (code2, doc2))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                code, body = s.http("GET", "/v2/placement")
                now = json.loads(body)
                if now.get("generation") == 1 and "migration" not in now:
                    break
                time.sleep(0.1)
            check(now.get("generation") == 1, "the migration finished: %r" % now)
            served = sorted((g["devices"][0], tuple(g["models"])) for g in now["groups"])
            check(served == sorted(("local:%d" % i, (m,)) for i, m in enumerate(["m3", "m3", "m3", "m0", "m1", "m2"])),
                  "the new placement is served: %r" % served)
            with s.client() as c:
                for i, m in enumerate(MODELS):
                    r = c.infer(100 + i, m, [1, 2])
                    check(r["status"] == "ok", "%s served after the migration: %r" % (m, r))
            code, metrics = s.http("GET", "/metrics")
            check('sy_replans_total{policy="manual",outcome="applied"} 1' in metrics, "counted: " + metrics[-2000:])
            check("sy_migrations_total 1" in metrics, "migrations counted")
            check(s.stop() == 0, "up exits 0")
    print("e2e replan manual: passed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("scenario", choices=["flip", "manual"])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--half", type=float, default=20.0, help="seconds per half of the trace")
    ap.add_argument("--margin", type=float, default=0.1)
    ap.add_argument("--policy", default="windowed")
    a = ap.parse_args()
    base.BIN = a.bin
    t0 = time.monotonic()
    {"flip": scenario_flip, "manual": scenario_manual}[a.scenario](a)
    print("%.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
