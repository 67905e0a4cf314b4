#!/usr/bin/python3
"""Generation serving through the runtime (issue 10): starts `switchyard up` on the embedded default, then for
each decoder streams 1 and 16 concurrent msgpack generations (prompt 32, 32 new tokens, ignore_eos) and prints
tokens/s and TTFT/TPOT percentiles from the final frames' timings. Prints numbers; asserts only that every
answer is ok (a measurement of failed requests would be meaningless).

Usage: python3 scripts/measure_generation.py [--bin build/apps/switchyard] [--prompt 32] [--new 32]
"""
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import Client  # noqa: E402


def run(port, model, conc, prompt, new):
    res = []

    def one(i):
        with Client("127.0.0.1", port) as c:
            frames = list(c.generate(i, model, [(7 * i + j) % 500 + 1 for j in range(prompt)], max_new_tokens=new,
                                     ignore_eos=True, stream=True))
            res.append(frames[-1])

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    bad = [r for r in res if r["status"] != "ok"]
    if bad or len(res) != conc:
        raise SystemExit("%s: %d of %d answers not ok: %r" % (model, len(bad) + conc - len(res), conc, bad[:3]))
    ttft = sorted(r["timings"]["ttft_ms"] for r in res)
    tpot = sorted(r["timings"]["tpot_ms"] for r in res)
    toks = sum(len(r["tokens"]) for r in res)
    print("%-10s concurrent %2d: %7.0f tokens/s  TTFT p50 %7.1f ms max %7.1f ms  TPOT p50 %6.2f ms max %6.2f ms  "
          "preemptions %d" % (model, conc, toks / dt, statistics.median(ttft), ttft[-1], statistics.median(tpot),
                              tpot[-1], sum(r.get("preemptions", 0) for r in res)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/apps/switchyard")
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new", type=int, default=32)
    a = ap.parse_args()
    p = subprocess.Popen([a.bin, "up", "--any-ports"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("ready "):
            raise SystemExit("up did not become ready: %r" % line)
        ports = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
        for model in ("tiny-gpt", "small-gpt"):
            for conc in (1, 16):
                run(ports["msgpack"], model, conc, a.prompt, a.new)
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
