#!/usr/bin/env python3
"""Seeded random-init Hugging Face checkpoints of each family switchyard serves, written by transformers
itself (save_pretrained, safetensors), and transformers' outputs on them: the reference that nobody here
wrote (issue 8).

  hf_models.py make --family F --out DIR [--dtype f32|f16|bf16] [--seed N] [--shard-size 40KB] [--big]
  hf_models.py run --dir DIR --tokens 1,2,3,4 --batch 2 --output ref.npy
                   [--pooling pooler|cls|mean|mean-normalized|hidden] [--logits last|all]
  hf_models.py bench --dir DIR --seq 128 --batches 1,4,16 --threads N --reps 3   (prints "batch B seq S ms T")
  hf_models.py loadbench FILE...     (safetensors.torch.load_file of the files; prints "safetensors load_file s T")
  hf_models.py families

Families: gpt2, opt, opt-post-ln, llama (GQA), llama-scaled (rope_scaling linear), qwen2 (q/k/v biases, tied),
mistral, bert (with pooler), bert-mlm (BertForMaskedLM, no pooler). Every parameter is perturbed from
transformers' init (norm gains 1 + 0.1 n, biases 0.05 n, weights 0.02 n) so that each one shows in the output.
--big makes ~100M-parameter GPT-2- and Llama-shaped models for the benchmark.
"""
import argparse
import os
import sys

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers  # noqa: E402

TINY = dict(hidden=64, layers=2, heads=4, ffn=96, vocab=100, seq=64)


def config_of(family, big=False):
    t = transformers
    h, L, H, f, V, S = (768, 12, 12, 3072, 32000, 1024) if big else (64, 2, 4, 128, 100, 64)
    if family == "gpt2":
        return t.GPT2Config(n_layer=L, n_embd=h, n_head=H, vocab_size=V, n_positions=S, bos_token_id=0,
                            eos_token_id=0), t.GPT2LMHeadModel
    if family in ("opt", "opt-post-ln"):
        return t.OPTConfig(num_hidden_layers=L, hidden_size=h, num_attention_heads=H, ffn_dim=f, vocab_size=V,
                           max_position_embeddings=S, word_embed_proj_dim=h,
                           do_layer_norm_before=family == "opt", pad_token_id=1, bos_token_id=2,
                           eos_token_id=2), t.OPTForCausalLM
    if family in ("llama", "llama-scaled"):
        fl = 2048 if big else 96
        extra = dict(rope_scaling={"type": "linear", "factor": 2.0}) if family == "llama-scaled" else {}
        return t.LlamaConfig(num_hidden_layers=L, hidden_size=h, num_attention_heads=H,
                             num_key_value_heads=H // 2 if not big else 4, intermediate_size=fl, vocab_size=V,
                             max_position_embeddings=S, rms_norm_eps=1e-6, rope_theta=10000.0 if big else 50000.0,
                             tie_word_embeddings=False, **extra), t.LlamaForCausalLM
    if family == "qwen2":
        return t.Qwen2Config(num_hidden_layers=L, hidden_size=h, num_attention_heads=H, num_key_value_heads=H // 2,
                             intermediate_size=96, vocab_size=V, max_position_embeddings=S, rms_norm_eps=1e-6,
                             rope_theta=10000.0, tie_word_embeddings=True, use_sliding_window=False), \
            t.Qwen2ForCausalLM
    if family == "mistral":
        return t.MistralConfig(num_hidden_layers=L, hidden_size=h, num_attention_heads=H, num_key_value_heads=H // 2,
                               intermediate_size=96, vocab_size=V, max_position_embeddings=S, rms_norm_eps=1e-5,
                               sliding_window=S, tie_word_embeddings=False), t.MistralForCausalLM
    if family in ("bert", "bert-mlm"):
        return t.BertConfig(num_hidden_layers=L, hidden_size=h, num_attention_heads=H, intermediate_size=f,
                            vocab_size=V, max_position_embeddings=S, type_vocab_size=2, layer_norm_eps=1e-12,
                            hidden_act="gelu"), (t.BertModel if family == "bert" else t.BertForMaskedLM)
    sys.exit(f"unknown family '{family}'")


