#!/usr/bin/python3
"""Black-box: `switchyard replay --simulate` hands the same trace to the simulator on the config's placement and
writes the same per-request CSV and summary JSON as a live `switchyard replay` of that trace (one row per
request, same columns, same summary keys, groups named as the runtime names them); bad combinations exit 2.

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
        for kind, extra in (("sim", ["--simulate", "--hardware", "V100-16GB", "--time-scale", "2"]),
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
        check(sh == lh == "id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait", "same CSV header")
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
    print("e2e replay --simulate: passed in %.1f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
