#!/usr/bin/env python3
"""Per-request breakdown of live vs simulated replay records of the same trace (README "Fidelity on cpu
devices"). Records are matched by id.

Generation records (first_token >= 0): for the ids that are ok in both, the medians per model of queue
(arrival -> admission: `dispatch`/`start` - arrival), admission -> first token, TTFT and TPOT.

One-pass records: per model, attainment (ok / requests) live and simulated, and for the ids ok in both the
medians of queue (arrival -> start: live, the server's batch start; simulated, stage 0's start), service
(start -> finish), latency and the mean batch size; then the ids whose status differs, counted by
(model, live status, simulated status).

Usage: fidelity_breakdown.py LIVE_RECORDS.csv SIM_RECORDS.csv"""
import collections
import csv
import statistics
import sys


def load(path):
    with open(path, newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def x(r, k):
    return float(r[k])


def generation(live, sim):
    rows = []
    for i, l in live.items():
        s = sim.get(i)
        if not s or l["status"] != "ok" or s["status"] != "ok" or x(l, "first_token") < 0:
            continue
        rows.append((l["model"],
                     (x(l, "dispatch") - x(l, "arrival")) * 1e3, (x(s, "start") - x(s, "arrival")) * 1e3,
                     (x(l, "first_token") - x(l, "dispatch")) * 1e3, (x(s, "first_token") - x(s, "start")) * 1e3,
                     (x(l, "first_token") - x(l, "arrival")) * 1e3, (x(s, "first_token") - x(s, "arrival")) * 1e3,
                     x(l, "tpot") * 1e3, x(s, "tpot") * 1e3))
    if not rows:
        return False
    print("generation requests ok in both")
    print(f"{'model':12s} {'n':>3s}  queue live/sim (ms)  admit->first live/sim  ttft live/sim  tpot live/sim")
    for m in sorted({r[0] for r in rows}) + ["all"]:
        sel = [r for r in rows if m in ("all", r[0])]
        med = lambda j: statistics.median(r[j] for r in sel)
        print(f"{m:12s} {len(sel):3d}  {med(1):8.2f} / {med(2):8.2f}  {med(3):9.2f} / {med(4):9.2f}"
              f"  {med(5):7.2f} / {med(6):7.2f}  {med(7):6.2f} / {med(8):6.2f}")
    return True


def one_pass(live, sim):
    ids = [i for i, l in live.items() if i in sim and x(l, "first_token") < 0 and int(l.get("new_tokens") or 0) == 0]
    if not ids:
        return False
    models = sorted({live[i]["model"] for i in ids})
    print("one-pass requests: attainment live / sim; medians (ms) over the ids ok in both")
    print(f"{'model':12s} {'n':>4s} {'attain live/sim':>16s} {'both ok':>7s}  {'queue live/sim':>15s}"
          f"  {'service live/sim':>17s}  {'latency live/sim':>17s}  {'batch live/sim':>14s}")
    for m in models + ["all"]:
        sel = [i for i in ids if m in ("all", live[i]["model"])]
        ok_l = sum(live[i]["status"] == "ok" for i in sel) / len(sel)
        ok_s = sum(sim[i]["status"] == "ok" for i in sel) / len(sel)
        both = [i for i in sel if live[i]["status"] == "ok" and sim[i]["status"] == "ok"]
        if not both:
            print(f"{m:12s} {len(sel):4d} {ok_l:7.4f} / {ok_s:6.4f} {0:7d}")
            continue
        med = lambda f, r: statistics.median(f(r[i]) for i in both) * 1e3
        q = lambda r: x(r, "start") - x(r, "arrival")
        sv = lambda r: x(r, "finish") - x(r, "start")
        lat = lambda r: x(r, "finish") - x(r, "arrival")
        bl = statistics.mean(x(live[i], "batch_size") for i in both)
        bs = statistics.mean(x(sim[i], "batch_size") for i in both)
        print(f"{m:12s} {len(sel):4d} {ok_l:7.4f} / {ok_s:6.4f} {len(both):7d}  {med(q, live):6.1f} / {med(q, sim):6.1f}"
              f"  {med(sv, live):7.1f} / {med(sv, sim):7.1f}  {med(lat, live):7.1f} / {med(lat, sim):7.1f}"
              f"  {bl:5.2f} / {bs:5.2f}")
    diff = collections.Counter((live[i]["model"], live[i]["status"], sim[i]["status"])
                               for i in ids if live[i]["status"] != sim[i]["status"])
    print("status differs (model: live -> sim: count):",
          ", ".join(f"{m}: {a} -> {b}: {n}" for (m, a, b), n in sorted(diff.items())) or "none")
    return True


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    live, sim = load(sys.argv[1]), load(sys.argv[2])
    found = one_pass(live, sim)
    found = generation(live, sim) or found
    if not found:
        sys.exit("no request id is in both files")


if __name__ == "__main__":
    main()
