"""Seeded random-init transformers models of every family switchyard computes, and their export to
switchyard's canonical tensor names + a spec YAML (the test side of issue 8; users get the same mapping
from the C++ checkpoint loader).

Canonical layout (gpu/weights.cpp): weights [in, out] (x @ W); attn.qkv columns q|k|v (GQA: H*d | K*d |
K*d); SwiGLU ffn.in columns gate|up; norms .weight/.bias (RMS: .weight only); OPT positions without the
offset-2 rows; tied heads have no head.weight.
"""
import numpy as np
import torch
from transformers import (BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          OPTConfig, OPTForCausalLM, Qwen2Config, Qwen2ForCausalLM)

VOCAB, MAX_SEQ = 96, 64


def _perturb(model, seed):
    """HF initialises norms to 1/0 and biases to 0; random ones make a wrong norm or bias show."""
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model


def build(family, seed, **opt):
    """(model, spec dict) for a family name: gpt2, opt, opt-postln, llama, llama3-tied, qwen2, bert."""
    torch.manual_seed(seed)
    common = dict(vocab_size=VOCAB)
    if family == "gpt2":
        cfg = GPT2Config(n_embd=48, n_layer=2, n_head=4, n_inner=96, n_positions=MAX_SEQ, activation_function="gelu_new",
                         resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.1, **common)
        m = GPT2LMHeadModel(cfg)
        spec = dict(arch="decoder", family="gpt2", layers=2, hidden=48, heads=4, ffn=96, max_seq=MAX_SEQ,
                    norm_eps=1e-5, ffn_act="gelu_tanh", tied_head=True, head_bias=False)
    elif family in ("opt", "opt-postln"):
        pre = family == "opt"
        cfg = OPTConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, ffn_dim=96,
                        max_position_embeddings=MAX_SEQ, word_embed_proj_dim=48, do_layer_norm_before=pre,
                        dropout=0.0, attention_dropout=0.0, init_std=0.1, **common)
        m = OPTForCausalLM(cfg)
        spec = dict(arch="decoder", family="opt", layers=2, hidden=48, heads=4, ffn=96, max_seq=MAX_SEQ,
                    norm_eps=1e-5, ffn_act="relu", tied_head=True, head_bias=False, pre_norm=pre, final_norm=pre)
    elif family in ("llama", "llama3-tied", "qwen2"):
        qwen = family == "qwen2"
        scaling = ({"type": "linear", "factor": 2.0} if family == "llama" else None)
        kw = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=80, max_position_embeddings=MAX_SEQ, rms_norm_eps=1e-6,
                  rope_theta=500.0 if family != "qwen2" else 10000.0, initializer_range=0.1,
                  tie_word_embeddings=family == "llama3-tied", **common)
        if qwen:
            m = Qwen2ForCausalLM(Qwen2Config(**kw))
        else:
            m = LlamaForCausalLM(LlamaConfig(rope_scaling=scaling, **kw))
        spec = dict(arch="decoder", family="llama", layers=2, hidden=64, heads=4, kv_heads=2, ffn=80,
                    max_seq=MAX_SEQ, norm="rms_norm", norm_eps=1e-6, ffn_act="silu_gated", positions="rotary",
                    rope_theta=kw["rope_theta"], qkv_bias=qwen, attn_out_bias=False, ffn_bias=False,
                    tied_head=family == "llama3-tied", head_bias=False)
        if scaling:
            spec["rope_scaling"] = {"type": "linear", "factor": 2.0}
        if family == "llama3-tied":
            # transformers 4.40 has no llama3 rope type: its inv_freq (as transformers >= 4.43 computes it)
            # is set on the rotary modules directly, which is what the newer versions do.
            rs = {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 32}
            spec["rope_scaling"] = rs
            for layer in m.model.layers:
                layer.self_attn.rotary_emb.inv_freq = llama3_inv_freq(16, kw["rope_theta"], rs)
    elif family == "bert":
        cfg = BertConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96,
                         max_position_embeddings=MAX_SEQ, type_vocab_size=2, hidden_act="gelu",
                         layer_norm_eps=1e-12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                         initializer_range=0.1, **common)
        m = BertModel(cfg)
        spec = dict(arch="encoder", family="bert", layers=2, hidden=48, heads=4, ffn=96, max_seq=MAX_SEQ,
                    norm_eps=1e-12, ffn_act="gelu_erf", pre_norm=False, final_norm=False, embed_norm=True,
                    type_vocab=2, pooler=True)
    else:
        raise ValueError(family)
    spec.update(name=f"hf-{family}", vocab=VOCAB, dtype="f32")
    return _perturb(m, seed).eval(), spec


def llama3_inv_freq(dim, theta, rs):
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    low_wl = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
    high_wl = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
    wl = 2 * np.pi / inv
    out = torch.where(wl > low_wl, inv / rs["factor"], inv)
    smooth = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (
        rs["high_freq_factor"] - rs["low_freq_factor"])
    smoothed = (1 - smooth) * out / rs["factor"] + smooth * out
    mid = ~(wl < high_wl) & ~(wl > low_wl)
    return torch.where(mid, smoothed, out)


def _t(x):
    return x.detach().float().numpy()


