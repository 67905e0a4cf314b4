#!/usr/bin/env python3
"""Where a live generation step's time goes (README "Fidelity on cpu devices", issue 10 §4).

Reads the `step_trace` lines that `switchyard --log-level trace replay ...` writes to stderr (the model group:
a step planned and sent to stage 0, its result back; each stage: the step submitted to its device, the
device's work on it ended (on the device thread), the completion handled by the stage actor), and with
--profile the profile's generation costs of the models' (tensor, pipeline) configs. Per model it prints:

- per stage: the device time of its steps (device end - max(submit, the same device's previous end)) split
  into decode-only steps and steps with prefill tokens, beside the profile's cost of the same step
  (gen_step_s + prefill_s_per_token x prefill + decode_s_per_seq x decodes + decode_s_per_ctx x context +
  prefill_s_per_pair x the pairs the prefill attends),
  and the wait on the device behind earlier steps (of the same model and of the other);
- the hops: group -> stage 0 submit, device end -> completion handled, stage k done -> stage k+1 submit,
  last stage -> group (sampling and the message);
- the group's gap: a result back -> the model's next step planned (0 when a step was ready at once).

And for the whole run: the fraction of time each stage's device computed, and of that the fraction while
another stage's device computed too (the overlap the simulator's host_cores sharing stretches).

The same lines come from `switchyard --log-level trace replay --simulate ...` at simulated times (the
simulator's steps, split the same way: what the simulator's scheduling made of each step). A profile fitted
to live steps is `switchyard replay --profile P --fit-profile OUT` (apps/replay/step_fit.hpp).

Usage: step_trace.py LOG [--profile PROFILE.json]"""
import argparse
import collections
import json
import re
import statistics

LINE = re.compile(r"step_trace (group|stage) (.*) at_us (\d+)")


def parse(path):
    steps = collections.defaultdict(dict)  # (model, step) -> fields
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            who, rest, at = m.group(1), m.group(2).split(), int(m.group(3)) * 1e-6
            if who == "group":
                what = rest[0]
                kv = dict(zip(rest[1::2], rest[2::2]))
                s = steps[(kv["model"], int(kv["step"]))]
                s["model"] = kv["model"]
                s[what] = at
                if what == "plan":
                    s["tokens"] = int(kv["tokens"])
                    s["decodes"] = int(kv["decodes"])
                    s["ctx"] = int(kv["ctx"])
                    s["pairs"] = int(kv.get("pairs", 0))
                    s["seqs"] = int(kv["seqs"])
            else:
                k, what = int(rest[0]), rest[1]
                kv = dict(zip(rest[2::2], rest[3::2]))
                s = steps[(kv["model"], int(kv["step"]))]
                s["model"] = kv["model"]
                s[(what, k)] = at
    return steps


def med(v):
    return statistics.median(v) * 1e3 if v else float("nan")


