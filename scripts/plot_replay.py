#!/usr/bin/python3
"""Plots of a replay (or simulation): latency CDFs and SLO attainment over time, per model, as PNG.

Usage: scripts/plot_replay.py RECORDS.csv OUT_DIR [--window 1.0] [--summary SUMMARY.json]
                              [--gen-slo MODEL=TTFT_S,TPOT_S ...]
RECORDS.csv is `replay --records` / `simulate --records` (header id,model,arrival,dispatch,start,finish,
status,reason,group,batch_size,load_wait[,new_tokens,first_token,tpot]; the older header without id, model and reason still works and
gives the overall curves only). SUMMARY.json (`--summary` of the same run) adds each model's SLO as a
dashed line in the CDF where it names one (`slo_s`).
Writes OUT_DIR/latency_cdf.png and OUT_DIR/attainment_over_time.png; when the records hold generations
(columns new_tokens, first_token, tpot; new_tokens > 0 or first_token >= 0) also OUT_DIR/generation_cdf.png:
TTFT (first_token - arrival) and TPOT CDFs of the ok generations per model, with each model's TTFT / TPOT SLO
(`--gen-slo`, seconds, 0 = none; `switchyard replay` passes the config's ttft_ms / tpot_ms) as dashed lines.
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


def is_generation(r):
    return "new_tokens" in r and (int(r["new_tokens"] or 0) > 0 or float(r["first_token"] or -1) >= 0)


def generation_cdfs(rows, out_dir, slos, colors):
    gen = [r for r in rows if is_generation(r)]
    if not gen:
        return None
    by_model = {}
    for r in gen:
        by_model.setdefault(r["model"] or "(unknown)", []).append(r)
    fig, (ax_ttft, ax_tpot) = plt.subplots(1, 2, figsize=(11, 4.5))
    for i, m in enumerate(sorted(by_model)):
        rs = [r for r in by_model[m] if r["status"] == "ok" and float(r["first_token"]) >= 0]
        color = colors[i % len(colors)]
        ttft = sorted((float(r["first_token"]) - float(r["arrival"])) * 1e3 for r in rs)
        tpot = sorted(float(r["tpot"]) * 1e3 for r in rs if int(r["new_tokens"]) > 1)
        for ax, xs in ((ax_ttft, ttft), (ax_tpot, tpot)):
            if xs:
                ax.plot(xs, [(k + 1) / len(xs) for k in range(len(xs))], color=color,
                        label="%s (%d ok of %d)" % (m, len(rs), len(by_model[m])))
        ttft_slo, tpot_slo = slos.get(m, (0, 0))
        if ttft_slo > 0:
            ax_ttft.axvline(ttft_slo * 1e3, linestyle="--", linewidth=1, color=color, label="TTFT SLO %s" % m)
        if tpot_slo > 0:
            ax_tpot.axvline(tpot_slo * 1e3, linestyle="--", linewidth=1, color=color, label="TPOT SLO %s" % m)
    for ax, what in ((ax_ttft, "time to first token (ms)"), (ax_tpot, "time per output token (ms)")):
        ax.set_xlabel(what + ", ok generations")
        ax.set_ylabel("fraction")
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    ax_ttft.set_title("TTFT CDF (%d generations)" % len(gen))
    ax_tpot.set_title("TPOT CDF")
    fig.tight_layout()
    path = os.path.join(out_dir, "generation_cdf.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def parse_gen_slo(items):
    out = {}
    for item in items or []:
        name, _, vals = item.rpartition("=")
        ttft, _, tpot = vals.partition(",")
        if not name or not tpot:
            raise SystemExit("--gen-slo: expected MODEL=TTFT_S,TPOT_S, found '%s'" % item)
        out[name] = (float(ttft), float(tpot))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("records")
    ap.add_argument("out_dir")
    ap.add_argument("--window", type=float, default=1.0, help="seconds per attainment bucket")
    ap.add_argument("--summary", help="summary JSON of the same run (models' slo_s for the SLO lines)")
    ap.add_argument("--gen-slo", action="append", help="MODEL=TTFT_S,TPOT_S: a generating model's SLOs (0: none)")
    a = ap.parse_args()
    gen_slo = parse_gen_slo(a.gen_slo)
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
    gen = generation_cdfs(rows, a.out_dir, gen_slo, colors)
    if gen:
        print(gen)


if __name__ == "__main__":
    main()
