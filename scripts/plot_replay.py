#!/usr/bin/python3
"""Plots of a replay (or simulation): latency CDF and SLO attainment over time, as PNG.

Usage: scripts/plot_replay.py RECORDS.csv OUT_DIR [--window 1.0]
RECORDS.csv has the header arrival,dispatch,start,finish,status,group,batch_size,load_wait.
Writes OUT_DIR/latency_cdf.png and OUT_DIR/attainment_over_time.png.
"""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("records")
    ap.add_argument("out_dir")
    ap.add_argument("--window", type=float, default=1.0, help="seconds per attainment bucket")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.records)))
    os.makedirs(a.out_dir, exist_ok=True)
    lat = sorted(float(r["finish"]) - float(r["arrival"]) for r in rows if r["status"] == "ok")

    fig, ax = plt.subplots(figsize=(6, 4))
    if lat:
        ys = [(i + 1) / len(rows) for i in range(len(lat))]
        ax.plot([x * 1e3 for x in lat], ys)
    ax.set_xlabel("latency (ms), ok requests")
    ax.set_ylabel("fraction of all requests")
    ax.set_title("latency CDF (%d requests, %d ok)" % (len(rows), len(lat)))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "latency_cdf.png"), dpi=100)
    plt.close(fig)

    buckets = {}
    for r in rows:
        b = int(float(r["arrival"]) // a.window)
        ok, n = buckets.get(b, (0, 0))
        buckets[b] = (ok + (r["status"] == "ok"), n + 1)
    xs = sorted(buckets)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([x * a.window for x in xs], [buckets[x][0] / buckets[x][1] for x in xs], marker=".")
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
