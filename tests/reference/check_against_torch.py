#!/usr/bin/env python3
"""CTest: the engine's cpu backend agrees with the independent PyTorch implementation.

For tiny-gpt and tiny-bert (and a tp=2 x pp=2 split, and f16/bf16 weight files): `switchyard init-weights`
writes a safetensors file, `switchyard run-model --output` runs it through the engine, torch_reference.py
runs the same file, and the two .npy outputs must agree within fp32 tolerance.
usage: check_against_torch.py <switchyard executable> <work dir>
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = {
    "tiny-gpt": dict(arch="decoder", layers=4, hidden=64, heads=4, ffn=256, vocab=512, max_seq=64),
    "tiny-bert": dict(arch="encoder", layers=4, hidden=64, heads=4, ffn=256, vocab=512, max_seq=64),
}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    tokens = ",".join(str((i * 7919 + 13) % 512) for i in range(3 * 11))  # 3 sequences of 11 tokens
    failures = 0
    for model, spec in SPECS.items():
        for dtype, tp, pp in (("f32", 1, 1), ("f32", 2, 2), ("f16", 1, 2), ("bf16", 4, 1)):
            w = os.path.join(work, f"{model}-{dtype}.safetensors")
            ours = os.path.join(work, f"{model}-{dtype}-tp{tp}-pp{pp}.npy")
            ref = os.path.join(work, f"{model}-{dtype}-torch.npy")
            run([exe, "init-weights", "--model", model, "--seed", "7", "--dtype", dtype, "--output", w])
            run([exe, "run-model", "--model", model, "--weights", w, "--tp", str(tp), "--pp", str(pp),
                 "--backend", "cpu", "--tokens", tokens, "--batch", "3", "--output", ours])
            args = [a for k, v in spec.items() for a in ("--" + k.replace("_", "-"), str(v))]
            run(["/usr/bin/python3", os.path.join(HERE, "torch_reference.py"), "run", "--weights", w, *args,
                 "--tokens", tokens, "--batch", "3", "--output", ref])
            a, b = np.load(ours), np.load(ref)
            diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
            scale = float(np.max(np.abs(b)))
            ok = a.shape == b.shape and diff <= 1e-4 + 1e-4 * scale and scale > 1e-3
            print(f"{model} {dtype} tp={tp} pp={pp}: shape {a.shape} vs {b.shape}, max |diff| {diff:.2e}, "
                  f"max |ref| {scale:.3f} -> {'ok' if ok else 'MISMATCH'}")
            failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
