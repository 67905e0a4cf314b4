#!/usr/bin/python3
"""switchyard msgpack ingress client: the reference for non-C++ users (README "Ingress protocol").

Frames: 4-byte big-endian body length + a msgpack map.
  request  {"id": uint, "model": str, "tokens": [int, ...], "slo_ms": number (optional), "output": str (optional)}
  response {"id", "status", "reason", "output": {"data": bytes, "dtype": str, "shape": [int]},
            "timings": {name: ms}, "group": str, "batch_size": int}

Generation (issue 10): {"kind": "generate", "id", "model", "tokens" (the prompt), "max_new_tokens",
  "sampling": {"temperature", "top_k", "top_p", "seed"}, "ignore_eos", "stream"}; with "stream": true one
  frame {"id", "index", "token"} per new token as it is sampled, then always the final frame {"id",
  "status", "reason", "tokens", "finish_reason", "timings": {queue_ms, ttft_ms, tpot_ms, total_ms, ...},
  "token_ms", "group", "preemptions"}.

Usage:
  scripts/client.py --target 127.0.0.1:7400 --model tiny-gpt --tokens 1 2 3 [--slo-ms 100] [-n 10]
  scripts/client.py --model tiny-gpt --tokens 1 2 3 --generate 16 [--stream] [--temperature 0.8 --top-k 20]
  scripts/client.py --model minilm --tokenizer models/all-MiniLM-L6-v2 --text "A sentence to embed."
  scripts/client.py --model gpt2 --tokenizer DIR --text "Once upon a" --generate 16 --stream   (text streamed)
Text is tokenized here, with the model folder's tokenizer.json and Hugging Face `tokenizers` (in .venv:
run .venv/bin/python scripts/client.py ... for --text); the server receives the token ids.
As a library:
  with Client("127.0.0.1", 7400) as c:
      c.send(1, "tiny-gpt", [1, 2, 3]); print(c.recv())
      for frame in c.generate(2, "tiny-gpt", [1, 2, 3], max_new_tokens=8, stream=True):
          print(frame)  # token frames as they come, the final answer last
Needs Debian's python3-msgpack (run it with /usr/bin/python3).
"""
import argparse
import socket
import struct
import sys
import time

import msgpack


