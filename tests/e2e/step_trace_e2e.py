#!/usr/bin/env python3
"""The generation step trace (`switchyard --log-level trace replay ...`, scripts/step_trace.py; README "Fidelity
on cpu devices"): a live replay of the Azure LLM sample slice on the embedded cluster traces every generation
step at every point (the group's plan and result, each stage's submit, device end and done), with the fields
the script reads, and the script splits them (and fits a profile from them).

Usage: step_trace_e2e.py --bin build/apps/switchyard"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "trace.log")
        with open(log, "w") as f:
            p = subprocess.run([a.bin, "--log-level", "trace", "replay", "--trace",
                                os.path.join(ROOT, "examples/traces/azure_llm_code_sample.csv"), "--format",
                                "azure-llm", "--time-scale", "4", "--records", os.path.join(d, "r.csv"),
                                "--summary", os.path.join(d, "s.json")], stdout=subprocess.DEVNULL, stderr=f,
                               timeout=300)
        if p.returncode != 0:
            fail(f"replay exited {p.returncode}: " + open(log).read()[-2000:])
        with open(os.path.join(d, "s.json")) as f:
            summary = json.load(f)
        events = collections.defaultdict(set)  # (model, step) -> events
        plan = re.compile(r"step_trace group plan model (\S+) step (\d+) seqs (\d+) tokens (\d+) decodes (\d+) "
                          r"ctx (\d+) pairs (\d+) at_us (\d+)$")
        other = re.compile(r"step_trace (?:group (result) model (\S+) step (\d+) seqs \d+|stage (\d) (submit|done) "
                           r"model (\S+) step (\d+) seqs \d+ tokens \d+|stage (\d) (device) model (\S+) step (\d+)) "
                           r"at_us \d+$")
        for line in open(log):
            if "step_trace" not in line:
                continue
            line = line.rstrip("\n")
            m = plan.search(line)
            if m:
                model, step, seqs, tokens, decodes = m.group(1), int(m.group(2)), *map(int, m.group(3, 4, 5))
                if not (1 <= seqs <= tokens and decodes <= seqs):
                    fail("inconsistent plan line: " + line)
                events[(model, step)].add("plan")
                continue
            m = other.search(line)
            if not m:
                fail("a step_trace line the script cannot read: " + line)
            g = m.groups()
            if g[0]:
                events[(g[1], int(g[2]))].add("result")
            elif g[4]:
                events[(g[5], int(g[6]))].add(f"{g[4]} {g[3]}")
            else:
                events[(g[9], int(g[10]))].add(f"{g[8]} {g[7]}")
        want = {"plan", "result"} | {f"{w} {k}" for w in ("submit", "device", "done") for k in (0, 1)}
        if not events:
            fail("no step_trace lines at --log-level trace")
        incomplete = {k: want - v for k, v in events.items() if v != want}
        if incomplete:
            fail(f"{len(incomplete)} of {len(events)} steps miss events, e.g. {next(iter(incomplete.items()))}")
        tokens = summary["overall"]["generation"]
        if summary["overall"]["ok"] != summary["overall"]["requests"]:
            fail("not every generation ok: " + json.dumps(summary["overall"]))
        models = {m for m, _ in events}
        if models != {"tiny-gpt", "small-gpt"}:
            fail(f"steps of {models}, expected both decoders")
        # The script reads them: every step counted, per model and stage, and a profile fitted to them.
        prof = os.path.join(d, "prof.json")
        with open(prof, "w") as f:
            json.dump({"format": "switchyard-profile", "version": 1, "entries": [
                {"model": m, "op": 1, "pp": 2, "stage_latency": [[0.001, 0.001]], "weight_bytes": [1, 1],
                 "gen_step_s": [1e-4, 1e-4], "prefill_s_per_token": [1e-5, 1e-5], "decode_s_per_seq": [1e-5, 1e-5],
                 "decode_s_per_ctx": [1e-8, 1e-8], "kv_bytes_per_token": [64, 64]} for m in sorted(models)]}, f)
        fit = os.path.join(d, "fit.json")
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts/step_trace.py"), log, "--profile", prof,
                              "--fit-profile", fit], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            fail("step_trace.py: " + out.stderr)
        if not out.stdout.startswith(f"{len(events)} steps, 2 stages"):
            fail(f"step_trace.py counted otherwise than {len(events)} steps: " + out.stdout[:200])
        for m in models:
            if f"\n{m}: " not in out.stdout or "live/profile" not in out.stdout:
                fail(f"no per-stage rows for {m}: " + out.stdout)
        with open(fit) as f:
            fitted = json.load(f)
        for e in fitted["entries"]:
            if len(e["prefill_s_per_pair"]) != 2 or e["gen_hop_s"] <= 0:
                fail("fitted entry without its fields: " + json.dumps(e))
            if any(x < 0 for k in ("gen_step_s", "prefill_s_per_token", "prefill_s_per_pair", "decode_s_per_seq",
                                   "decode_s_per_ctx") for x in e[k]):
                fail("a negative fitted cost: " + json.dumps(e))
        print(f"ok: {len(events)} steps traced at all 8 points, {tokens['requests']} generations, script and fit agree")


if __name__ == "__main__":
    main()
