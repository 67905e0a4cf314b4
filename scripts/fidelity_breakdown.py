#!/usr/bin/env python3
"""Per-request breakdown of live vs simulated generation records (README "Fidelity: live replay vs
`replay --simulate`"): for the ids that are ok in both, the medians per model of
queue (arrival -> admission: `dispatch`/`start` - arrival), admission -> first token, TTFT and TPOT.
Usage: fidelity_breakdown.py LIVE_RECORDS.csv SIM_RECORDS.csv"""
import csv
import statistics
import sys


def load(path):
    with open(path, newline="") as f:
        return {r["id"]: r for r in csv.DictReader(f)}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    live, sim = load(sys.argv[1]), load(sys.argv[2])
    rows = []
    for i, l in live.items():
        s = sim.get(i)
        if not s or l["status"] != "ok" or s["status"] != "ok" or float(l.get("first_token", -1)) < 0:
            continue
        x = lambda r, k: float(r[k])
        rows.append((l["model"],
                     (x(l, "dispatch") - x(l, "arrival")) * 1e3, (x(s, "start") - x(s, "arrival")) * 1e3,
                     (x(l, "first_token") - x(l, "dispatch")) * 1e3, (x(s, "first_token") - x(s, "start")) * 1e3,
                     (x(l, "first_token") - x(l, "arrival")) * 1e3, (x(s, "first_token") - x(s, "arrival")) * 1e3,
                     x(l, "tpot") * 1e3, x(s, "tpot") * 1e3))
    if not rows:
        sys.exit("no request is ok in both files")
    print(f"{'model':12s} {'n':>3s}  queue live/sim (ms)  admit->first live/sim  ttft live/sim  tpot live/sim")
    for m in sorted({r[0] for r in rows}) + ["all"]:
        sel = [r for r in rows if m in ("all", r[0])]
        med = lambda j: statistics.median(r[j] for r in sel)
        print(f"{m:12s} {len(sel):3d}  {med(1):8.2f} / {med(2):8.2f}  {med(3):9.2f} / {med(4):9.2f}"
              f"  {med(5):7.2f} / {med(6):7.2f}  {med(7):6.2f} / {med(8):6.2f}")


if __name__ == "__main__":
    main()
