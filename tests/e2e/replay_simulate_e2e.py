#!/usr/bin/python3
"""Black-box: `switchyard replay --simulate` hands the same trace to the simulator on the config's placement and
writes the same per-request CSV and summary JSON as a live `switchyard replay` of that trace (one row per
request, same columns, same summary keys, groups named as the runtime names them); bad combinations exit 2.
The simulator's mode comes from the deployment (greedy batching -> batching up to its max_batch; none ->
swapping, batch 1), `--sim-mode` overrides it, and an analytic GPU profile for the cpu deployment is refused
unless --force (issue 11 §3); `simulate -c` does the same.

Usage: replay_simulate_e2e.py --bin PATH/switchyard
"""
import argparse
import csv
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_e2e as base  # noqa: E402
from ingress_e2e import check, run  # noqa: E402

MODELS = ["tiny-gpt", "small-gpt", "tiny-bert", "small-bert"]  # the embedded default's models


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    base.BIN = ap.parse_args().bin
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as d:
        trace = os.path.join(d, "t.csv")
        n = 120
        with open(trace, "w") as f:
            f.write("arrival_s,model,input_tokens,slo_ms\n")
            for i in range(n):
                f.write("%.3f,%s,%d,2000\n" % (i * 0.01, MODELS[i % 4], 4 + i % 8))
        out = {}
        for kind, extra in (("sim", ["--simulate", "--hardware", "V100-16GB", "--force", "--time-scale", "2"]),
                            ("live", ["--time-scale", "2"])):
            rec, summ = os.path.join(d, kind + ".csv"), os.path.join(d, kind + ".json")
            rc, o, err = run(["replay", "--trace", trace, "--records", rec, "--summary", summ, "--no-progress", *extra])
            check(rc == 0, "%s replay: rc %d %s" % (kind, rc, err))
            with open(rec) as f:
                rows = list(csv.DictReader(f))
            with open(rec) as f:
                header = f.readline().strip()
            out[kind] = (header, rows, json.load(open(summ)))
        (sh, srows, ss), (lh, lrows, ls) = out["sim"], out["live"]
        check(sh == lh == "id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait,new_tokens,first_token,tpot", "same CSV header")
        check(len(srows) == len(lrows) == n, "one row per request: %d simulated, %d live" % (len(srows), len(lrows)))
        # The simulator also records the SLO scale it used for models without slo_ms (a live run has none).
        check(ss.get("slo_scale") == 5 and "slo_scale" not in ls, "slo_scale: %r / %r" % (ss.get("slo_scale"), ls))
        check(sorted(set(ss) - {"slo_scale"}) == sorted(ls), "same summary keys: %s vs %s" % (sorted(ss), sorted(ls)))
        check(ss["untrimmed_requests"] == ls["untrimmed_requests"] == n, "untrimmed counts: %r" % ss)
        check(sorted(ss["overall"]) == sorted(ls["overall"]), "same overall fields")
        check([m["name"] for m in ss["models"]] == [m["name"] for m in ls["models"]] == MODELS, "same per-model entries")
        check(ss["overall"]["requests"] == n and ss["unanswered"] == 0, "simulated: every request: %r" % ss["overall"])
        check(ss["overall"]["ok"] > 0, "simulated requests served: %r" % ss["overall"])
        # The simulated arrivals follow the time scale like the live sends (the trace spans 1.19 s, halved).
        check(abs(float(srows[-1]["arrival"]) - 1.19 / 2) < 1e-6, "time-scaled: %s" % srows[-1]["arrival"])
        sgroups = {r["group"] for r in srows if r["status"] == "ok"}
        lgroups = {r["group"] for r in lrows if r["status"] == "ok"}
        check(sgroups and sgroups <= {"decoders", "encoders"} and lgroups <= {"decoders", "encoders"},
              "groups named as the runtime names them: %r / %r" % (sgroups, lgroups))
        print("simulated %r, live %r" % (ss["overall"]["p50_s"], ls["overall"]["p50_s"]))
        rc, o, err = run(["replay", "--simulate", "--trace", trace, "--no-progress"])
        check(rc == 2 and "--profile" in err and "--hardware" in err, "no profile: rc %d %s" % (rc, err))
        rc, o, err = run(["replay", "--simulate", "--hardware", "V100-16GB", "--target", "127.0.0.1:1", "--trace",
                          trace, "--no-progress"])
        check(rc == 2 and "exclude each other" in err, "--simulate with --target: rc %d %s" % (rc, err))
        rc, o, err = run(["replay", "--simulate", "--hardware", "V100-16GB", "--sim-mode", "fast", "--trace", trace,
                          "--no-progress"])
        check(rc == 2 and "fast" in err, "bad --sim-mode: rc %d %s" % (rc, err))
        # A V100 profile says nothing about cpu devices: refused without --force.
        rc, o, err = run(["replay", "--simulate", "--hardware", "V100-16GB", "--trace", trace, "--no-progress"])
        check(rc == 2 and "--hardware V100-16GB: expected a profile for the deployment's cpu devices, found one for "
              "V100-16GB (kind cuda)" in err and "--force" in err, "analytic profile for cpu: rc %d %s" % (rc, err))
        # The mode follows the deployment: the embedded default batches greedily up to 8.
        burst = os.path.join(d, "burst.csv")
        with open(burst, "w") as f:  # 64 requests of one model at once: batches form
            f.write("arrival_s,model,input_tokens,slo_ms\n" + "".join("0.0,tiny-gpt,4,100000\n" for _ in range(64)))
        for cfg_text, mode_flag, expect_log, max_b in (
                (None, [], "mode batching (from the deployment: batching greedy max_batch 8), batches up to 8", 8),
                ("batching: {name: greedy, max_batch: 2}", [], "batching greedy max_batch 2), batches up to 2", 2),
                ("batching: none", [], "mode swapping (from the deployment: batching none, eviction lru)", 1),
                ("batching: none", ["--sim-mode", "batching"], "mode batching (--mode), batches up to 16", 16)):
            args = ["--log-level", "info", "replay", "--simulate", "--hardware", "V100-16GB", "--force", "--trace",
                    burst, "--records", os.path.join(d, "b.csv"), "--no-progress", *mode_flag]
            if cfg_text:
                text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs",
                                         "local.yaml")).read()
                text = text.replace("batching: {name: greedy, max_batch: 8}", cfg_text)
                cpath = os.path.join(d, "c.yaml")
                with open(cpath, "w") as f:
                    f.write(text)
                args += ["-c", cpath]
            rc, o, err = run(args)
            check(rc == 0 and expect_log in err, "mode from the deployment (%s %s): rc %d %s" % (cfg_text, mode_flag,
                                                                                              rc, err[-1500:]))
            sizes = [int(r["batch_size"]) for r in csv.DictReader(open(os.path.join(d, "b.csv")))]
            check(max(sizes) == max_b, "largest simulated batch %d == %d (%s %s)" % (max(sizes), max_b, cfg_text,
                                                                                  mode_flag))
            print("%s %s: largest batch %d" % (cfg_text or "embedded default", " ".join(mode_flag), max(sizes)))
    print("e2e replay --simulate: passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
