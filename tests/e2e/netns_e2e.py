#!/usr/bin/python3
"""A two-host cluster across real addresses: two network namespaces made by this test, joined by a veth pair
(10.77.0.1 <-> 10.77.0.2). `switchyard up` runs in one ("host" c: node a, the controller, the ingress on its
loopback), `switchyard node --join 10.77.0.1:7410` in the other ("host" n: node b). Clients run inside c
(`switchyard replay`, HTTP probes), so nothing of this test touches the machine's own network namespace.

Usage: netns_e2e.py --bin PATH/switchyard SCENARIO     (cut_link, latency)
Needs root, `ip` (iproute2) and network namespaces; `latency` also `tc` with the netem qdisc. Where any is
missing the test says why and exits 77 (skipped). The namespaces (and with them the veth pair) are deleted
and every process started here is killed on every way out, failures included. Exit 0 = pass.
"""
import argparse
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
BIN = None
PY = "/usr/bin/python3"
C_ADDR, N_ADDR = "10.77.0.1", "10.77.0.2"

CONFIG = """nodes:
  - {name: a, address: %(c)s:7500, devices: {kind: cpu, count: 3, memory: 256MiB}}
  - {name: b, address: %(n)s:7501, devices: {kind: cpu, count: 2, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 100}
  - {preset: small-gpt, weights: {seed: 2}, slo_ms: 400}
  - {preset: tiny-bert, weights: {seed: 3}, slo_ms: 100}
placement:
  groups:
    - {name: across, devices: ["a:0", "b:0"], pipeline: 2, models: [small-gpt, tiny-gpt]}
    - {name: local-a, node: a, devices: [1], models: [tiny-bert]}
    - {name: local-b, node: b, devices: [1], models: [tiny-gpt, tiny-bert]}
policies:
  batching: {name: greedy, max_batch: 4}
controller:
  address: %(c)s:7410
runtime:
  heartbeat_interval_ms: 200
  node_timeout_ms: 1000
""" % {"c": C_ADDR, "n": N_ADDR}


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