class Client:
    def __init__(self, host, port, timeout=60.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send_raw(self, body: bytes):
        """Sends one frame with the given body (any bytes: used by tests for malformed input)."""
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def send(self, rid, model, tokens, slo_ms=None, output=None):
        req = {"id": rid, "model": model, "tokens": list(tokens)}
        if slo_ms is not None:
            req["slo_ms"] = slo_ms
        if output is not None:
            req["output"] = output
        self.send_raw(msgpack.packb(req, use_bin_type=True))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """Reads one response frame and returns it as a dict."""
        (n,) = struct.unpack(">I", self._read(4))
        return msgpack.unpackb(self._read(n), raw=False)

    def infer(self, rid, model, tokens, slo_ms=None, output=None):
        self.send(rid, model, tokens, slo_ms, output)
        return self.recv()

    def send_generate(self, rid, model, tokens, max_new_tokens=16, temperature=0.0, top_k=0, top_p=1.0, seed=0,
                      ignore_eos=False, stream=False, ttft_ms=None, tpot_ms=None):
        req = {"kind": "generate", "id": rid, "model": model, "tokens": list(tokens),
               "max_new_tokens": max_new_tokens, "ignore_eos": ignore_eos, "stream": stream,
               "sampling": {"temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed}}
        if ttft_ms is not None:
            req["ttft_ms"] = ttft_ms
        if tpot_ms is not None:
            req["tpot_ms"] = tpot_ms
        self.send_raw(msgpack.packb(req, use_bin_type=True))

    def generate(self, rid, model, tokens, **kw):
        """Sends a generate request and yields its frames: token frames ({"id", "index", "token"}) as the
        server streams them, then the final answer (it has "status"). One request at a time per connection."""
        self.send_generate(rid, model, tokens, **kw)
        while True:
            f = self.recv()
            yield f
            if "status" in f:
                return


def load_tokenizer(path):
    """A Hugging Face tokenizer from a model folder (its tokenizer.json) or a tokenizer.json file."""
    import os
    try:
        from tokenizers import Tokenizer
    except ImportError:
        sys.exit("--text needs the Hugging Face `tokenizers` package (installed in .venv by scripts/setup.sh)")
    f = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
    if not os.path.isfile(f):
        sys.exit(f"--tokenizer: {f} does not exist (a model folder with tokenizer.json is expected)")
    tok = Tokenizer.from_file(f)
    tok.no_padding()  # one sequence per request: the folder's fixed-length padding would only add [PAD]s
    return tok


def tokenize(tokenizer, text):
    """Token ids of `text`, with the special tokens the model was trained with ([CLS] ... [SEP] for BERT)."""
    return tokenizer.encode(text).ids


def decode_text(tokenizer, ids):
    """The text of generated token ids (the tokenizer's own decoding: byte-level BPE merges, word pieces)."""
    return tokenizer.decode(list(ids), skip_special_tokens=False)


def decode_output(resp):
    """The output as a list of floats (dtype f32), else the raw bytes."""
    out = resp.get("output") or {}
    data = out.get("data") or b""
    if out.get("dtype") == "f32":
        return list(struct.unpack("<%df" % (len(data) // 4), data))
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="127.0.0.1:7400", help="host:port of the msgpack ingress")
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--text", default=None, help="text to tokenize with --tokenizer (instead of --tokens)")
    ap.add_argument("--tokenizer", default=None, help="model folder with tokenizer.json, or the file")
    ap.add_argument("--slo-ms", type=float, default=None)
    ap.add_argument("--output", default=None, help="output kind (logits_last, logits_all, pooler, cls, mean, "
                                                   "mean_normalized, hidden); default: the model's")
    ap.add_argument("-n", type=int, default=1, help="requests to send (pipelined on one connection)")
    ap.add_argument("--generate", type=int, default=0, metavar="N", help="generate N new tokens after --tokens")
    ap.add_argument("--stream", action="store_true", help="with --generate: print each token as it arrives")
    ap.add_argument("--temperature", type=float, default=0.0)
    ap.add_argument("--top-k", type=int, default=0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ignore-eos", action="store_true")
    a = ap.parse_args()
    tok = load_tokenizer(a.tokenizer) if a.tokenizer else None
    if a.text is not None:
        if not tok:
            sys.exit("--text needs --tokenizer (the model folder with tokenizer.json)")
        a.tokens = tokenize(tok, a.text)
        print("tokens: %s" % a.tokens, file=sys.stderr)
    host, port = a.target.rsplit(":", 1)
    if a.generate > 0:
        with Client(host, int(port)) as c:
            t0 = time.monotonic()
            streamed = []  # with --tokenizer: the text so far is decoded from every token streamed so far
            for f in c.generate(1, a.model, a.tokens, max_new_tokens=a.generate, temperature=a.temperature,
                                top_k=a.top_k, top_p=a.top_p, seed=a.seed, ignore_eos=a.ignore_eos,
                                stream=a.stream):
                if "status" not in f:
                    streamed.append(f["token"])
                    text = " %r" % decode_text(tok, streamed) if tok else ""
                    print("token %d: %d (%.1f ms)%s" % (f["index"], f["token"], (time.monotonic() - t0) * 1e3,
                                                         text), flush=True)
                else:
                    print("status=%s reason=%r finish=%s tokens=%s timings=%s" % (
                        f["status"], f["reason"], f["finish_reason"], f["tokens"], f["timings"]))
                    if tok:
                        print("text: %r" % decode_text(tok, f["tokens"]))
        return
    with Client(host, int(port)) as c:
        t0 = time.monotonic()
        for i in range(a.n):
            c.send(i, a.model, a.tokens, a.slo_ms, a.output)
        for _ in range(a.n):
            r = c.recv()
            out = decode_output(r)
            head = out[:4] if isinstance(out, list) else out[:16]
            print("id=%d status=%s reason=%r shape=%s output[:4]=%s timings=%s" % (
                r["id"], r["status"], r["reason"], r["output"]["shape"], head, r.get("timings")))
        print("%d answers in %.3f s" % (a.n, time.monotonic() - t0), file=sys.stderr)


if __name__ == "__main__":
    main()
