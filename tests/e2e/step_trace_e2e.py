#!/usr/bin/env python3
"""The generation step trace (`switchyard --log-level trace replay ...`, scripts/step_trace.py; README "Fidelity
on cpu devices"): a live replay of the Azure LLM sample slice on the embedded cluster traces every generation
step at every point (the group's plan and result, each stage's submit, device end and done), with the fields
the script reads, and the script splits them; `replay --fit-profile` fits a profile's generation costs to a live
replay's steps, the simulator takes the fitted profile and traces its own steps in the same lines, and bad
usage of --fit-profile is refused precisely.

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
            json.dump({"format": "switchyard-profile", "version": 1, "batch_sizes": [1, 2, 4, 8, 16], "entries": [
                {"model": m, "op": 1, "pp": 2, "stage_latency": [[0.001, 0.001]], "weight_bytes": [1, 1],
                 "gen_step_s": [1e-4, 1e-4], "prefill_s_per_token": [1e-5, 1e-5], "decode_s_per_seq": [1e-5, 1e-5],
                 "decode_s_per_ctx": [1e-8, 1e-8], "kv_bytes_per_token": [64, 64]} for m in sorted(models)] + [
                {"model": m, "op": 1, "pp": 1, "stage_latency": [[0.002]], "weight_bytes": [2]}  # the SLO base
                for m in sorted(models) + ["tiny-bert", "small-bert"]]}, f)
        # replay --fit-profile: the same kind of live replay fits the profile's generation costs to its steps.
        fit = os.path.join(d, "fit.json")
        sample = os.path.join(ROOT, "examples/traces/azure_llm_code_sample.csv")
        p = subprocess.run([a.bin, "replay", "--trace", sample, "--format", "azure-llm", "--time-scale", "4",
                            "--profile", prof, "--fit-profile", fit], capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            fail(f"replay --fit-profile exited {p.returncode}: " + p.stderr[-2000:])
        m = re.search(r"--fit-profile: (\d+) generation steps, (\d+) seen whole; actor hop ([0-9.]+) ms", p.stderr)
        if not m or int(m.group(2)) < 0.9 * int(m.group(1)) or float(m.group(3)) <= 0:
            fail("no plausible --fit-profile summary line: " + p.stderr[-2000:])
        for model in models:
            for k in (0, 1):
                if not re.search(rf"--fit-profile: {model} stage {k}: \d+ decode-only steps, \d+ with prefill; live "
                                 rf"device time [0-9.]+x the profile's", p.stderr):
                    fail(f"no fit line for {model} stage {k}: " + p.stderr[-2000:])
        with open(fit) as f:
            fitted = json.load(f)
        for e in (e for e in fitted["entries"] if e["pp"] == 2):  # the deployment's config of the decoders
            if not e.get("gen_fitted_live") or len(e["prefill_s_per_pair"]) != 2 or len(e["gen_step_sdlog"]) != 2:
                fail("fitted entry without its fields: " + json.dumps(e))
            if e["gen_hop_s"] <= 0 or any(x < 0 for k in ("gen_step_s", "prefill_s_per_token", "prefill_s_per_pair",
                                                          "decode_s_per_seq", "decode_s_per_ctx", "gen_step_sdlog")
                                          for x in e[k]):
                fail("a fitted entry with a negative or missing cost: " + json.dumps(e))
            if e["gen_step_s"] == [1e-4, 1e-4] and e["decode_s_per_seq"] == [1e-5, 1e-5]:
                fail("the costs were not refitted: " + json.dumps(e))
        # The simulator takes the fitted profile, and traces its steps in the same lines the script reads.
        sim_log = os.path.join(d, "sim.log")
        with open(sim_log, "w") as f:
            p = subprocess.run([a.bin, "--log-level", "trace", "replay", "--trace", sample, "--format", "azure-llm",
                                "--time-scale", "4", "--simulate", "--profile", fit], stdout=subprocess.DEVNULL,
                               stderr=f, timeout=120)
        if p.returncode != 0:
            fail(f"replay --simulate of the fitted profile exited {p.returncode}: " +
                 "".join(x for x in open(sim_log) if "step_trace" not in x)[-2000:])
        out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts/step_trace.py"), sim_log, "--profile", fit],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0 or " steps, 2 stages" not in out.stdout:
            fail("step_trace.py on the simulator's steps: " + out.stderr + out.stdout[:500])
        # Bad usage: a precise refusal, nothing run.
        for args, want in ((["--fit-profile", fit], "--fit-profile needs --profile"),
                           (["--profile", prof, "--fit-profile", fit, "--simulate"], "--fit-profile needs --profile"),
                           (["--profile", prof, "--fit-profile", fit, "--target", "127.0.0.1:1"],
                            "--fit-profile needs --profile"),
                           (["--profile", os.path.join(d, "absent.json"), "--fit-profile", fit], "absent.json")):
            p = subprocess.run([a.bin, "replay", "--trace", sample, "--format", "azure-llm"] + args,
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 2 or want not in p.stderr:
                fail(f"replay {' '.join(args)}: expected exit 2 and '{want}', got {p.returncode}: {p.stderr[-500:]}")
        # A trace without generations has no steps to fit: an error that says so, exit 1.
        one_pass = os.path.join(d, "one_pass.csv")
        with open(one_pass, "w") as f:
            f.write("arrival_s,model,input_tokens\n" + "".join(f"{i * 0.05:.2f},tiny-bert,16\n" for i in range(10)))
        p = subprocess.run([a.bin, "replay", "--trace", one_pass, "--profile", prof, "--fit-profile",
                            os.path.join(d, "none.json")], capture_output=True, text=True, timeout=120)
        if p.returncode != 1 or "no generation step of the replay was seen whole" not in p.stderr:
            fail(f"one-pass trace: expected exit 1 and the reason, got {p.returncode}: {p.stderr[-800:]}")
        if os.path.exists(os.path.join(d, "none.json")):
            fail("a failed fit wrote its output")
        print(f"ok: {len(events)} steps traced at all 8 points, {tokens['requests']} generations; the script reads "
              "live and simulated steps; replay --fit-profile refits the costs and refuses bad usage")


if __name__ == "__main__":
    main()
