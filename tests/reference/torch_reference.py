#!/usr/bin/env python3
"""An independent PyTorch implementation of switchyard's transformer (gpu/model_spec.hpp), for checking the
engine's output and for benchmarking it against PyTorch CPU. It shares no code with the engine: it reads
safetensors with its own small reader and computes with torch ops.

  run:   torch_reference.py run --weights W.safetensors --arch decoder --layers 4 --hidden 64 --heads 4 \
             --ffn 256 --vocab 512 --max-seq 64 --tokens 1,2,3,4 --batch 2 --output out.npy
  bench: torch_reference.py bench --weights W ... --seq 128 --batches 1,4,16 --threads 2 --reps 3
         prints one line per batch size: "batch <B> seq <S> ms <median milliseconds>"

Run it with /usr/bin/python3 (Debian's torch 1.13, CPU).
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        raw = data[base + b:base + en]
        shape = tuple(e["shape"])
        if e["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4").copy()
        elif e["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise SystemExit(f"{path}: unsupported dtype {e['dtype']}")
        out[name] = torch.from_numpy(arr.reshape(shape))
    return out


def forward(w, a, tokens):
    """tokens: LongTensor [B, S]. Returns [B, vocab] (decoder) or [B, hidden] (encoder)."""
    B, S = tokens.shape
    h, H = a.hidden, a.heads
    d = h // H
    x = w["tok_emb"][tokens] + w["pos_emb"][:S].unsqueeze(0)
    causal = a.arch == "decoder"
    mask = torch.triu(torch.full((S, S), float("-inf")), diagonal=1) if causal else None
    for i in range(a.layers):
        p = f"layers.{i}."
        y = F.layer_norm(x, (h,), w[p + "ln1.weight"], w[p + "ln1.bias"], eps=1e-5)
        qkv = y @ w[p + "attn.qkv.weight"] + w[p + "attn.qkv.bias"]
        q, k, v = qkv.split(h, dim=-1)
        q = q.view(B, S, H, d).transpose(1, 2)
        k = k.view(B, S, H, d).transpose(1, 2)
        v = v.view(B, S, H, d).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        if mask is not None:
            s = s + mask
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, S, h)
        x = x + o @ w[p + "attn.out.weight"] + w[p + "attn.out.bias"]
        y = F.layer_norm(x, (h,), w[p + "ln2.weight"], w[p + "ln2.bias"], eps=1e-5)
        f = F.gelu(y @ w[p + "ffn.in.weight"] + w[p + "ffn.in.bias"], approximate="tanh")
        x = x + f @ w[p + "ffn.out.weight"] + w[p + "ffn.out.bias"]
    if causal:
        y = F.layer_norm(x[:, -1], (h,), w["ln_f.weight"], w["ln_f.bias"], eps=1e-5)
        return y @ w["head.weight"] + w["head.bias"]
    y = F.layer_norm(x[:, 0], (h,), w["ln_f.weight"], w["ln_f.bias"], eps=1e-5)
    return torch.tanh(y @ w["pool.weight"] + w["pool.bias"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["run", "bench"])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--arch", choices=["decoder", "encoder"], required=True)
    for k in ("layers", "hidden", "heads", "ffn", "vocab", "max-seq"):
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--tokens", default="")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--output", default="")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batches", default="1,4,16")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    w = read_safetensors(a.weights)
    torch.set_grad_enabled(False)
    if a.mode == "run":
        toks = [int(t) for t in a.tokens.split(",") if t.strip()]
        if not toks or len(toks) % a.batch:
            raise SystemExit(f"{len(toks)} tokens do not form {a.batch} sequences of equal length")
        out = forward(w, a, torch.tensor(toks, dtype=torch.long).view(a.batch, -1))
        np.save(a.output, out.numpy().astype(np.float32))
        return
    for b in [int(x) for x in a.batches.split(",")]:
        toks = (torch.arange(b * a.seq, dtype=torch.long) * 7919 + 13) % a.vocab
        toks = toks.view(b, a.seq)
        for _ in range(2):  # warm-up, as in switchyard bench engine
            forward(w, a, toks)
        times = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            forward(w, a, toks)
            times.append(time.perf_counter() - t0)
        times.sort()
        print(f"batch {b} seq {a.seq} ms {1000 * times[len(times) // 2]:.3f} threads {torch.get_num_threads()}",
              flush=True)


if __name__ == "__main__":
    main()
