#!/usr/bin/env python3
"""CTest: greedy `switchyard generate` equals transformers' generate(do_sample=False) token for token.

Seeded random GPT-2-shaped checkpoints (tests/reference/hf_generate.py export: transformers
GPT2LMHeadModel, untied head; the same weights under switchyard's names), prompts of different lengths in
one batch, unsplit, tp 2, pp 2 and tp 2 x pp 2; plus: each sequence alone gives the same tokens as in the
batch.
usage: check_generate.py <switchyard executable> <work dir>
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NEW = 12


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failures = 0
    for seed, sizes in ((1, ["--layers", "2", "--hidden", "64", "--heads", "4", "--ffn", "256"]),
                        (2, ["--layers", "4", "--hidden", "96", "--heads", "6", "--ffn", "192"])):
        d = os.path.join(work, f"gpt2-seed{seed}")
        run([sys.executable, os.path.join(HERE, "hf_generate.py"), "export", "--out", d, "--seed", str(seed), *sizes])
        lengths = [5, 17, 1, 9]
        tokens = [(i * 7919 + 13 + seed) % 512 for i in range(sum(lengths))]
        tok = ",".join(map(str, tokens))
        lens = ",".join(map(str, lengths))
        ref_path = os.path.join(d, "transformers.npy")
        run([sys.executable, os.path.join(HERE, "hf_generate.py"), "generate", "--hf", os.path.join(d, "hf"),
             "--tokens", tok, "--lengths", lens, "--new", str(NEW), "--output", ref_path])
        ref = np.load(ref_path)
        base = [exe, "generate", "--model", os.path.join(d, "spec.yaml"), "--weights",
                os.path.join(d, "switchyard.safetensors"), "--backend", "cpu", "--max-new-tokens", str(NEW),
                "--ignore-eos"]
        for tp, pp in ((1, 1), (2, 1), (1, 2), (2, 2)):
            ours_path = os.path.join(d, f"ours-tp{tp}-pp{pp}.npy")
            run(base + ["--tokens", tok, "--lengths", lens, "--tp", str(tp), "--pp", str(pp),
                        "--token-budget", "16", "--output", ours_path])
            ours = np.load(ours_path)
            ok = ours.shape == ref.shape and ours.dtype == np.int64 and np.array_equal(ours, ref)
            print(f"seed {seed} tp={tp} pp={pp}: {ours.shape} vs transformers {ref.shape}: "
                  f"{'equal' if ok else 'DIFFERENT'}")
            if not ok:
                print(" ours:", ours.tolist(), "\n transformers:", ref.tolist())
            failures += not ok
        at = 0
        for i, n in enumerate(lengths):
            alone = os.path.join(d, f"alone-{i}.npy")
            run(base + ["--tokens", ",".join(map(str, tokens[at:at + n])), "--output", alone])
            at += n
            ok = np.array_equal(np.load(alone)[0], ref[i])
            print(f"seed {seed} sequence {i} alone: {'equal' if ok else 'DIFFERENT'}")
            failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
