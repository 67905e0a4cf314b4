#!/usr/bin/env python3
"""CTest (label reference): Hugging Face checkpoints served as they are equal transformers (issue 8).

For each family, hf_models.py writes a seeded checkpoint with transformers' save_pretrained (f32, and f16/bf16
files, and a sharded one), `switchyard run-model --model DIR` runs the folder unsplit and tp 2 / pp 2 /
tp 2 x pp 2 on the cpu backend, and transformers runs the same folder: max |diff| / max |ref| must be below
1e-4 for f32 files, 2e-2 for f16 and 5e-2 for bf16 (the engine computes in the file's dtype).
usage: check_hf_models.py <switchyard executable> <work dir> [family ...]
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
TOL = {"f32": 1e-4, "f16": 2e-2, "bf16": 5e-2}
# (family, file dtype, shard size, splits)
CASES = [
    ("gpt2", "f32", "", [(1, 1), (2, 1), (1, 2), (2, 2)]),
    ("opt", "f32", "", [(1, 1), (2, 2)]),
    ("opt-post-ln", "f32", "", [(1, 1), (2, 1)]),
    ("llama", "f32", "", [(1, 1), (2, 1), (1, 2), (2, 2)]),
    ("llama", "f32", "40KB", [(1, 2)]),
    ("llama-scaled", "f32", "", [(1, 1)]),
    ("qwen2", "f32", "", [(1, 1), (2, 2)]),
    ("mistral", "f32", "", [(1, 1)]),
    ("bert", "f32", "", [(1, 1), (2, 1), (1, 2), (2, 2)]),
    ("bert-mlm", "f32", "", [(1, 1)]),
    ("gpt2", "f16", "", [(1, 1)]),
    ("llama", "bf16", "", [(2, 1)]),
    ("bert", "bf16", "", [(1, 1)]),
]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def main():
    exe, work = sys.argv[1], sys.argv[2]
    only = set(sys.argv[3:])
    os.makedirs(work, exist_ok=True)
    helptext = run([exe, "run-model", "--help"])
    has_pooling = "--pooling" in helptext
    batch, n = 2, 9
    tokens = ",".join(str((i * 37 + 5) % 100) for i in range(batch * n))
    failures = 0
    for family, dtype, shard, splits in CASES:
        if only and family not in only:
            continue
        d = os.path.join(work, f"{family}-{dtype}{'-sharded' if shard else ''}")
        if not os.path.isdir(d):
            args = [PY, os.path.join(HERE, "hf_models.py"), "make", "--family", family, "--out", d, "--dtype", dtype,
                    "--seed", "3"]
            run(args + (["--shard-size", shard] if shard else []))
        encoder = family.startswith("bert")
        poolings = ["pooler", "mean-normalized"] if encoder and has_pooling and family == "bert" else \
            (["pooler"] if encoder and family == "bert" else ["cls"] if encoder else [None])
        if family == "bert-mlm" and not has_pooling:
            print(f"{family} {dtype}: skipped (run-model has no --pooling: a BertForMaskedLM has no pooler)")
            continue
        for pooling in poolings:
            ref = os.path.join(d, f"ref-{pooling}.npy")
            extra = ["--pooling", pooling] if pooling and has_pooling else []
            run([PY, os.path.join(HERE, "hf_models.py"), "run", "--dir", d, "--tokens", tokens, "--batch", str(batch),
                 "--output", ref] + (["--pooling", pooling] if pooling else []))
            b = np.load(ref)
            for tp, pp in splits:
                ours = os.path.join(d, f"ours-{pooling}-tp{tp}-pp{pp}.npy")
                run([exe, "run-model", "--model", d, "--tp", str(tp), "--pp", str(pp), "--backend", "cpu",
                     "--tokens", tokens, "--batch", str(batch), "--output", ours] + extra)
                a = np.load(ours)
                diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
                scale = float(np.max(np.abs(b)))
                rel = diff / scale if scale > 0 else float("inf")
                ok = a.shape == b.shape and rel < TOL[dtype] and scale > 1e-3
                print(f"{family} {dtype}{' sharded' if shard else ''}{' ' + pooling if pooling else ''} tp={tp} "
                      f"pp={pp}: shape {a.shape} vs {b.shape}, max |diff| {diff:.2e}, relative {rel:.2e} "
                      f"(< {TOL[dtype]:.0e}) -> {'ok' if ok else 'MISMATCH'}", flush=True)
                failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
