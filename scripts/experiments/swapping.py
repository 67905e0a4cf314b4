#!/usr/bin/python3
"""Swapping: SLO attainment against the number of models when their weights exceed the cluster's GPU memory.
mp-search (compat: a model that does not fit is not served) vs swap-aware (ours: groups host more models than
fit and swap them, simulated with pipelined loads and LRU eviction). 8 V100s, bert-1.3b copies, fixed total rate.

usage: /usr/bin/python3 scripts/experiments/swapping.py [--quick] [--out results/swapping]
"""
import argparse

from common import run_point, sweep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="results/swapping")
    a = ap.parse_args()
    devices, rate = 8, 40
    counts = [20, 40, 60, 80, 120, 160] if not a.quick else [20, 80]
    dur = 60 if not a.quick else 30

    def point(policy, n):
        mode = "swapping" if policy == "swap-aware" else "compat"
        return run_point(policy, devices, f"bert-1.3b:{n}", rate, 1, 10, duration=dur, mode=mode)

    sweep("swap_models", "models", counts, ["mp-search", "swap-aware"], point, a.out)


if __name__ == "__main__":
    main()
