#!/usr/bin/python3
"""Black-box reliability tests of the ingress (issue 9): `switchyard up` driven over real sockets.

Usage: ingress_reliability_e2e.py --bin PATH/switchyard SCENARIO [--runs N]
Loopback only; ports chosen by the server (--any-ports) unless a scenario needs a fixed one; every wait is
bounded; no timing asserts (numbers are printed). Exit 0 = pass.
"""
import argparse
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ingress_e2e as base  # noqa: E402
from ingress_e2e import Server, check, rss_kib  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LOCAL_YAML = open(os.path.join(ROOT, "configs", "local.yaml")).read()


def config_with(d, ingress_extra="", name="c.yaml", text=None):
    """configs/local.yaml with extra ingress keys (indented two spaces, one per line)."""
    text = text if text is not None else LOCAL_YAML
    if ingress_extra:
        text = text.replace("ingress:\n  bind: 127.0.0.1\n", "ingress:\n  bind: 127.0.0.1\n" + ingress_extra)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def metrics_text(s):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.ports["metrics"], timeout=30) as m:
        return m.read().decode()


def metric_value(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_metric(s, prefix, value, what):
    for _ in range(600):  # bounded: 600 polls
        if metric_value(metrics_text(s), prefix) == value:
            return
        time.sleep(0.01)
    raise AssertionError("%s: %s never became %r" % (what, prefix, value))


def http_raw(port, data, timeout=60):
    """Sends raw bytes, reads until the server closes (or the timeout); returns what came back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def post(path, body, extra_headers=""):
    return ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n%s"
            "Content-Length: %d\r\n\r\n%s" % (path, extra_headers, len(body), body)).encode()


# --- 1. answers to the wrong client ------------------------------------------------------------------------

def scenario_wrong_client():
    """A client leaves with requests in flight; the next client (on the same fd, usually) gets only its own
    answers. 10 trials."""
    with Server() as s:
        foreign_total = 0
        for trial in range(10):
            a = s.client()
            for i in range(24):
                a.send(100000 + i, "small-gpt", list(range(1, 33)), slo_ms=60000)
            a.close()
            wait_metric(s, 'sy_ingress_connections{protocol="msgpack"}', 0.0, "a left")
            b = s.client()
            own = set(range(20))
            for i in own:
                b.send(i, "tiny-gpt", [1, 2, 3], slo_ms=60000)
            seen = []
            while not own <= set(seen):
                seen.append(b.recv()["id"])
            wait_metric(s, "sy_ingress_in_flight", 0.0, "a's requests answered")
            b.send(999, "tiny-gpt", [1])  # a marker: everything answered before it is on the wire already
            while True:
                rid = b.recv()["id"]
                seen.append(rid)
                if rid == 999:
                    break
            foreign = [x for x in seen if x not in own and x != 999]
            foreign_total += len(foreign)
            check(not foreign, "trial %d: client b got %d answers of client a: %r" % (trial, len(foreign), foreign[:5]))
            check(len(seen) == 21, "trial %d: b got %d answers for its 21 requests" % (trial, len(seen)))
            b.close()
        print("wrong client: 0 foreign answers in 10 trials")
        check(s.stop() == 0, "exit 0")


# --- 2. signals and the drain --------------------------------------------------------------------------------

def scenario_sigterm_at_once(runs=20):
    """SIGTERM right after the ready line: the process drains and exits 0 every time (never killed by the
    signal, never hung)."""
    ok = 0
    codes = []
    for i in range(runs):
        with Server() as s:
            s.proc.send_signal(signal.SIGTERM)
            try:
                rc = s.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                rc = "hung"
            codes.append(rc)
            if rc == 0:
                ok += 1
            err = s.proc.stderr.read() if rc != "hung" else ""
            if rc == 0:
                check("draining" in err and "stopped: every accepted request answered" in err,
                      "run %d: the drain is logged: %s" % (i, err[-500:]))
    print("sigterm at once: %d of %d runs drained and exited 0 (exit codes %r)" % (ok, runs, codes))
    check(ok == runs, "every run exits 0: %r" % codes)


def scenario_http_drain():
    """HTTP requests sent before SIGTERM (queued behind the workers) all get an answer before exit."""
    with Server() as s:
        n = 24
        socks = []
        body = json.dumps({"tokens": list(range(1, 65)), "slo_ms": 60000})
        for i in range(n):
            c = socket.create_connection(("127.0.0.1", s.ports["http"]), timeout=60)
            c.sendall(post("/v2/models/small-gpt/infer", body))
            socks.append(c)
        s.proc.send_signal(signal.SIGTERM)
        answered = 0
        statuses = []
        for c in socks:
            out = b""
            try:
                while True:
                    b = c.recv(65536)
                    if not b:
                        break
                    out += b
            except socket.timeout:
                pass
            c.close()
            if out.startswith(b"HTTP/1.1 "):
                answered += 1
                statuses.append(int(out.split()[1]))
        rc = s.proc.wait(timeout=120)
        print("http drain: %d of %d queued HTTP requests answered (statuses %r), exit %d" % (
            answered, n, sorted(set(statuses)), rc))
        check(answered == n, "every queued HTTP request answered")
        check(rc == 0, "exit 0 after the drain")


# --- 3. memory bounded by client input -------------------------------------------------------------------------

def scenario_unknown_models():
    """5,000 requests for unknown 10 KB model names: no metric label per name, memory stays flat."""
    with Server() as s:
        with s.client() as c:
            c.infer(0, "tiny-gpt", [1])
            metrics_before = len(metrics_text(s))
            rss_before = rss_kib(s.proc.pid)
            n = 5000
            for i in range(n):
                c.send(i, ("m%05d" % i) * 2000, [1])
                if i % 500 == 499:  # read the answers as we go (bounded socket buffers)
                    for _ in range(500):
                        r = c.recv()
                        check(r["status"] == "invalid" and r["reason"].startswith("unknown model"), "answer: %r" % r)
        text = metrics_text(s)
        rss_after = rss_kib(s.proc.pid)
        print("unknown models: RSS %d -> %d KiB (+%d KiB), /metrics %d -> %d bytes" % (
            rss_before, rss_after, rss_after - rss_before, metrics_before, len(text)))
        check("m00001m00001" not in text, "no model name from client input in /metrics")
        check(len(text) < metrics_before + 4096, "/metrics stays small: %d -> %d bytes" % (metrics_before, len(text)))
        check('model="unknown",status="invalid"} %d' % n in text, "counted under one 'unknown' label")
        check(s.stop() == 0, "exit 0")


def scenario_oversized_prefix():
    """A length prefix of 0x80000000 gets one answer and the connection is closed; the server stays up."""
    with Server() as s:
        c = socket.create_connection(("127.0.0.1", s.ports["msgpack"]), timeout=30)
        c.sendall(struct.pack(">I", 0x80000000) + b"abc")
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        c.close()
        check(len(data) > 4, "one answer before the close")
        (n,) = struct.unpack(">I", data[:4])
        check(len(data) == 4 + n, "exactly one answer, then EOF (%d bytes)" % len(data))
        with s.client() as c2:
            check(c2.infer(1, "tiny-gpt", [1])["status"] == "ok", "the server still serves")
        check(s.stop() == 0, "exit 0")


def scenario_slow_clients():
    """16 slowloris sockets and 200 idle HTTP sockets do not stop HTTP service; msgpack connections beyond
    the cap are refused, idle ones closed."""
    with tempfile.TemporaryDirectory() as d:
        cfg = config_with(d, "  max_connections: 256\n  idle_timeout_ms: 3000\n  read_timeout_ms: 1000\n"
                             "  http_workers: 8\n")
        with Server("-c", cfg) as s:
            port = s.ports["http"]
            stop = threading.Event()
            slow = []
            for _ in range(16):
                c = socket.create_connection(("127.0.0.1", port), timeout=5)
                c.sendall(b"POST /v2/models/tiny-gpt/infer HTTP/1.1\r\n")
                slow.append(c)

            def trickle():
                for _ in range(100):  # at most 100 rounds
                    if stop.wait(0.3):
                        return
                    for c in slow:
                        try:
                            c.send(b"X")
                        except OSError:
                            pass
            t = threading.Thread(target=trickle)
            t.start()
            idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(200)]
            rss = rss_kib(s.proc.pid)
            served = 0
            for i in range(5):
                req = urllib.request.Request("http://127.0.0.1:%d/v2/models/tiny-gpt/infer" % port, method="POST",
                                             data=json.dumps({"tokens": [1, 2, 3]}).encode())
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        served += r.status == 200
                except Exception as e:  # noqa: BLE001 (reported below)
                    print("request %d: %r" % (i, e))
            stop.set()
            t.join()
            print("slow clients: %d of 5 requests served beside 16 slowloris and 200 idle sockets (RSS %d KiB)" %
                  (served, rss))
            check(served == 5, "HTTP keeps serving")
            for c in slow + idle:
                c.close()
            # msgpack: 300 idle connections, cap 256.
            conns = []
            for _ in range(300):
                conns.append(socket.create_connection(("127.0.0.1", s.ports["msgpack"]), timeout=10))
            refused = 0
            for c in conns[256:]:
                try:
                    refused += c.recv(1) == b""
                except (socket.timeout, ConnectionResetError):
                    refused += 1
            closed_idle = 0
            for c in conns[:256]:  # the idle timeout (3 s) closes the others
                try:
                    closed_idle += c.recv(1) == b""
                except ConnectionResetError:
                    closed_idle += 1
                except socket.timeout:
                    pass
            for c in conns:
                c.close()
            print("msgpack: %d of 44 over the cap refused, %d of 256 idle closed by the idle timeout" %
                  (refused, closed_idle))
            check(refused == 44, "connections over the cap refused")
            check(closed_idle == 256, "idle connections closed")
            with s.client() as c:
                check(c.infer(1, "tiny-gpt", [1])["status"] == "ok", "msgpack serves afterwards")
            check(s.stop() == 0, "exit 0")


# --- 4. client errors are 4xx `invalid` at once --------------------------------------------------------------

def scenario_client_errors():
    with Server() as s:
        port = s.ports["http"]
        cases = [
            ("/v2/models/tiny-gpt/infer", json.dumps({"tokens": [1, 600]}), "outside model tiny-gpt's vocabulary"),
            ("/v2/models/tiny-gpt/infer", json.dumps({"tokens": list(range(1, 101))}), "max_seq of 64"),
            ("/v2/models/tiny-gpt/infer", '{"tokens": [1,', "malformed JSON"),
            ("/v2/models/tiny-gpt/infer", "", "POST without a body"),
        ]
        for path, body, why in cases:
            out = http_raw(port, post(path, body)).decode(errors="replace")
            head, _, payload = out.partition("\r\n\r\n")
            check(head.startswith("HTTP/1.1 400"), "%r: 400, got %s" % (why, head[:40]))
            j = json.loads(payload)
            check(j["status"] == "invalid" and why in j.get("reason", j.get("error", "")), "%r: %s" % (why, payload))
        # POST with no Content-Length at all: answered at once (not after a read timeout).
        out = http_raw(port, b"POST /v2/models/tiny-gpt/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 30)
        check(out.startswith(b"HTTP/1.1 400") and b"without a body" in out, "no Content-Length: %r" % out[:200])
        with s.client() as c:
            r = c.infer(1, "tiny-gpt", [1, 600])
            check(r["status"] == "invalid" and "vocabulary" in r["reason"], "msgpack: %r" % r)
            r = c.infer(2, "nope", [1])
            check(r["status"] == "invalid" and r["reason"] == "unknown model 'nope'", "msgpack unknown: %r" % r)
        text = metrics_text(s)
        check('sy_ingress_rejected_total{status="invalid",reason="invalid_request"}' in text, "labels from the enum")
        check(s.stop() == 0, "exit 0")


# --- 5. KServe v2 with Triton's own client -----------------------------------------------------------------------

def scenario_kserve():
    import numpy as np
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException
    with Server() as s:
        url = "127.0.0.1:%d" % s.ports["http"]
        cl = httpclient.InferenceServerClient(url=url)
        steps = []
        steps.append(("server live", cl.is_server_live()))
        steps.append(("server ready", cl.is_server_ready()))
        meta = cl.get_server_metadata()
        steps.append(("server metadata", meta["name"] == "switchyard" and "binary_tensor_data" in meta["extensions"]))
        mm = cl.get_model_metadata("tiny-gpt")
        steps.append(("model metadata", mm["name"] == "tiny-gpt" and mm["inputs"][0]["datatype"] == "INT64"))
        steps.append(("model ready", cl.is_model_ready("tiny-gpt")))
        tokens = [3, 1, 4, 1, 5, 9, 2, 6]
        results = {}
        for model in ("tiny-gpt", "tiny-bert"):
            for dtype, binary in (("INT64", True), ("INT32", False)):
                inp = httpclient.InferInput("input_ids", [1, len(tokens)], dtype)
                inp.set_data_from_numpy(np.array([tokens], dtype=np.int64 if dtype == "INT64" else np.int32),
                                        binary_data=binary)
                outputs = None if binary else [httpclient.InferRequestedOutput("output", binary_data=False)]
                res = cl.infer(model, [inp], outputs=outputs)
                results[(model, dtype)] = res.as_numpy("output")
        with s.client() as c:
            for model in ("tiny-gpt", "tiny-bert"):
                r = c.infer(7, model, tokens)
                check(r["status"] == "ok", "msgpack %s: %r" % (model, r))
                ref = np.frombuffer(r["output"]["data"], dtype=np.float32)
                for dtype in ("INT64", "INT32"):
                    got = results[(model, dtype)].reshape(-1)
                    check(got.dtype == np.float32 and np.array_equal(got, ref),
                          "%s %s: the KServe output equals the msgpack output (max diff %g)" % (
                              model, dtype, float(np.max(np.abs(got - ref))) if got.shape == ref.shape else -1))
        steps.append(("infer", True))
        for name, ok in steps:
            print("tritonclient step %-16s %s" % (name, "ok" if ok else "FAILED"))
        check(all(ok for _, ok in steps), "every tritonclient step: %r" % steps)
        # Errors come back as InferenceServerException with the reason.
        try:
            cl.get_model_metadata("nope")
            check(False, "unknown model metadata must fail")
        except InferenceServerException as e:
            check("unknown model" in str(e), "unknown model: %s" % e)
        bad = httpclient.InferInput("input_ids", [1, 2], "INT64")
        bad.set_data_from_numpy(np.array([[1, 600]], dtype=np.int64))
        try:
            cl.infer("tiny-gpt", [bad])
            check(False, "a token outside the vocabulary must fail")
        except InferenceServerException as e:
            check("vocabulary" in str(e) and str(e.status()) in ("400", "None"), "vocabulary: %s %s" % (e, e.status()))
        # Repository: index, unload/load without a body (Triton's client) and with one.
        index = cl.get_model_repository_index()
        check(sorted(m["name"] for m in index) == sorted(base.MODELS), "index: %r" % index)
        cl.unload_model("small-gpt")
        cl.load_model("small-gpt")
        out = http_raw(s.ports["http"], post("/v2/repository/models/small-gpt/unload", '{"parameters": {}}'))
        check(out.startswith(b"HTTP/1.1 200"), "unload with a body: %r" % out[:100])
        out = http_raw(s.ports["http"], post("/v2/repository/models/small-gpt/load", "{}"))
        check(out.startswith(b"HTTP/1.1 200"), "load with a body: %r" % out[:100])
        # The simple form stays as an alias.
        out = http_raw(s.ports["http"], post("/v2/models/tiny-gpt/versions/1/infer", json.dumps({"tokens": tokens})))
        check(out.startswith(b"HTTP/1.1 200") and b'"status": "ok"' in out, "simple form: %r" % out[:200])
        check(s.stop() == 0, "exit 0")


# --- 6. control routes behind a bearer token -----------------------------------------------------------------------

def scenario_control_token():
    env = dict(os.environ, SWITCHYARD_CONTROL_TOKEN="t0ken")
    old = os.environ.get("SWITCHYARD_CONTROL_TOKEN")
    os.environ.update(env)
    try:
        with Server() as s:
            port = s.ports["http"]
            for path, body in (("/v2/repository/models/small-gpt/unload", ""), ("/v2/policies/batching",
                                                                                 '{"name": "none"}')):
                out = http_raw(port, post(path, body))
                check(out.startswith(b"HTTP/1.1 401"), "%s without a token: %r" % (path, out[:80]))
                out = http_raw(port, post(path, body, "Authorization: Bearer wrong\r\n"))
                check(out.startswith(b"HTTP/1.1 401"), "%s with a wrong token: %r" % (path, out[:80]))
            out = http_raw(port, b"GET /v2/policies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            check(out.startswith(b"HTTP/1.1 401"), "GET /v2/policies without a token: %r" % out[:80])
            out = http_raw(port, post("/v2/repository/models/small-gpt/unload", "", "Authorization: Bearer t0ken\r\n"))
            check(out.startswith(b"HTTP/1.1 200"), "unload with the token: %r" % out[:200])
            out = http_raw(port, post("/v2/repository/models/small-gpt/load", "", "Authorization: Bearer t0ken\r\n"))
            check(out.startswith(b"HTTP/1.1 200"), "load with the token: %r" % out[:200])
            out = http_raw(port, post("/v2/models/tiny-gpt/infer", json.dumps({"tokens": [1, 2]})))
            check(out.startswith(b"HTTP/1.1 200"), "inference stays open: %r" % out[:200])
            check(s.stop() == 0, "exit 0")
    finally:
        if old is None:
            os.environ.pop("SWITCHYARD_CONTROL_TOKEN", None)
        else:
            os.environ["SWITCHYARD_CONTROL_TOKEN"] = old


# --- 7. config errors, reported at once ----------------------------------------------------------------------------

def run(args, timeout=120):
    p = subprocess.run([base.BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def scenario_config_errors():
    with tempfile.TemporaryDirectory() as d:
        one_model = LOCAL_YAML.replace("{preset: tiny-gpt, weights: {seed: 1},",
                                       "{preset: tiny-gpt, weights: {safetensors: w.safetensors},")
        check(one_model != LOCAL_YAML, "configs/local.yaml still gives tiny-gpt seeded weights to replace")
        cfg = config_with(d, text=one_model)
        for what, content, expected in (("missing", None, "cannot open the weights file"),
                                        ("corrupt", b"\xff" * 64, "does not fit the file"),
                                        ("truncated", struct.pack("<Q", 64) + b'{"a": {"dtype": "F32", "shape": [4], '
                                         b'"data_offsets": [0, 16]}}'.ljust(64) + b"\0" * 8, "outside the 8 data bytes")):
            w = os.path.join(d, "w.safetensors")
            if os.path.exists(w):
                os.remove(w)
            if content is not None:
                with open(w, "wb") as f:
                    f.write(content)
            rc, out, err = run(["check-config", "-c", cfg])
            check(rc == 2 and expected in err and "tiny-gpt" in err, "check-config, %s weights: rc %d %s" % (what, rc, err))
            rc, out, err = run(["up", "--any-ports", "-c", cfg], timeout=60)
            check(rc == 2 and expected in err and "ready" not in out, "up, %s weights: rc %d %s" % (what, rc, err[-300:]))
        for text, key, pattern in (
                (LOCAL_YAML.replace("ingress:\n  bind: 127.0.0.1", "ingress:\n  bind: not-an-address"), "ingress.bind",
                 r"c\.yaml:\d+:\d+: ingress\.bind: expected a numeric IPv4 or IPv6 address"),
                (LOCAL_YAML.replace("ingress:\n  bind: 127.0.0.1", "ingress:\n  bind: 300.1.2.3"), "ingress.bind",
                 r"c\.yaml:\d+:\d+: ingress\.bind"),
                (LOCAL_YAML.replace("max_batch: 8", "max_batch: 1e300"), "max_batch",
                 r"c\.yaml:\d+:\d+: policies\.batching\.max_batch: expected a finite number .*found \"1e300\""),
                (LOCAL_YAML.replace("max_batch: 8", "max_batch: 5000"), "max_batch",
                 r"c\.yaml:\d+:\d+: policies\.batching\.max_batch: expected an integer 1\.\.4096"),
                (LOCAL_YAML.replace("max_batch: 8", "max_batch: 99999999999999999999999"), "max_batch",
                 r"c\.yaml:\d+:\d+: policies\.batching\.max_batch"),
                (LOCAL_YAML.replace("ingress:\n  bind: 127.0.0.1", "ingress:\n  bind: 127.0.0.1\n  max_connections: 0"),
                 "max_connections", r"c\.yaml:\d+:\d+: ingress\.max_connections")):
            cfg = config_with(d, text=text)
            rc, out, err = run(["check-config", "-c", cfg])
            check(rc == 2 and re.search(pattern, err), "%s: rc %d, %s" % (key, rc, err))
        # A port in use is reported before any weights load, and names the key.
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        text = LOCAL_YAML.replace("msgpack_port: 7400", "msgpack_port: %d" % port).replace(
            "http_port: 7401", "http_port: %d" % free_port()).replace("port: 7402", "port: %d" % free_port())
        cfg = config_with(d, text=text)
        rc, out, err = run(["up", "-c", cfg], timeout=60)
        busy.close()
        check(rc != 0 and "ingress.msgpack_port" in err and str(port) in err and "ready" not in out,
              "port in use: rc %d %s" % (rc, err[-400:]))
        check("loading" not in err.lower() or err.lower().index("ingress.msgpack_port") < err.lower().index("loading"),
              "reported before the weights load")
        print("config errors: refused as expected")


SCENARIOS = {name[len("scenario_"):]: f for name, f in globals().items() if name.startswith("scenario_")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    base.BIN = a.bin
    t0 = time.monotonic()
    if a.runs and a.scenario == "sigterm_at_once":
        SCENARIOS[a.scenario](a.runs)
    else:
        SCENARIOS[a.scenario]()
    print("e2e %s: passed in %.1f s" % (a.scenario, time.monotonic() - t0))


if __name__ == "__main__":
    main()