def mean(v):
    return statistics.fmean(v) * 1e3 if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--profile")
    args = ap.parse_args()
    steps = {k: s for k, s in parse(args.log).items() if "plan" in s and "result" in s}
    if not steps:
        raise SystemExit("no complete step_trace steps in " + args.log + " (run with --log-level trace)")
    pp = 1 + max(k for s in steps.values() for key in s if isinstance(key, tuple) for k in [key[1]])
    coef = {}
    if args.profile:
        with open(args.profile) as f:
            prof = json.load(f)
        for e in prof["entries"]:
            if e.get("pp") == pp and e.get("op") == 1 and "gen_step_s" in e:
                pair = e.get("prefill_s_per_pair", [0.0] * pp)
                coef[e["model"]] = [(e["gen_step_s"][k], e["prefill_s_per_token"][k], e["decode_s_per_seq"][k],
                                     e["decode_s_per_ctx"][k], pair[k]) for k in range(pp)]
    # device time per stage: FIFO per device, in submit order
    for k in range(pp):
        order = sorted((s for s in steps.values() if ("device", k) in s), key=lambda s: s[("submit", k)])
        prev_end, prev_model = 0.0, None
        for s in order:
            start = max(s[("submit", k)], prev_end)
            s[("wait", k)] = start - s[("submit", k)]
            s[("wait_other", k)] = s[("wait", k)] if prev_model not in (None, s["model"]) else 0.0
            s[("start", k)] = start
            s[("busy", k)] = s[("device", k)] - start
            prev_end, prev_model = s[("device", k)], s["model"]
    models = sorted({s["model"] for s in steps.values()})
    print(f"{len(steps)} steps, {pp} stages (ms; med = median)")
    for m in models:
        ms = sorted((s for s in steps.values() if s["model"] == m), key=lambda s: s["plan"])
        print(f"\n{m}: {len(ms)} steps, seqs/step mean {statistics.fmean(s['seqs'] for s in ms):.2f}, "
              f"decodes/step mean {statistics.fmean(s['decodes'] for s in ms):.2f}")
        for k in range(pp):
            for kind, sel in (("decode-only", lambda s: s["tokens"] == s["decodes"]),
                              ("with prefill", lambda s: s["tokens"] > s["decodes"])):
                v = [s for s in ms if sel(s) and ("busy", k) in s]
                if not v:
                    continue
                busy = [s[("busy", k)] for s in v]
                line = (f"  stage {k} {kind:12s} n={len(v):4d} device med {med(busy):8.3f} mean {mean(busy):8.3f}")
                if m in coef:
                    c = coef[m][k]
                    pred = [c[0] + c[1] * (s["tokens"] - s["decodes"]) + c[2] * s["decodes"] + c[3] * s["ctx"] +
                            c[4] * s["pairs"] for s in v]
                    ratio = [b / p for b, p in zip(busy, pred) if p > 0]
                    line += (f" | profile med {med(pred):8.3f} mean {mean(pred):8.3f}"
                             f" | live/profile med {statistics.median(ratio):5.2f} sum {sum(busy) / sum(pred):5.2f}")
                print(line)
            w = [s[("wait", k)] for s in ms if ("wait", k) in s]
            wo = [s[("wait_other", k)] for s in ms if ("wait_other", k) in s]
            print(f"  stage {k} wait on the device: mean {mean(w):.3f} (behind the other model: mean {mean(wo):.3f}, "
                  f"{sum(1 for x in wo if x > 0)} steps)")
        hop0 = [s[("submit", 0)] - s["plan"] for s in ms if ("submit", 0) in s]
        comp = [s[("done", k)] - s[("device", k)] for s in ms for k in range(pp) if ("done", k) in s]
        mid = [s[("submit", k + 1)] - s[("done", k)] for s in ms for k in range(pp - 1) if ("submit", k + 1) in s]
        back = [s["result"] - s[("device", pp - 1)] for s in ms if ("device", pp - 1) in s]
        rt = [s["result"] - s["plan"] for s in ms]
        dev = [sum(s[("busy", k)] for k in range(pp)) for s in ms if all(("busy", k) in s for k in range(pp))]
        print(f"  hops mean: group->stage0 {mean(hop0):.3f}, device->stage actor {mean(comp):.3f}, "
              f"stage->stage {mean(mid):.3f}, last device->group {mean(back):.3f}")
        print(f"  step plan->result mean {mean(rt):.3f} (device time of all stages mean {mean(dev):.3f})")
        gaps = []
        for prev, nxt in zip(ms, ms[1:]):
            if nxt["plan"] >= prev["result"] and nxt["plan"] - prev["result"] < 0.5:
                gaps.append(nxt["plan"] - prev["result"])
        print(f"  result -> next plan (< 0.5 s): mean {mean(gaps):.3f}, med {med(gaps):.3f}")
    # device utilisation and overlap
    t0 = min(s["plan"] for s in steps.values())
    t1 = max(s["result"] for s in steps.values())
    iv = {k: sorted((s[("start", k)], s[("device", k)]) for s in steps.values() if ("start", k) in s) for k in range(pp)}
    print(f"\nspan {t1 - t0:.3f} s")
    for k in range(pp):
        busy = sum(b - a for a, b in iv[k])
        both = 0.0
        for a, b in iv[k]:
            for j in range(pp):
                if j == k:
                    continue
                for c, d in iv[j]:
                    if c < b and d > a:
                        both += min(b, d) - max(a, c)
        print(f"  stage {k}: device busy {busy:.3f} s ({busy / (t1 - t0):.2f} of the span), "
              f"while another stage computed {both:.3f} s ({both / busy if busy else 0:.2f} of its busy time)")



if __name__ == "__main__":
    main()