FAMILIES = ["gpt2", "opt", "opt-post-ln", "llama", "llama-scaled", "qwen2", "mistral", "bert", "bert-mlm"]
DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def make(a):
    torch.manual_seed(a.seed)
    cfg, cls = config_of(a.family, a.big)
    model = cls(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or name.endswith(".beta"):
                p.copy_(0.05 * torch.randn_like(p))
            elif p.dim() == 1:  # norm gains
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.02 * torch.randn_like(p))
        if getattr(cfg, "tie_word_embeddings", False):
            model.tie_weights()
    model = model.to(DTYPES[a.dtype])
    kw = dict(safe_serialization=True)
    if a.shard_size:
        kw["max_shard_size"] = a.shard_size
    model.save_pretrained(a.out, **kw)
    print(f"{a.family} ({cls.__name__}, {a.dtype}): {sum(p.numel() for p in model.parameters())} parameters -> {a.out}")


def load(d):
    cfg = transformers.AutoConfig.from_pretrained(d)
    arch = cfg.architectures[0]
    cls = getattr(transformers, arch)
    model = cls.from_pretrained(d, torch_dtype=torch.float32).eval()
    return model, cfg


def run(a):
    model, cfg = load(a.dir)
    toks = [int(x) for x in a.tokens.split(",")]
    ids = torch.tensor(toks, dtype=torch.long).reshape(a.batch, -1)
    with torch.no_grad():
        if cfg.model_type == "bert":
            bert = model if isinstance(model, transformers.BertModel) else model.bert
            out = bert(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids))
            hs = out.last_hidden_state
            p = a.pooling
            if p == "pooler":
                r = out.pooler_output
            elif p == "cls":
                r = hs[:, 0]
            elif p in ("mean", "mean-normalized"):
                r = hs.mean(dim=1)
                if p == "mean-normalized":
                    r = torch.nn.functional.normalize(r, p=2, dim=1)
            else:
                r = hs
        else:
            logits = model(input_ids=ids).logits
            r = logits[:, -1] if a.logits == "last" else logits
    np.save(a.output, r.float().numpy())
    print(f"wrote {tuple(r.shape)} to {a.output}")


def bench(a):
    import time
    torch.set_num_threads(a.threads)
    model, cfg = load(a.dir)
    vocab = cfg.vocab_size
    for b in [int(x) for x in a.batches.split(",")]:
        ids = torch.tensor([(i * 7919 + 13) % vocab for i in range(b * a.seq)], dtype=torch.long).reshape(b, a.seq)
        with torch.no_grad():
            for _ in range(2):
                model(input_ids=ids)
            t = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                model(input_ids=ids)
                t.append((time.perf_counter() - t0) * 1e3)
        t.sort()
        print(f"batch {b} seq {a.seq} ms {t[len(t) // 2]:.3f}", flush=True)


def loadbench(a):
    import time
    from safetensors.torch import load_file
    t0 = time.perf_counter()
    n = 0
    for f in a.files:
        n += sum(t.numel() * t.element_size() for t in load_file(f).values())
    print(f"safetensors load_file s {time.perf_counter() - t0:.6f} bytes {n}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--family", required=True, choices=FAMILIES)
    m.add_argument("--out", required=True)
    m.add_argument("--dtype", default="f32", choices=list(DTYPES))
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--shard-size", default="")
    m.add_argument("--big", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("--dir", required=True)
    r.add_argument("--tokens", required=True)
    r.add_argument("--batch", type=int, default=1)
    r.add_argument("--output", required=True)
    r.add_argument("--pooling", default="pooler", choices=["pooler", "cls", "mean", "mean-normalized", "hidden"])
    r.add_argument("--logits", default="last", choices=["last", "all"])
    bn = sub.add_parser("bench")
    bn.add_argument("--dir", required=True)
    bn.add_argument("--seq", type=int, default=128)
    bn.add_argument("--batches", default="1,4,16")
    bn.add_argument("--threads", type=int, default=1)
    bn.add_argument("--reps", type=int, default=3)
    lb = sub.add_parser("loadbench")
    lb.add_argument("files", nargs="+")
    sub.add_parser("families")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    if a.cmd == "bench":
        bench(a)
    elif a.cmd == "loadbench":
        loadbench(a)
    elif a.cmd == "make":
        make(a)
    elif a.cmd == "run":
        run(a)
    else:
        print(" ".join(FAMILIES))


if __name__ == "__main__":
    main()
