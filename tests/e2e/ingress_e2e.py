#!/usr/bin/python3
"""Black-box end-to-end tests of `switchyard up` / `switchyard replay`: drives the built binary like a user.

Usage: ingress_e2e.py --bin PATH/switchyard SCENARIO     (scenarios: see SCENARIOS at the bottom)
Loopback only; every port is chosen by the server (--any-ports) and read from its `ready ...` line; every
wait is bounded. Exit 0 = pass.
"""
import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import msgpack  # noqa: E402
from client import Client  # noqa: E402

MODELS = ["tiny-gpt", "small-gpt", "tiny-bert", "small-bert"]  # the embedded default's models
BIN = None


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class _Log:
    """A log file read from its start, standing in for a process's stderr pipe."""

    def __init__(self, f):
        self.f = f

    def read(self):
        self.f.seek(0)
        return self.f.read()

    def close(self):
        self.f.close()


class Server:
    """`switchyard up --any-ports [extra]`, waited for until its ready line (bounded)."""

    def __init__(self, *extra, timeout=180):
        # stderr goes to a file: a pipe nobody reads while the server runs would block it once its log
        # filled the pipe's buffer (64 KiB); proc.stderr.read() reads the whole log so far
        log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([BIN, "up", "--any-ports", *extra], stdout=subprocess.PIPE, stderr=log,
                                     text=True)
        self.proc.stderr = _Log(log)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("ready ") or line == "" and self.proc.poll() is not None:
                break
        check(line.startswith("ready "), "server did not become ready: %r, stderr: %s" % (
            line, self.proc.stderr.read() if self.proc.poll() is not None else "(still running)"))
        self.ports = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}

    def client(self):
        return Client("127.0.0.1", self.ports["msgpack"], timeout=60)

    def http(self, method, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.ports["http"], path), method=method,
                                     data=body.encode() if isinstance(body, str) else body)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def stop(self, sig=signal.SIGTERM, timeout=120):
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("server did not exit within %d s of signal %d" % (timeout, sig))
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def recv_all(c, n):
    out = {}
    dup = 0
    for _ in range(n):
        r = c.recv()
        if r["id"] in out:
            dup += 1
        out[r["id"]] = r
    return out, dup


def scenario_protocol():
    with Server() as s:
        with s.client() as c:
            for i, m in enumerate(MODELS):
                r = c.infer(i, m, [1, 2, 3, 4])
                check(r["status"] == "ok", "model %s: %r" % (m, r))
                check(r["id"] == i, "id echoed")
                check(len(r["output"]["data"]) > 0 and r["output"]["shape"], "output present: %r" % r["output"])
            # Malformed msgpack, not a map, missing key, too many tokens, unknown model, oversized frame.
            c.send_raw(b"\xc1\xc1 garbage")
            r = c.recv()
            check(r["status"] == "invalid" and "malformed msgpack" in r["reason"], "malformed: %r" % r)
            c.send_raw(msgpack.packb([1, 2, 3]))
            r = c.recv()
            check(r["status"] == "invalid" and "expected a map, found array" in r["reason"], "array: %r" % r)
            c.send_raw(msgpack.packb({"id": 9, "tokens": [1]}))
            r = c.recv()
            check(r["status"] == "invalid" and r["id"] == 9 and "'model'" in r["reason"], "missing: %r" % r)
            r = c.infer(10, "small-gpt", list(range(1, 301)))  # 300 > the largest max_seq (256), frame small
            check(r["status"] == "invalid" and ("limit" in r["reason"]), "too many tokens: %r" % r)
            r = c.infer(11, "no-such-model", [1])
            check(r["status"] == "invalid" and "unknown model" in r["reason"], "unknown: %r" % r)
            c.sock.sendall(struct.pack(">I", 64 << 20) + b"x" * 1000)  # announces 64 MiB, over the limit
            r = c.recv()
            check(r["status"] == "invalid" and "exceeds the limit" in r["reason"], "oversized: %r" % r)
            check(c.sock.recv(1) == b"", "the connection is closed after an oversized frame")
        with s.client() as c:  # a fresh connection: the server is healthy
            n = 200
            for i in range(n):
                c.send(i, MODELS[i % len(MODELS)], [1 + i % 50, 2, 3], slo_ms=60000)
            got, dup = recv_all(c, n)
            check(dup == 0 and sorted(got) == list(range(n)), "every request answered exactly once")
            check(all(r["status"] == "ok" for r in got.values()),
                  "statuses: %r" % sorted(set(r["status"] + ":" + r["reason"] for r in got.values())))
        check(s.stop() == 0, "exit code 0 after SIGTERM")


