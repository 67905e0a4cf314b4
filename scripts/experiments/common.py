"""Shared helpers of the placement experiments: run `switchyard plan` + `switchyard simulate`, collect numbers.

Each experiment plans on a synthetic trace (seed 0) and evaluates the plan on a fresh trace of the same process
(seed 1), as AlpaServe plans on a training workload and evaluates on the test one. Run with /usr/bin/python3.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def binary():
    for cand in (os.environ.get("SWITCHYARD"), os.path.join(ROOT, "build", "apps", "switchyard")):
        if cand and os.path.exists(cand):
            return cand
    sys.exit("switchyard binary not found: build it (cmake --build build --target switchyard) or set SWITCHYARD")


def run_point(policy, devices, models, rate, cv, slo_scale, duration=60, mem_budget_gib=13, mode="compat",
              overcommit=4, hardware="V100-16GB", threads=2):
    """Plans with `policy` and returns the simulated (trimmed) SLO attainment on a fresh trace."""
    exe = binary()
    workload = ["--hardware", hardware, "--models", models, "--rate", str(rate), "--cv", str(cv),
                "--duration", str(duration), "--slo-scale", str(slo_scale)]
    with tempfile.TemporaryDirectory() as tmp:
        plan = os.path.join(tmp, "plan.yaml")
        summary = os.path.join(tmp, "summary.json")
        subprocess.run([exe, "--log-level", "warn", "plan", *workload, "--seed", "0", "--policy", policy,
                        "--devices", str(devices), "--mem-budget-gib", str(mem_budget_gib), "--threads", str(threads),
                        "--overcommit", str(overcommit), "-o", plan], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([exe, "--log-level", "warn", "simulate", *workload, "--seed", "1", "--plan", plan,
                        "--mode", mode, "--mem-budget-gib", str(mem_budget_gib), "--summary", summary],
                       check=True, stdout=subprocess.DEVNULL)
        with open(summary) as f:
            return json.load(f)["overall"]["attainment"]


def sweep(name, xlabel, xs, policies, point, out_dir):
    """point(policy, x) -> attainment. Writes <out_dir>/<name>.csv and .png; returns the rows."""
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for x in xs:
        row = {xlabel: x}
        for p in policies:
            row[p] = point(p, x)
            print(f"{name}: {xlabel}={x} {p}: {row[p]:.4f}", flush=True)
        rows.append(row)
    path = os.path.join(out_dir, name + ".csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[xlabel, *policies])
        w.writeheader()
        w.writerows(rows)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for p in policies:
            ax.plot(xs, [r[p] for r in rows], marker="o", label=p)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("SLO attainment")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(name, fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, name + ".png"), dpi=120)
        plt.close(fig)
    except ImportError:
        print("matplotlib missing: CSV only", file=sys.stderr)
    return rows
