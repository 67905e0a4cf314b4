#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/). Run from tests/fuzz/ with
Debian's python3 (python3-msgpack); the output is committed, so this only documents how the seeds came to be."""
import json
import os
import shutil
import struct

import msgpack


def w(target, name, data):
    d = f"corpus/{target}"
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(f"{d}/{name}", "wb") as f:
        f.write(data)


def frame(obj):
    b = msgpack.packb(obj, use_bin_type=True)
    return struct.pack(">I", len(b)) + b


# ingress frames: 2 header bytes (frame limit selector, chunk size / max_tokens), then the byte stream
hdr = bytes([64, 40])
w("ingress_frames", "one_request", hdr + frame({"id": 1, "model": "tiny-gpt", "tokens": [1, 2, 3]}))
w("ingress_frames", "two_requests_slo",
  hdr + frame({"id": 7, "model": "tiny-bert", "tokens": [5] * 8, "slo_ms": 250.0})
  + frame({"id": 8, "model": "x", "tokens": []}))
w("ingress_frames", "response",
  hdr + frame({"id": 3, "status": "ok", "reason": "", "output": {"data": b"\0\0\x80?", "dtype": "float32",
                                                                  "shape": [1, 1]},
               "timings": {"total_ms": 1.5}, "group": "g", "batch_size": 2}))
w("ingress_frames", "oversized_then_request",
  bytes([1, 3]) + struct.pack(">I", 5000) + b"x" * 100 + frame({"id": 2, "model": "m", "tokens": [1]}))
w("ingress_frames", "huge_prefix", hdr + b"\x80\0\0\0" + frame({"id": 4, "model": "m", "tokens": [1]}))
w("ingress_frames", "bad_types", hdr + frame({"id": -1, "model": 5, "tokens": "abc"}) + frame([1, 2, 3]))

# HTTP JSON bodies
w("http_json", "tokens", '{"tokens": [1, 2, 3], "slo_ms": 100}')
w("http_json", "nested", '{"a": [1.5e300, -0.0, true, false, null, "\\u00e9\\n"], "b": {"c": [[[]]]}}')
w("http_json", "big_int", '{"tokens": [9007199254740993, -1, 2147483648]}')
w("http_json", "kserve",
  '{"inputs": [{"name": "input_ids", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]}]}')
w("http_json", "bad", '{"tokens": [1, 2,')

# configs
os.makedirs("corpus/config", exist_ok=True)
for f in ["local.yaml", "two-node.yaml", "alpaserve-8gpu.yaml", "reference.yaml"]:
    shutil.copy(f"../../configs/{f}", f"corpus/config/{f}")
shutil.copy("../data/config/bad_slo.yaml", "corpus/config/bad_slo.yaml")


# safetensors
def st(tensors, meta=True):
    header, data = {}, b""
    if meta:
        header["__metadata__"] = {"format": "pt"}
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


w("safetensors", "f32", st({"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
                            "b": ("F32", [2], struct.pack("<2f", 0.5, -1))}))
w("safetensors", "f16_bf16", st({"h": ("F16", [3], struct.pack("<3H", 0x3c00, 0x7c00, 0x0001)),
                                 "g": ("BF16", [1, 2], struct.pack("<2H", 0x3f80, 0xff80))}, meta=False))
w("safetensors", "scalar_empty", st({"s": ("F32", [], struct.pack("<f", 7)), "e": ("F32", [0, 4], b"")}))
w("safetensors", "i64", st({"i": ("I64", [2], struct.pack("<2q", 1, -1))}))

# plan files
w("plan_file", "windows",
  "policy: mp-search\ndevices: 4\nmem_budget_bytes: 13958643712\nexpected_attainment: 0.97\nslo_scale: 5\n"
  "models: [tiny-gpt, tiny-bert]\nwindows:\n  - start: 0\n    groups:\n"
  "      - {op: 1, pp: 2, devices: [0, 1], models: [tiny-gpt, tiny-bert]}\n"
  "      - {op: 2, pp: 1, devices: [2, 3], models: [tiny-bert]}\n"
  "  - start: 60\n    groups:\n      - {op: 1, pp: 1, devices: [0], models: [tiny-gpt]}\n")
w("plan_file", "groups", "models: [a, b]\ngroups:\n  - {op: 1, pp: 1, models: [a]}\n  - {op: 1, pp: 1, models: [b]}\n")

# traces
w("trace_csv", "basic", "arrival_s,model,input_tokens,slo_ms\n# comment\n0.5,m0,128,100\n0.1,m1,16\n\n2,m0,1,\n")
w("trace_csv", "no_header", "0,a,1\n1e-3,b,2,50\n")
minutes = ",".join(str(i) for i in range(1, 1441))


def row(fn, counts):
    return "o,a,%s,http," % fn + ",".join(str(counts.get(m, 0)) for m in range(1, 1441)) + "\n"


w("trace_azure2019", "basic", "HashOwner,HashApp,HashFunction,Trigger," + minutes + "\n" + row("f0", {1: 6, 2: 3})
  + row("f1", {3: 2}))
w("trace_azure2021", "basic", "app,func,end_timestamp,duration\na1,f1,10.5,0.5\na1,f2,11,1\na2,f1,3,0.25\n")
w("trace_azure_llm", "seconds", "TIMESTAMP,ContextTokens,GeneratedTokens\n0,100,20\n1.5,3000,1\n")
w("trace_azure_llm", "dates", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900+00:00,374,44\n"
  "2023-11-16 18:15:50.9951690+00:00,396,109\n")