def scenario_http():
    with Server() as s:
        code, body = s.http("GET", "/v2/health/ready")
        check(code == 200 and json.loads(body)["ready"], "ready: %d %s" % (code, body))
        code, body = s.http("GET", "/v2/models")
        names = [m["name"] for m in json.loads(body)["models"]]
        check(code == 200 and sorted(names) == sorted(MODELS), "models: %s" % body)
        code, body = s.http("POST", "/v2/models/tiny-bert/infer", '{"tokens": [1, 2, 3], "slo_ms": 1000}')
        r = json.loads(body)
        check(code == 200 and r["status"] == "ok" and len(r["output"]["data"]) > 0, "infer: %d %s" % (code, body[:300]))
        code, body = s.http("POST", "/v2/models/tiny-bert/infer", '{"tokens": [1, 2,}')
        check(code == 400 and "(byte " in json.loads(body)["reason"], "bad JSON: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/models/tiny-bert/infer", '{"tokens": "abc"}')
        check(code == 400 and "'tokens'" in json.loads(body)["reason"], "bad tokens: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/models/nope/infer", '{"tokens": [1]}')
        check(code == 404, "unknown model: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/repository/models/small-gpt/unload")
        check(code == 200, "unload: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/repository/models/small-gpt/load")
        check(code == 200, "load: %d %s" % (code, body))
        code, body = s.http("GET", "/v2/models")
        states = {m["name"]: [r["state"] for r in m["replicas"]] for m in json.loads(body)["models"]}
        check("resident" in states["small-gpt"], "small-gpt resident after load: %s" % body)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.ports["metrics"], timeout=60) as m:
            text = m.read().decode()
        for family in ("sy_requests_total", "sy_request_latency_seconds_bucket", "sy_swap_loads_total",
                       "sy_resident_models", "sy_ingress_requests_total", "sy_queue_depth"):
            check(family in text, "metrics has %s" % family)
        check('sy_ingress_requests_total{protocol="http",model="tiny-bert",status="ok"} 1' in text,
              "the HTTP request is counted")
        check(s.stop(signal.SIGINT) == 0, "exit code 0 after SIGINT")


def scenario_drain():
    with Server() as s:
        c = s.client()
        n = 300
        for i in range(n):  # a generous SLO: admission takes them all, so that many are in flight
            c.send(i, MODELS[i % 2], list(range(1, 33)), slo_ms=60000)
        rc_holder = {}
        # The first answer shows the server took the requests in (a signal sent at once could precede the
        # first frame it reads, and then every request is refused as draining); the others are in flight.
        first, _ = recv_all(c, 1)
        s.proc.send_signal(signal.SIGTERM)
        rest, dup = recv_all(c, n - 1)
        got = dict(first)
        dup += len(set(got) & set(rest))
        got.update(rest)
        check(dup == 0 and sorted(got) == list(range(n)), "every request answered exactly once during the drain")
        statuses = {r["status"] for r in got.values()}
        check(statuses <= {"ok", "rejected", "deadline_exceeded"}, "terminal answers only: %r, e.g. %r" % (
            statuses, sorted({r["reason"] for r in got.values() if r["status"] == "failed"})[:3]))
        served = sum(1 for r in rest.values() if r["status"] == "ok")
        check(served > 0, "requests in flight at the signal were served: %r" % statuses)
        print("drain: %d of %d requests answered after the signal were ok; reasons of the others: %r" % (
            served, n - 1, sorted({r["reason"][:40] for r in rest.values() if r["status"] != "ok"})))
        rc_holder["rc"] = s.proc.wait(timeout=120)
        check(rc_holder["rc"] == 0, "exit code 0 after the drain, got %r; the server's log ends:\n%s" % (
            rc_holder["rc"], s.proc.stderr.read()[-6000:]))
        c.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def scenario_overload():
    cap = 16
    with Server("--max-in-flight", str(cap)) as s:
        with s.client() as c:
            c.infer(0, MODELS[0], [1])  # warm
        before = rss_kib(s.proc.pid)
        clients = [s.client() for _ in range(4)]
        n = 10 * cap * 25  # a burst far beyond capacity
        for i in range(n):
            clients[i % 4].send(i, MODELS[i % len(MODELS)], list(range(1, 65)))
        got = {}
        dup = 0
        for k, c in enumerate(clients):
            part, d = recv_all(c, len([i for i in range(n) if i % 4 == k]))
            dup += d
            got.update(part)
        after = rss_kib(s.proc.pid)
        check(dup == 0 and sorted(got) == list(range(n)), "every request answered exactly once")
        rejected = [r for r in got.values() if r["status"] == "rejected" and r["reason"].startswith("overload")]
        check(len(rejected) > 0, "some requests rejected as overload")
        check(after - before < 256 * 1024, "memory bounded: RSS grew %d KiB" % (after - before))
        print("overload: %d requests, %d rejected overload, RSS %d -> %d KiB" % (n, len(rejected), before, after))
        for c in clients:
            c.close()
        check(s.stop() == 0, "exit 0")


