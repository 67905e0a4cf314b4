#!/usr/bin/env python3
"""CTest: the engine commands reject bad arguments with a precise message and a non-zero exit.
usage: check_cli_errors.py <switchyard executable> <work dir>"""
import os
import subprocess
import sys

exe, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
bad_yaml = os.path.join(work, "bad.yaml")
with open(bad_yaml, "w") as f:
    f.write("arch: decoder\nlayers: four\nhidden: 64\nheads: 4\nvocab: 10\nmax_seq: 8\n")
bad_option = os.path.join(work, "bad_option.yaml")
with open(bad_option, "w") as f:
    f.write("arch: decoder\nlayers: 2\nhidden: 64\nheads: 4\nvocab: 10\nmax_seq: 8\nnorm: batch_norm\n")
bad_rope = os.path.join(work, "bad_rope.yaml")
with open(bad_rope, "w") as f:
    f.write("arch: decoder\nlayers: 2\nhidden: 64\nheads: 4\nvocab: 10\nmax_seq: 8\npositions: rotary\n"
            "rope_scaling: {type: linear, factr: 2}\n")
truncated = os.path.join(work, "truncated.safetensors")
with open(truncated, "wb") as f:
    f.write(b"\x10\x00")
CASES = [
    (["run-model", "--model", "tiny-gpt", "--tokens", "1,2,x"], "element 2 'x'"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1,2,3", "--batch", "2"], "do not form 2 sequences"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1,600"], "outside the vocabulary [0, 512)"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1", "--tp", "3"], "divisible by the tensor-parallel degree 3"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1", "--pp", "9"], "pipeline degree 9"),
    (["run-model", "--model", "gpt-9000", "--tokens", "1"], "unknown model preset 'gpt-9000'"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1", "--backend", "tpu"], "unknown backend 'tpu'"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1", "--weights", truncated], "truncated file"),
    (["run-model", "--model", bad_yaml, "--tokens", "1"], "bad.yaml:2:9: key 'layers': expected an integer, found 'four'"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1", "--backend", "cpu", "--budget-mib", "0", "--tp", "1",
      "--threads", "1"], None),
    (["run-model", "--model", "tiny-bert", "--tokens", "1,2", "--logits", "all"], "--logits is for decoders"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1,2", "--pooling", "mean"], "--pooling is for encoders"),
    (["run-model", "--model", "tiny-bert", "--tokens", "1,2", "--pooling", "max"], "expected pooler, cls, mean"),
    (["run-model", "--model", "tiny-gpt", "--tokens", "1,2,3", "--lengths", "1,1"],
     "--lengths add up to 2, but --tokens has 3 tokens"),
    (["run-model", "--model", "tiny-bert", "--tokens", "1,2", "--token-types", "0,1"], "has no token-type embeddings"),
    (["run-model", "--model", bad_option, "--tokens", "1"], "bad_option.yaml:7:7: key 'norm'"),
    (["run-model", "--model", bad_rope, "--tokens", "1"], "unknown rope_scaling key 'factr'"),
    (["init-weights", "--model", "tiny-gpt", "--output", os.path.join(work, "w.st"), "--dtype", "int8"],
     "unknown dtype 'int8'"),
]
failures = 0
for args, expect in CASES:
    r = subprocess.run([exe, *args], capture_output=True, text=True)
    text = r.stdout + r.stderr
    ok = (r.returncode == 0) if expect is None else (r.returncode != 0 and expect in text)
    print(f"{'ok' if ok else 'FAIL'}: switchyard {' '.join(args)} -> exit {r.returncode}")
    if not ok:
        print(text)
        failures += 1
sys.exit(1 if failures else 0)
