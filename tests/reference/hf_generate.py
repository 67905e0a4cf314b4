#!/usr/bin/env python3
"""The transformers side of switchyard's generation tests and benchmark (issue 10).

The engine's native decoder is GPT-2's architecture (pre-LayerNorm, GELU tanh, learned positions, fused
q|k|v columns in [in, out] layout) with an untied head that has a bias; with the head bias zero it is
GPT2LMHeadModel(tie_word_embeddings=False). The canonical tensor names map onto GPT-2's one to one.

  export   --out DIR --seed N [sizes]: a seeded random GPT-2 checkpoint (save_pretrained, DIR/hf), the same
           weights under switchyard's names (DIR/switchyard.safetensors, head.bias = 0) and a spec
           (DIR/spec.yaml).
  generate --hf DIR/hf --tokens 1,2,... --lengths 3,5 --new N --output out.npy: greedy
           generate(do_sample=False) per prompt, int64 [batch, N].
  bench    --weights W [sizes] --prompt P --new N --batches 1,16 --threads T: generate on PyTorch CPU with
           the same weights; prints one line per batch size:
           "batch B tokens_per_s X ttft_ms A tpot_ms B total_s C".
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from transformers import GPT2Config, GPT2LMHeadModel, LogitsProcessor, LogitsProcessorList


def config(a):
    return GPT2Config(n_embd=a.hidden, n_layer=a.layers, n_head=a.heads, n_inner=a.ffn, vocab_size=a.vocab,
                      n_positions=a.max_seq, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                      tie_word_embeddings=False, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      initializer_range=a.init_range, bos_token_id=0, eos_token_id=a.vocab - 1)


def to_canonical(sd, layers):
    t = {"tok_emb": sd["transformer.wte.weight"], "pos_emb": sd["transformer.wpe.weight"],
         "ln_f.weight": sd["transformer.ln_f.weight"], "ln_f.bias": sd["transformer.ln_f.bias"],
         "head.weight": sd["lm_head.weight"].T, "head.bias": np.zeros(sd["lm_head.weight"].shape[0], np.float32)}
    names = {"ln_1": "ln1", "attn.c_attn": "attn.qkv", "attn.c_proj": "attn.out", "ln_2": "ln2",
             "mlp.c_fc": "ffn.in", "mlp.c_proj": "ffn.out"}
    for i in range(layers):
        for hf, ours in names.items():
            for p in ("weight", "bias"):
                t[f"layers.{i}.{ours}.{p}"] = sd[f"transformer.h.{i}.{hf}.{p}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}


def from_canonical(t, layers):
    sd = {"transformer.wte.weight": t["tok_emb"], "transformer.wpe.weight": t["pos_emb"],
          "transformer.ln_f.weight": t["ln_f.weight"], "transformer.ln_f.bias": t["ln_f.bias"],
          "lm_head.weight": t["head.weight"].T}
    names = {"ln_1": "ln1", "attn.c_attn": "attn.qkv", "attn.c_proj": "attn.out", "ln_2": "ln2",
             "mlp.c_fc": "ffn.in", "mlp.c_proj": "ffn.out"}
    for i in range(layers):
        for hf, ours in names.items():
            for p in ("weight", "bias"):
                sd[f"transformer.h.{i}.{hf}.{p}"] = t[f"layers.{i}.{ours}.{p}"]
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def cmd_export(a):
    torch.manual_seed(a.seed)
    model = GPT2LMHeadModel(config(a)).eval()
    os.makedirs(a.out, exist_ok=True)
    model.save_pretrained(os.path.join(a.out, "hf"), safe_serialization=True)
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    save_file(to_canonical(sd, a.layers), os.path.join(a.out, "switchyard.safetensors"))
    with open(os.path.join(a.out, "spec.yaml"), "w") as f:
        f.write(f"name: hf-gpt2-seed{a.seed}\narch: decoder\nlayers: {a.layers}\nhidden: {a.hidden}\n"
                f"heads: {a.heads}\nffn: {a.ffn}\nvocab: {a.vocab}\nmax_seq: {a.max_seq}\ndtype: f32\n")


def cmd_generate(a):
    model = GPT2LMHeadModel.from_pretrained(a.hf).eval()
    tokens = [int(x) for x in a.tokens.split(",")]
    lengths = [int(x) for x in a.lengths.split(",")]
    out, at = [], 0
    with torch.no_grad():
        for n in lengths:
            ids = torch.tensor([tokens[at:at + n]])
            at += n
            g = model.generate(ids, do_sample=False, max_new_tokens=a.new, min_new_tokens=a.new,
                               pad_token_id=0, attention_mask=torch.ones_like(ids))
            out.append(g[0, n:].numpy())
    np.save(a.output, np.stack(out).astype(np.int64))


class Clock(LogitsProcessor):
    """Records the time of every new token (called once per generated position, after the forward)."""

    def __init__(self):
        self.times = []

    def __call__(self, input_ids, scores):
        self.times.append(time.perf_counter())
        return scores


def cmd_bench(a):
    torch.set_num_threads(a.threads)
    model = GPT2LMHeadModel(config(a)).eval()
    model.load_state_dict(from_canonical(load_file(a.weights), a.layers), strict=False)
    for b in [int(x) for x in a.batches.split(",")]:
        ids = torch.tensor([[(i * 7919 + 13 + s * 104729) % a.vocab for i in range(a.prompt)] for s in range(b)])
        with torch.no_grad():
            model.generate(ids, do_sample=False, max_new_tokens=2, min_new_tokens=2, pad_token_id=0,
                           attention_mask=torch.ones_like(ids))  # warm-up
            clock = Clock()
            t0 = time.perf_counter()
            model.generate(ids, do_sample=False, max_new_tokens=a.new, min_new_tokens=a.new, pad_token_id=0,
                           attention_mask=torch.ones_like(ids), logits_processor=LogitsProcessorList([clock]))
            total = time.perf_counter() - t0
        ttft = (clock.times[0] - t0) * 1e3
        tpot = (clock.times[-1] - clock.times[0]) / max(1, len(clock.times) - 1) * 1e3
        print(f"batch {b} tokens_per_s {b * a.new / total:.2f} ttft_ms {ttft:.2f} tpot_ms {tpot:.2f} "
              f"total_s {total:.3f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("export", "generate", "bench"):
        p = sub.add_parser(name)
        p.add_argument("--layers", type=int, default=2)
        p.add_argument("--hidden", type=int, default=64)
        p.add_argument("--heads", type=int, default=4)
        p.add_argument("--ffn", type=int, default=256)
        p.add_argument("--vocab", type=int, default=512)
        p.add_argument("--max-seq", type=int, default=128)
        p.add_argument("--init-range", type=float, default=0.1)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--out")
        p.add_argument("--hf")
        p.add_argument("--tokens")
        p.add_argument("--lengths")
        p.add_argument("--new", type=int, default=8)
        p.add_argument("--output")
        p.add_argument("--weights")
        p.add_argument("--prompt", type=int, default=128)
        p.add_argument("--batches", default="1,16")
        p.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    {"export": cmd_export, "generate": cmd_generate, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