def run(args, timeout=300):
    p = subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def scenario_replay():
    with tempfile.TemporaryDirectory() as d:
        rec, summ, plots = os.path.join(d, "r.csv"), os.path.join(d, "s.json"), os.path.join(d, "plots")
        rc, out, err = run(["replay", "--rate", "20", "--duration", "3", "--tokens", "8", "--records", rec,
                            "--summary", summ, "--plots", plots, "--no-progress"])
        check(rc == 0, "replay on the embedded default: rc %d\n%s\n%s" % (rc, out, err))
        s = json.load(open(summ))
        rows = open(rec).read().splitlines()
        check(rows[0] == "id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait,new_tokens,first_token,tpot", "CSV header")
        check(s["overall"]["requests"] == len(rows) - 1 > 0, "one row per request")
        check(s["unanswered"] == 0 and s["duplicates"] == 0, "every request answered exactly once")
        check(s["overall"]["ok"] > 0, "some requests served: %r" % s["overall"])
        check(os.path.getsize(os.path.join(plots, "latency_cdf.png")) > 1000, "latency CDF plot")
        check(os.path.getsize(os.path.join(plots, "attainment_over_time.png")) > 1000, "attainment plot")
        check("overall" in out, "summary printed")
        # The same through a running server (--target).
        trace = os.path.join(d, "t.csv")
        with open(trace, "w") as f:
            f.write("arrival_s,model,input_tokens,slo_ms\n")
            for i in range(40):
                f.write("%.3f,%s,%d,1000\n" % (i * 0.025, MODELS[i % 4], 4 + i % 8))
        with Server() as srv:
            rc, out, err = run(["replay", "--target", "127.0.0.1:%d" % srv.ports["msgpack"], "--trace", trace,
                                "--summary", summ, "--no-progress"])
            check(rc == 0, "replay --target: rc %d\n%s" % (rc, err))
            s = json.load(open(summ))
            check(s["overall"]["requests"] == 40 and s["unanswered"] == 0, "40 requests answered: %r" % s)
            # An Azure LLM inference trace (prof's parser), time-compressed 4x, spread over the models.
            llm = os.path.join(d, "llm.csv")
            with open(llm, "w") as f:
                f.write("TIMESTAMP,ContextTokens,GeneratedTokens\n")
                for i in range(24):
                    f.write("%.3f,%d,10\n" % (100 + i * 0.1, 5 + 37 * i))
            rc, out, err = run(["replay", "--target", "127.0.0.1:%d" % srv.ports["msgpack"], "--trace", llm,
                                "--format", "azure-llm", "--time-scale", "4", "--summary", summ, "--records", rec,
                                "--no-progress"])
            check(rc == 0, "replay azure-llm: rc %d\n%s" % (rc, err))
            s = json.load(open(summ))
            check(s["overall"]["requests"] == 24 and s["unanswered"] == 0, "24 requests answered: %r" % s)
            check(len([m for m in s["models"] if m["requests"] > 0]) > 1, "spread over several models")
            # Generations (10 new tokens each) take as long as the host lets them: the sends are what scales.
            last_send = max(float(r.split(",")[2]) for r in open(rec).read().splitlines()[1:])
            check(last_send < 2.3 / 4 + 1.0, "time-scaled: last send at %.2f s for a 2.3 s trace at 4x" % last_send)
            check(srv.stop() == 0, "exit 0")