def canonical(family, model, spec):
    """The model's weights under switchyard's canonical names, f32 numpy."""
    sd = {k: _t(v) for k, v in model.state_dict().items()}
    out = {}
    L = spec["layers"]
    if family == "gpt2":
        out.update({"tok_emb": sd["transformer.wte.weight"], "pos_emb": sd["transformer.wpe.weight"],
                    "ln_f.weight": sd["transformer.ln_f.weight"], "ln_f.bias": sd["transformer.ln_f.bias"]})
        names = {"ln_1": "ln1", "attn.c_attn": "attn.qkv", "attn.c_proj": "attn.out", "ln_2": "ln2",
                 "mlp.c_fc": "ffn.in", "mlp.c_proj": "ffn.out"}
        for i in range(L):
            for hf, ours in names.items():
                for p in ("weight", "bias"):
                    out[f"layers.{i}.{ours}.{p}"] = sd[f"transformer.h.{i}.{hf}.{p}"]
    elif family.startswith("opt"):
        d = "model.decoder."
        out.update({"tok_emb": sd[d + "embed_tokens.weight"], "pos_emb": sd[d + "embed_positions.weight"][2:]})
        if spec.get("final_norm", True):
            out.update({"ln_f.weight": sd[d + "final_layer_norm.weight"], "ln_f.bias": sd[d + "final_layer_norm.bias"]})
        for i in range(L):
            p = f"{d}layers.{i}."
            a = p + "self_attn."
            out[f"layers.{i}.attn.qkv.weight"] = np.concatenate([sd[a + x + "_proj.weight"].T for x in "qkv"], 1)
            out[f"layers.{i}.attn.qkv.bias"] = np.concatenate([sd[a + x + "_proj.bias"] for x in "qkv"])
            out[f"layers.{i}.attn.out.weight"] = sd[a + "out_proj.weight"].T
            out[f"layers.{i}.attn.out.bias"] = sd[a + "out_proj.bias"]
            for hf, ours in (("self_attn_layer_norm", "ln1"), ("final_layer_norm", "ln2")):
                out[f"layers.{i}.{ours}.weight"] = sd[p + hf + ".weight"]
                out[f"layers.{i}.{ours}.bias"] = sd[p + hf + ".bias"]
            for hf, ours in (("fc1", "ffn.in"), ("fc2", "ffn.out")):
                out[f"layers.{i}.{ours}.weight"] = sd[p + hf + ".weight"].T
                out[f"layers.{i}.{ours}.bias"] = sd[p + hf + ".bias"]
    elif family in ("llama", "llama3-tied", "qwen2"):
        out.update({"tok_emb": sd["model.embed_tokens.weight"], "ln_f.weight": sd["model.norm.weight"]})
        if not spec["tied_head"]:
            out["head.weight"] = sd["lm_head.weight"].T
        for i in range(L):
            p = f"model.layers.{i}."
            a = p + "self_attn."
            out[f"layers.{i}.ln1.weight"] = sd[p + "input_layernorm.weight"]
            out[f"layers.{i}.ln2.weight"] = sd[p + "post_attention_layernorm.weight"]
            out[f"layers.{i}.attn.qkv.weight"] = np.concatenate([sd[a + x + "_proj.weight"].T for x in "qkv"], 1)
            if spec["qkv_bias"]:
                out[f"layers.{i}.attn.qkv.bias"] = np.concatenate([sd[a + x + "_proj.bias"] for x in "qkv"])
            out[f"layers.{i}.attn.out.weight"] = sd[a + "o_proj.weight"].T
            m = p + "mlp."
            out[f"layers.{i}.ffn.in.weight"] = np.concatenate([sd[m + "gate_proj.weight"].T,
                                                               sd[m + "up_proj.weight"].T], 1)
            out[f"layers.{i}.ffn.out.weight"] = sd[m + "down_proj.weight"].T
    elif family == "bert":
        e = "embeddings."
        out.update({"tok_emb": sd[e + "word_embeddings.weight"], "pos_emb": sd[e + "position_embeddings.weight"],
                    "tok_type_emb": sd[e + "token_type_embeddings.weight"],
                    "emb_ln.weight": sd[e + "LayerNorm.weight"], "emb_ln.bias": sd[e + "LayerNorm.bias"],
                    "pool.weight": sd["pooler.dense.weight"].T, "pool.bias": sd["pooler.dense.bias"]})
        for i in range(L):
            p = f"encoder.layer.{i}."
            a = p + "attention.self."
            out[f"layers.{i}.attn.qkv.weight"] = np.concatenate(
                [sd[a + x + ".weight"].T for x in ("query", "key", "value")], 1)
            out[f"layers.{i}.attn.qkv.bias"] = np.concatenate([sd[a + x + ".bias"] for x in ("query", "key", "value")])
            pairs = (("attention.output.dense", "attn.out"), ("intermediate.dense", "ffn.in"),
                     ("output.dense", "ffn.out"))
            for hf, ours in pairs:
                out[f"layers.{i}.{ours}.weight"] = sd[p + hf + ".weight"].T
                out[f"layers.{i}.{ours}.bias"] = sd[p + hf + ".bias"]
            for hf, ours in (("attention.output.LayerNorm", "ln1"), ("output.LayerNorm", "ln2")):
                out[f"layers.{i}.{ours}.weight"] = sd[p + hf + ".weight"]
                out[f"layers.{i}.{ours}.bias"] = sd[p + hf + ".bias"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def spec_yaml(spec):
    lines = []
    for k, v in spec.items():
        if isinstance(v, dict):
            lines.append(f"{k}:")
            lines += [f"  {kk}: {vv}" for kk, vv in v.items()]
        elif isinstance(v, bool):
            lines.append(f"{k}: {'true' if v else 'false'}")
        else:
            lines.append(f"{k}: {v}")
    return "\n".join(lines) + "\n"
