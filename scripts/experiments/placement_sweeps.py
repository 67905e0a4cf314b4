#!/usr/bin/python3
"""S1-like (48 x bert-1.3b) and S2-like (48 x bert-6.7b) on the analytic V100 profile: SLO attainment of
mp-search, sr-greedy and sr-replace (Clockwork++) against the number of devices, rate scale, CV scale and SLO
scale (AlpaServe Fig. 12-style sweeps on synthetic Gamma / power-law traces).

usage: /usr/bin/python3 scripts/experiments/placement_sweeps.py [--quick] [--out results/placement]
"""
import argparse

from common import run_point, sweep

POLICIES = ["mp-search", "sr-greedy", "sr-replace-20"]
SETS = {
    # name: (models, default devices, default total rate)
    "S1": ("bert-1.3b:48", 32, 250),
    "S2": ("bert-6.7b:48", 64, 100),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer points, shorter traces")
    ap.add_argument("--out", default="results/placement")
    ap.add_argument("--sets", default="S1,S2")
    a = ap.parse_args()
    dur = 30 if a.quick else 60
    for s in a.sets.split(","):
        models, dev0, rate0 = SETS[s]
        cv0, slo0 = 4, 5

        def at(p, devices=dev0, rate=rate0, cv=cv0, slo=slo0):
            return run_point(p, devices, models, rate, cv, slo, duration=dur)

        devs = [16, 32, 48, 64] if not a.quick else [16, 32, 64]
        scales = [0.5, 1, 1.5, 2] if not a.quick else [0.5, 1, 2]
        sweep(f"{s}_devices", "devices", devs, POLICIES, lambda p, x: at(p, devices=x), a.out)
        sweep(f"{s}_rate_scale", "rate_scale", scales, POLICIES, lambda p, x: at(p, rate=rate0 * x), a.out)
        sweep(f"{s}_cv_scale", "cv_scale", scales, POLICIES, lambda p, x: at(p, cv=cv0 * x), a.out)
        sweep(f"{s}_slo_scale", "slo_scale", [2.5, 5, 7.5, 10] if not a.quick else [2.5, 5, 10], POLICIES,
              lambda p, x: at(p, slo=x), a.out)


if __name__ == "__main__":
    main()