def sh(*cmd, ok=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if ok and r.returncode != 0:
        raise AssertionError("%s: rc %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


def remove_stale():
    """Namespaces left by an earlier run that was SIGKILLed (a ctest timeout): their processes are killed and
    they are deleted. Names carry the run's pid; those of a live run are left alone."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not (name.startswith("syc") or name.startswith("syn")) or not name[3:].isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name[3:]) as f:
                if "netns_e2e" in f.read():
                    continue  # a run in progress
        except OSError:
            pass
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        print("removed the namespace %s of an earlier run" % name)


class Hosts:
    """Two namespaces c and n with a veth pair between them; deleted on exit, whatever happens."""

    def __init__(self):
        remove_stale()
        tag = "%d" % os.getpid()
        self.c, self.n = "syc" + tag, "syn" + tag
        self.vc, self.vn = "syvc" + tag, "syvn" + tag  # interface names stay under 16 characters (pid <= 7 digits)
        self.procs = []
        HOSTS.append(self)
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # ctest's timeout, ^C: clean up too
            signal.signal(sig, lambda *_: sys.exit(1))
        sh("ip", "netns", "add", self.c)
        sh("ip", "netns", "add", self.n)
        sh("ip", "link", "add", self.vc, "type", "veth", "peer", "name", self.vn)
        sh("ip", "link", "set", self.vc, "netns", self.c)
        sh("ip", "link", "set", self.vn, "netns", self.n)
        sh("ip", "-n", self.c, "addr", "add", C_ADDR + "/24", "dev", self.vc)
        sh("ip", "-n", self.n, "addr", "add", N_ADDR + "/24", "dev", self.vn)
        for ns, dev in ((self.c, self.vc), (self.n, self.vn)):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")

    def start(self, ns, args):
        """A process in namespace ns; its stderr goes to a file (p.log() reads it): a pipe nobody reads while it
        runs would block it once its log filled the pipe."""
        err = tempfile.TemporaryFile(mode="w+")
        p = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=subprocess.PIPE, stderr=err, text=True)

        def log():
            err.seek(0)
            return err.read()
        p.log = log
        self.procs.append(p)
        return p

    def run(self, ns, args, timeout=120):
        r = subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for ns in (self.c, self.n):  # deleting a namespace deletes its end of the veth pair, and with it the pair
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


HTTP_GET = """
import json, sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=30) as r:
        print(json.dumps([r.status, r.read().decode()]))
except urllib.error.HTTPError as e:
    print(json.dumps([e.code, e.read().decode()]))
"""


class Cluster:
    """`node` in n first (it retries until the controller listens), then `up` in c, until both are ready."""

    def __init__(self, hosts, d):
        self.h = hosts
        self.cfg = os.path.join(d, "netns.yaml")
        with open(self.cfg, "w") as f:
            f.write(CONFIG)
        self.node = hosts.start(hosts.n, [BIN, "node", "--join", C_ADDR + ":7410", "-c", self.cfg, "--timeout", "120"])
        self.up = hosts.start(hosts.c, [BIN, "up", "--any-ports", "-c", self.cfg])
        self.ports = self._ready_line(self.up, "ready ", 180)
        self.wait_line(self.node, "joined ", 60)

    @staticmethod
    def _ready_line(p, prefix, timeout):
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if line.startswith(prefix) or line == "" and p.poll() is not None:
                break
        check(line.startswith(prefix), "no %r line: %r %s" % (prefix, line, p.log()))
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])} if prefix == "ready " else line

    def wait_line(self, p, prefix, timeout):
        return self._ready_line(p, prefix, timeout)

    def http(self, path):
        rc, out, err = self.h.run(self.h.c, [PY, "-c", HTTP_GET, "http://127.0.0.1:%d%s" % (self.ports["http"], path)])
        check(rc == 0, "http probe: %s" % err)
        code, body = json.loads(out)
        return code, body

    def wait_health(self, want_code, missing, timeout):
        """Polls /v2/health/ready until it answers want_code, and, when `missing` is given, names it missing."""
        t0 = time.monotonic()
        code, body = 0, ""
        while time.monotonic() - t0 < timeout:
            code, body = self.http("/v2/health/ready")
            h = json.loads(body)
            if code == want_code and (missing is None and h["ready"] == (code == 200)
                                      or missing is not None and any(m.startswith(missing) for m in h["missing"])):
                return time.monotonic() - t0
            time.sleep(0.05)
        raise AssertionError("/v2/health/ready not %d (missing %r) within %d s: %d %s" % (want_code, missing, timeout,
                                                                                         code, body))

    def replay(self, d, name, n, spacing):
        """Starts `switchyard replay` inside c; finish_replay() checks its summary."""
        trace = os.path.join(d, name + ".csv")
        with open(trace, "w") as f:
            f.write("arrival_s,model,input_tokens,slo_ms\n")
            for i in range(n):
                f.write("%.3f,%s,%d,5000\n" % (i * spacing, ("tiny-gpt", "small-gpt", "tiny-bert")[i % 3], 4 + i % 8))
        summ = os.path.join(d, name + ".json")
        p = self.h.start(self.h.c, [BIN, "replay", "--target", "127.0.0.1:%d" % self.ports["msgpack"], "--trace",
                                    trace, "--summary", summ, "--no-progress"])
        return p, summ, n

    @staticmethod
    def finish_replay(started, timeout=300):
        p, summ, n = started
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError("replay did not finish within %d s" % timeout)
        check(p.returncode == 0, "replay: rc %d %s" % (p.returncode, p.log()))
        s = json.load(open(summ))
        o = s["overall"]
        check(o["requests"] == n and s["unanswered"] == 0 and s["duplicates"] == 0,
              "every request answered exactly once: %r unanswered %r duplicates %r" % (o, s["unanswered"],
                                                                                   s["duplicates"]))
        return o

    def stop(self):
        self.up.send_signal(signal.SIGTERM)
        rc = self.up.wait(timeout=120)
        check(rc == 0, "up exits 0 after SIGTERM: %d %s" % (rc, self.up.log()))
        rc = self.node.wait(timeout=60)
        check(rc == 0, "the node follows the controller: rc %d %s" % (rc, self.node.log()))


def preflight(need_netem):
    if os.geteuid() != 0:
        skip("network namespaces need root (euid %d)" % os.geteuid())
    if not shutil.which("ip"):
        skip("no `ip` (iproute2) on PATH")
    probe = "syprobe%d" % (os.getpid() % 100000)
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        skip("`ip netns add` is not permitted here: " + r.stderr.strip())
    try:
        if need_netem:
            if not shutil.which("tc"):
                skip("no `tc` (iproute2) on PATH")
            sh("ip", "-n", probe, "link", "add", "syprb0", "type", "veth", "peer", "name", "syprb1")
            r = subprocess.run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "syprb0", "root", "netem",
                                "delay", "20ms"], capture_output=True, text=True)
            if r.returncode != 0:
                skip("`tc qdisc add ... netem` is not supported by this kernel: " + r.stderr.strip())
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def scenario_cut_link():
    """The link goes down (`ip link set down` on c's end) with requests in flight: the controller finds node b
    lost by its heartbeats, every request gets one answer, node a serves on; the link comes back up: node b
    joins again by itself, its groups are restored, readiness is 200 and everything is served."""
    preflight(False)
    hosts = Hosts()
    with tempfile.TemporaryDirectory() as d:
        c = Cluster(hosts, d)
        c.wait_health(200, None, 60)
        o = c.finish_replay(c.replay(d, "whole", 60, 0.01))
        check(o["ok"] == 60, "whole cluster across the veth pair serves all: %r" % o)
        started = c.replay(d, "cut", 300, 0.01)
        time.sleep(1.0)
        sh("ip", "-n", hosts.c, "link", "set", hosts.vc, "down")
        took = c.wait_health(503, "node b", 30)
        o = c.finish_replay(started)
        check(set(k for k in ("ok", "failed", "rejected", "deadline_exceeded") if o.get(k)) <= {"ok", "failed", "rejected"},
              "terminal answers only: %r" % o)
        print("link cut: node b reported missing after %.3f s; %r" % (took, o))
        time.sleep(1.0)  # a cut longer than both sides' timeouts
        sh("ip", "-n", hosts.c, "link", "set", hosts.vc, "up")
        t_up = time.monotonic()
        c.wait_line(c.node, "rejoined ", 150)
        rejoined = time.monotonic() - t_up
        healed = c.wait_health(200, None, 120)
        o = c.finish_replay(c.replay(d, "healed", 60, 0.01))
        check(o["ok"] == 60, "after the heal everything is served: %r" % o)
        print("link up: node b joined again after %.3f s; ready again %.3f s after that" % (rejoined, healed))
        c.stop()


def scenario_latency():
    """20 ms added each way (`tc qdisc add ... netem delay 20ms` on both ends): the cluster stays whole
    (heartbeats answered within node_timeout) and every request is answered once and served."""
    preflight(True)
    hosts = Hosts()
    with tempfile.TemporaryDirectory() as d:
        c = Cluster(hosts, d)
        c.wait_health(200, None, 60)
        for ns, dev in ((hosts.c, hosts.vc), (hosts.n, hosts.vn)):
            sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root", "netem", "delay", "20ms")
        o = c.finish_replay(c.replay(d, "slow", 150, 0.02))
        check(o["ok"] == 150, "everything served over the slow link: %r" % o)
        code, body = c.http("/v2/health/ready")
        check(code == 200, "still whole: %d %s" % (code, body))
        print("netem 20 ms each way: %r" % o)
        c.stop()


HOSTS = []


def PROCS_OF_FAILED_RUN():
    return [p for h in HOSTS for p in h.procs if hasattr(p, "log")]


SCENARIOS = {name[len("scenario_"):]: f for name, f in globals().items() if name.startswith("scenario_")}


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    t0 = time.monotonic()
    try:
        SCENARIOS[a.scenario]()
    except BaseException:
        for p in PROCS_OF_FAILED_RUN():
            print("--- %s log:\n%s" % (" ".join(p.args[3:5]), p.log()))
        raise
    print("e2e netns %s: passed in %.1f s" % (a.scenario, time.monotonic() - t0))


if __name__ == "__main__":
    main()
