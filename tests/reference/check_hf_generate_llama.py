#!/usr/bin/env python3
"""CTest: greedy `switchyard generate` equals transformers' generate(do_sample=False) token for token on
seeded Llama checkpoints (grouped-query attention, rotary positions: linear scaling with an untied head,
llama3 scaling with a tied head; tests/reference/hf_families.py), prompts of different lengths in one
batch, unsplit, tp 2 and pp 2.
usage: check_hf_generate_llama.py <switchyard executable> <work dir>
"""
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_families  # noqa: E402

NEW = 10


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    failures = 0
    for seed, family in ((11, "llama"), (12, "llama3-tied")):
        model, spec = hf_families.build(family, seed)
        d = os.path.join(work, family)
        os.makedirs(d, exist_ok=True)
        save_file(hf_families.canonical(family, model, spec), os.path.join(d, "w.safetensors"))
        with open(os.path.join(d, "spec.yaml"), "w") as f:
            f.write(hf_families.spec_yaml(spec))
        lengths = [5, 13, 1, 8]
        tokens = [(i * 7919 + 13 + seed) % hf_families.VOCAB for i in range(sum(lengths))]
        # No eos on the transformers side: switchyard runs with --ignore-eos, and transformers' min_new_tokens
        # would instead forbid the eos token (LlamaConfig's default eos id 2 is an ordinary token here).
        model.generation_config.eos_token_id = None
        ref, at = [], 0
        with torch.no_grad():
            for n in lengths:
                ids = torch.tensor([tokens[at:at + n]])
                at += n
                g = model.generate(ids, do_sample=False, max_new_tokens=NEW, pad_token_id=0,
                                   attention_mask=torch.ones_like(ids))
                ref.append(g[0, n:].numpy())
        ref = np.stack(ref).astype(np.int64)
        for tp, pp in ((1, 1), (2, 1), (1, 2)):
            path = os.path.join(d, f"ours-tp{tp}-pp{pp}.npy")
            run([exe, "generate", "--model", os.path.join(d, "spec.yaml"), "--weights", os.path.join(d, "w.safetensors"),
                 "--backend", "cpu", "--max-new-tokens", str(NEW), "--ignore-eos", "--tokens",
                 ",".join(map(str, tokens)), "--lengths", ",".join(map(str, lengths)), "--tp", str(tp), "--pp",
                 str(pp), "--token-budget", "16", "--output", path])
            ours = np.load(path)
            ok = ours.shape == ref.shape and np.array_equal(ours, ref)
            print(f"{family} tp={tp} pp={pp}: {'equal' if ok else 'DIFFERENT'}", flush=True)
            if not ok:
                print(" ours:", ours.tolist(), "\n transformers:", ref.tolist())
            failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
