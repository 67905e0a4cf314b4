#!/usr/bin/python3
"""Plots of a replay (or simulation): latency CDFs and SLO attainment over time, per model, as PNG.

Usage: scripts/plot_replay.py RECORDS.csv OUT_DIR [--window 1.0] [--summary SUMMARY.json]
RECORDS.csv is `replay --records` / `simulate --records` (header id,model,arrival,dispatch,start,finish,
status,reason,group,batch_size,load_wait[,new_tokens,first_token,tpot]; the older header without id, model and reason still works and
gives the overall curves only). SUMMARY.json (`--summary` of the same run) adds each model's SLO as a
dashed line in the CDF where it names one (`slo_s`).
Writes OUT_DIR/latency_cdf.png and OUT_DIR/attainment_over_time.png.
"""
import argparse
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def cdf(ax, rows, label, color=None):
    lat = sorted(float(r["finish"]) - float(r["arrival"]) for r in rows if r["status"] == "ok")
    if lat:
        ys = [(i + 1) / len(rows) for i in range(len(lat))]
        ax.plot([x * 1e3 for x in lat], ys, label="%s (%d/%d ok)" % (label, len(lat), len(rows)), color=color)
    return len(lat)


def attainment(ax, rows, window, label, color=None, **kw):
    buckets = {}
    for r in rows:
        b = int(float(r["arrival"]) // window)
        ok, n = buckets.get(b, (0, 0))
        buckets[b] = (ok + (r["status"] == "ok"), n + 1)
    xs = sorted(buckets)
    ax.plot([x * window for x in xs], [buckets[x][0] / buckets[x][1] for x in xs], label=label, color=color, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("records")
    ap.add_argument("out_dir")
    ap.add_argument("--window", type=float, default=1.0, help="seconds per attainment bucket")
    ap.add_argument("--summary", help="summary JSON of the same run (models' slo_s for the SLO lines)")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.records)))
    os.makedirs(a.out_dir, exist_ok=True)
    slo = {}
    if a.summary:
        for m in json.load(open(a.summary)).get("models", []):
            if m.get("slo_s"):
                slo[m["name"]] = float(m["slo_s"])
    by_model = {}
    if rows and "model" in rows[0]:
        for r in rows:
            by_model.setdefault(r["model"] or "(unknown)", []).append(r)
    per_model = len(by_model) > 1
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color = {m: colors[i % len(colors)] for i, m in enumerate(sorted(by_model))}

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ok = cdf(ax, rows, "all", color="black")
    if per_model:
        for m in sorted(by_model):
            cdf(ax, by_model[m], m, color[m])
    for m, s in sorted(slo.items()):
        ax.axvline(s * 1e3, linestyle="--", linewidth=1, color=color.get(m, "gray"), label="SLO %s" % m)
    ax.set_xlabel("latency (ms), ok requests")
    ax.set_ylabel("fraction of the model's requests")
    ax.set_title("latency CDF (%d requests, %d ok)" % (len(rows), ok))
    ax.grid(True, alpha=0.3)
    if per_model or slo:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "latency_cdf.png"), dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    attainment(ax, rows, a.window, "all", color="black", marker=".")
    if per_model:
        for m in sorted(by_model):
            attainment(ax, by_model[m], a.window, m, color[m], linewidth=1)
        ax.legend(fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("SLO attainment per %.3g s" % a.window)
    ax.set_title("attainment over time")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "attainment_over_time.png"), dpi=100)
    plt.close(fig)
    print(os.path.join(a.out_dir, "latency_cdf.png"))
    print(os.path.join(a.out_dir, "attainment_over_time.png"))


if __name__ == "__main__":
    main()
