#!/usr/bin/env python3
"""CTest: switchyard computes what transformers computes, for every family of issue 8.

Seeded random-init transformers models (tests/reference/hf_families.py: GPT-2 with its tied head; OPT with
ReLU and positions offset 2, pre-LN and post-LN; Llama with GQA, rope_theta and linear scaling; Llama with
llama3 scaling and a tied head; Qwen2 with q/k/v biases; BERT post-LN with token types, GELU-erf, eps
1e-12 and its pooler), exported to switchyard's names, run with `switchyard run-model` on the cpu backend
unsplit and tp 2 / pp 2 / tp 2 x pp 2, compared with transformers' outputs for the same tokens:
  - a batch of equal-length sequences: last-token logits, all logits (decoders); pooler, cls, mean,
    mean-normalized, hidden (BERT); BERT mean and mean-normalized of variable-length sequences also against
    sentence-transformers' Pooling + Normalize modules on the padded batch with its attention mask
  - a batch of variable-length sequences (--lengths) against each sequence run alone in transformers
  - f32 relative difference (max |ours - theirs| / max |theirs|) < 1e-4
  - f16 and bf16 weight files: equal (1e-4) to transformers running the same rounded weights, and within
    the dtype's tolerance of the unrounded model.
usage: check_hf_families.py <switchyard executable> <work dir>
"""
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_families  # noqa: E402

FAMILIES = ["gpt2", "opt", "opt-postln", "llama", "llama3-tied", "qwen2", "bert"]
LAYOUTS = [(1, 1), (2, 1), (1, 2), (2, 2)]
failures = 0


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def check(what, ours, ref, tol=1e-4):
    global failures
    ok = ours.shape == ref.shape and rel(ours, ref) < tol
    print(f"{what}: {ours.shape} rel diff {rel(ours, ref) if ours.shape == ref.shape else 'SHAPE'} "
          f"{'ok' if ok else 'FAIL'}", flush=True)
    failures += not ok


def hf_outputs(family, model, seqs, types):
    """Per sequence (run alone, no padding), the outputs switchyard's kinds name."""
    out = {k: [] for k in ("last", "all", "pooler", "cls", "mean", "mean-normalized", "hidden")}
    with torch.no_grad():
        for s, t in zip(seqs, types):
            ids = torch.tensor([s])
            if family == "bert":
                r = model(input_ids=ids, token_type_ids=torch.tensor([t]))
                h = r.last_hidden_state[0]
                out["pooler"].append(r.pooler_output[0].numpy())
                out["cls"].append(h[0].numpy())
                out["mean"].append(h.mean(0).numpy())
                out["mean-normalized"].append(F.normalize(h.mean(0, keepdim=True), p=2, dim=1)[0].numpy())
                out["hidden"].append(h.numpy())
            else:
                logits = model(input_ids=ids).logits[0]
                out["last"].append(logits[-1].numpy())
                out["all"].append(logits.numpy())
    return out


def sentence_transformers_padded(model, seqs, types):
    """sentence-transformers' mean pooling and normalisation over a padded batch with its attention mask (what
    it serves for all-MiniLM-L6-v2): (mean, mean-normalized) per sequence."""
    from sentence_transformers.models import Normalize, Pooling
    n = max(len(s) for s in seqs)
    ids = torch.tensor([s + [0] * (n - len(s)) for s in seqs])
    tt = torch.tensor([t + [0] * (n - len(t)) for t in types])
    mask = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in seqs])
    with torch.no_grad():
        h = model(input_ids=ids, token_type_ids=tt, attention_mask=mask).last_hidden_state
        pooled = Pooling(h.shape[-1], pooling_mode="mean")({"token_embeddings": h, "attention_mask": mask})
        normalized = Normalize()(dict(pooled))
    return pooled["sentence_embedding"].numpy(), normalized["sentence_embedding"].numpy()


def ours(exe, d, tokens, extra, tp, pp, tag, weights="w.safetensors"):
    path = os.path.join(d, f"out-{tag}-tp{tp}-pp{pp}.npy")
    run([exe, "run-model", "--model", os.path.join(d, "spec.yaml"), "--weights", os.path.join(d, weights),
         "--backend", "cpu", "--threads", "1", "--tp", str(tp), "--pp", str(pp),
         "--tokens", ",".join(map(str, tokens)), "--output", path] + extra)
    return np.load(path)