def scenario_bad_trace():
    with tempfile.TemporaryDirectory() as d:
        trace = os.path.join(d, "bad.csv")
        with open(trace, "w") as f:
            f.write("arrival_s,model,input_tokens\n0.0,tiny-gpt,4\n0.1,tiny-gpt,four\n")
        rc, out, err = run(["replay", "--trace", trace, "--no-progress"])
        check(rc == 2, "bad trace exits 2, got %d" % rc)
        check("bad.csv:3" in err and "input_tokens" in err, "names the file, line 3 and the field: %s" % err)
        rc, out, err = run(["replay", "--trace", os.path.join(d, "missing.csv"), "--no-progress"])
        check(rc == 2 and "missing.csv" in err, "missing trace named: %s" % err)


SWAP_CONFIG = """nodes:
  - name: local
    address: 127.0.0.1:0
    devices: {kind: cpu, count: 4, memory: %(budget)d}
models:
  - {name: swap-a, arch: decoder, layers: 8, hidden: 512, heads: 8, ffn: 2048, vocab: 1024, max_seq: 64, weights: {seed: 1}}
  - {name: swap-b, arch: decoder, layers: 8, hidden: 512, heads: 8, ffn: 2048, vocab: 1024, max_seq: 64, weights: {seed: 2}}
placement:
  groups:
    - {name: g0, devices: [0, 1, 2, 3], tensor: 1, pipeline: 4, models: [swap-a, swap-b]}
policies: {admission: none, batching: none}
ingress: {bind: 127.0.0.1, msgpack_port: 0, http_port: 0}
metrics: {bind: 127.0.0.1, port: 0}
controller: {address: 127.0.0.1:0}
"""


def swap_seconds(s):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.ports["metrics"], timeout=60) as m:
        total = 0.0
        for line in m.read().decode().splitlines():
            if line.startswith("sy_swap_seconds_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


def scenario_swap_overlap():
    """Pipeline degree 4, two models that cannot both be resident: a request that swaps its model in is
    answered well before the four stages' load times one after the other plus the time of the same request
    without a swap (the stages load in parallel, and the batch follows its load through the pipeline). The
    median over 14 swaps, because the 2-core machine is shared and single samples are noisy."""
    layer = 12 * 512 * 512 + 13 * 512  # params of one layer (approximate, biases and norms included)
    stage0 = (1024 * 512 + 64 * 512 + 2 * layer + 1024 * 512) * 4
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "swap.yaml")
        with open(cfg, "w") as f:
            f.write(SWAP_CONFIG % {"budget": stage0 * 3 // 2 + (8 << 20)})
        with Server("-c", cfg) as s:
            with s.client() as c:
                ratios = []
                for i in range(16):
                    model = ["swap-a", "swap-b"][i % 2]
                    before = swap_seconds(s)
                    t0 = time.monotonic()
                    r = c.infer(2 * i, model, [1])
                    rtt = time.monotonic() - t0
                    loaded = swap_seconds(s) - before
                    check(r["status"] == "ok", "request %d: %r" % (i, r))
                    t0 = time.monotonic()
                    r = c.infer(2 * i + 1, model, [1])  # resident now: the same request without a swap
                    resident = time.monotonic() - t0
                    check(r["status"] == "ok", "request %d (resident): %r" % (i, r))
                    if i >= 2:
                        check(loaded > 0, "request %d swapped its model in (swap seconds grew)" % i)
                        # Loading the stages one after the other would take at least sum + the rest.
                        ratios.append(rtt / (loaded + resident))
                        print("swap %d: response %.1f ms, without swap %.1f ms, sum of stage loads %.1f ms" %
                              (i, rtt * 1e3, resident * 1e3, loaded * 1e3))
                print("swap overlap: response / (sum of stage loads + response without swap) = %s" %
                      ", ".join("%.2f" % x for x in ratios))
                median = sorted(ratios)[len(ratios) // 2]
                # Sequential stage loads give >= 1; pipelined ones about (one stage + compute) / (sum + compute).
                check(median < 0.85, "loads overlap across stages (median ratio %.2f < 0.85)" % median)
            check(s.stop() == 0, "exit 0")


SCENARIOS = {name[len("scenario_"):]: f for name, f in globals().items() if name.startswith("scenario_")}


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    BIN = a.bin
    t0 = time.monotonic()
    SCENARIOS[a.scenario]()
    print("e2e %s: passed in %.1f s" % (a.scenario, time.monotonic() - t0))


if __name__ == "__main__":
    main()
