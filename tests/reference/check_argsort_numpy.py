#!/usr/bin/env python3
"""sy::policies::numpy_argsort against numpy.argsort (Debian's numpy 1.24, default kind) on arrays full of ties.

usage: check_argsort_numpy.py TOOL   (TOOL = the built numpy_argsort_tool)
Exit 0 when every array's index order is identical, 1 with the first differing arrays otherwise.
"""
import subprocess
import sys

import numpy as np


def cases(rng):
    sizes = list(range(0, 70)) + [96, 100, 127, 128, 129, 200, 255, 256, 257, 1000, 4096]
    for n in sizes:
        for distinct in (1, 2, 3, 5, n // 4 + 1, n + 1):
            ints = rng.integers(0, max(distinct, 1), size=n)
            yield "i", ints.astype(np.int64)
            # float64 ties: AlpaServe's unserved = requests * (1 - good / (requests + 1e-6))
            req = rng.integers(0, max(distinct, 1), size=n).astype(np.float64)
            good = np.minimum(req, rng.integers(0, 3, size=n))
            yield "f", req * (1 - good / (req + 1e-6))
    for n in (17, 33, 64, 100, 1000):
        base = np.arange(n, dtype=np.int64)
        yield "i", base                           # sorted
        yield "i", base[::-1].copy()              # reversed
        yield "i", np.minimum(base, n - 1 - base)  # organ pipe
        yield "i", base % 7                       # sawtooth
        yield "f", np.where(base % 3 == 0, np.nan, (base % 4) * 0.5)  # NaNs sort last
        yield "f", np.where(base % 2 == 0, -0.0, 0.0)  # -0.0 == 0.0 ties


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    rng = np.random.default_rng(20240611)
    arrays = list(cases(rng))
    lines = []
    for kind, a in arrays:
        vals = [repr(float(x)) if kind == "f" else str(int(x)) for x in a]
        lines.append(" ".join([kind] + vals))
    out = subprocess.run([sys.argv[1]], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    got = out.stdout.split("\n")
    bad = 0
    for i, (kind, a) in enumerate(arrays):
        want = " ".join(str(int(x)) for x in np.argsort(a))
        if got[i] != want:
            bad += 1
            if bad <= 3:
                print(f"array {i} ({kind}, n={len(a)}): {a.tolist()}\n  numpy: {want}\n  ours:  {got[i]}")
    ties = sum(len(a) - len(np.unique(a)) for _, a in arrays)
    # The cases must tell numpy's order from a stable one, or this check could not fail for a stable sort.
    unstable = sum(not np.array_equal(np.argsort(a), np.argsort(a, kind="stable")) for _, a in arrays)
    print(f"numpy {np.__version__}: {len(arrays) - bad}/{len(arrays)} arrays in numpy's order "
          f"({ties} tied elements; {unstable} arrays where a stable sort orders them differently)")
    if unstable == 0:
        print("no case tells numpy's order from a stable sort")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