def main():
    exe, work = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(7)
    for fi, family in enumerate(FAMILIES):
        model, spec = hf_families.build(family, seed=fi + 1)
        d = os.path.join(work, family)
        os.makedirs(d, exist_ok=True)
        weights = hf_families.canonical(family, model, spec)
        save_file(weights, os.path.join(d, "w.safetensors"))
        with open(os.path.join(d, "spec.yaml"), "w") as f:
            f.write(hf_families.spec_yaml(spec))
        enc = family == "bert"
        equal = [list(rng.integers(0, hf_families.VOCAB, 7)) for _ in range(3)]
        varlen = [list(rng.integers(0, hf_families.VOCAB, n)) for n in (5, 1, 11, 3)]
        types_eq = [[int(x) for x in rng.integers(0, 2, len(s))] if enc else None for s in equal]
        types_var = [[int(x) for x in rng.integers(0, 2, len(s))] if enc else None for s in varlen]
        ref_eq = hf_outputs(family, model, equal, types_eq)
        ref_var = hf_outputs(family, model, varlen, types_var)
        kinds = (["pooler", "cls", "mean", "mean-normalized", "hidden"] if enc else ["last", "all"])
        flag = "--pooling" if enc else "--logits"

        def stack(ref, k):
            return np.concatenate(ref[k], 0) if k in ("all", "hidden") else np.stack(ref[k])

        for tp, pp in LAYOUTS:
            for k in kinds:
                tt = ["--token-types", ",".join(str(x) for t in types_eq for x in t)] if enc else []
                got = ours(exe, d, [x for s in equal for x in s], ["--batch", "3", flag, k] + tt, tp, pp, k)
                check(f"{family} tp{tp} pp{pp} {k} batch 3x7", got, stack(ref_eq, k))
            for k in (kinds if (tp, pp) == (1, 1) else kinds[:1]):
                tt = ["--token-types", ",".join(str(x) for t in types_var for x in t)] if enc else []
                lens = ",".join(str(len(s)) for s in varlen)
                got = ours(exe, d, [x for s in varlen for x in s], ["--lengths", lens, flag, k] + tt, tp, pp,
                           "var-" + k)
                check(f"{family} tp{tp} pp{pp} {k} lengths {lens} (vs each alone)", got, stack(ref_var, k))
        if enc:  # the padded batch through sentence-transformers' own modules
            st_mean, st_norm = sentence_transformers_padded(model, varlen, types_var)
            tt = ["--token-types", ",".join(str(x) for t in types_var for x in t)]
            lens = ",".join(str(len(s)) for s in varlen)
            for k, ref in (("mean", st_mean), ("mean-normalized", st_norm)):
                got = ours(exe, d, [x for s in varlen for x in s], ["--lengths", lens, flag, k] + tt, 1, 1, "st-" + k)
                check(f"{family} {k} lengths {lens} vs sentence-transformers on the padded batch", got, ref)
        if family in ("llama", "bert"):  # half-precision weight files
            k = kinds[0]
            tt = ["--token-types", ",".join(str(x) for t in types_eq for x in t)] if enc else []
            for name, tdt, tol in (("f16", torch.float16, 1e-2), ("bf16", torch.bfloat16, 4e-2)):
                rounded = {n: torch.from_numpy(v).to(tdt) for n, v in weights.items()}
                save_torch(rounded, os.path.join(d, f"w-{name}.safetensors"))
                got = ours(exe, d, [x for s in equal for x in s], ["--batch", "3", flag, k] + tt, 1, 1, name,
                           weights=f"w-{name}.safetensors")
                check(f"{family} {name} file vs transformers f32 (dtype tolerance {tol})", got, stack(ref_eq, k), tol)
                m2, _ = hf_families.build(family, seed=fi + 1)
                with torch.no_grad():
                    for p in m2.parameters():
                        p.copy_(p.to(tdt).float())
                check(f"{family} {name} file vs transformers on the same rounded weights", got,
                      stack(hf_outputs(family, m2, equal, types_eq), k))
    print(f"{failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
