#!/usr/bin/python3
"""Isolated policy plug-ins (issue 9 §4): a plug-in with `isolate: true` runs in a `switchyard policy-host`
process; when it segfaults, aborts or blocks, the server survives, answers every request exactly once, counts
the faults (sy_policy_faults_total), restarts the host, and still ends cleanly on SIGTERM.

Usage: isolated_plugin_e2e.py --bin PATH/switchyard --plugins DIR SCENARIO
  segv | abort | block   `up` with the crashing dispatch plug-in of that kind (tests/data/plugins/
                          crashing_plugin.cpp: every 5th decision of a host process misbehaves), isolated;
                          200 requests over msgpack, each answered once and ok; faults counted by kind; the host
                          was restarted; SIGTERM ends the server with exit code 0 and leaves no policy host behind
  replan_segv | replan_abort | replan_block
                          `up` on six sim devices (tests/e2e/replan_e2e.py's deployment and trace, 6 s halves)
                          with that library's re-placement policy isolated as placement.replan (every 3rd
                          decision of a host misbehaves; otherwise it re-plans every 0.5 s): every request of
                          the replayed trace answered once, none failed; faults counted with kind replacement;
                          the host restarted; every re-plan started ended in one outcome (sy_replans_total and
                          GET /v2/placement's "replan"); the fallback named in the log; SIGTERM exits 0, no host
                          left behind
  check_config            check-config lists the isolated plug-in's policies (via `policy-host --list`) and
                          refuses an unknown name with the list; a bad isolate value is a located config error
Run from the repository root. Loopback only, ports chosen by the server. Exit 0 = pass.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_e2e  # noqa: E402
from ingress_e2e import Server, check  # noqa: E402

PLUGINS = None

HEAD = """nodes:
  - {name: local, address: 127.0.0.1:7500, devices: {kind: cpu, count: 2, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 5000}
placement:
  groups:
    - {name: left, devices: [0], models: [tiny-gpt]}
    - {name: right, devices: [1], models: [tiny-gpt]}
"""


def lib(kind):
    return os.path.join(PLUGINS, "libsy_crash_%s_plugin.so" % kind)


def config(d, kind, deadline_ms=200):
    path = os.path.join(d, "isolated_%s.yaml" % kind)
    with open(path, "w") as f:
        f.write(HEAD + "plugins:\n  - {path: %s, isolate: true, deadline_ms: %d}\n"
                "policies: {dispatch: %s-dispatch}\n" % (lib(kind), deadline_ms, kind))
    return path


def hosts_of(pid):
    """Pids of the `policy-host` children of pid."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if ppid == pid and b"policy-host" in cmd:
            out.append(int(p))
    return out


def metric_lines(s, needle):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.ports["metrics"], timeout=60) as m:
        return [x for x in m.read().decode().splitlines() if needle in x and not x.startswith("#")]


def scenario_crash(kind):
    expected_fault = {"segv": "crash", "abort": "crash", "block": "timeout"}[kind]
    with tempfile.TemporaryDirectory() as d:
        with Server("-c", config(d, kind)) as s:
            first_hosts = hosts_of(s.proc.pid)
            check(len(first_hosts) == 1, "one policy host runs beside the server: %r" % first_hosts)
            n = 200
            got = {}
            dup = 0
            with s.client() as c:
                for start in range(0, n, 10):  # waves of 10, so that decisions spread over host restarts
                    for i in range(start, start + 10):
                        c.send(i, "tiny-gpt", [1, 2, 3, 4])
                    for _ in range(10):
                        r = c.recv()
                        dup += r["id"] in got
                        got[r["id"]] = r
            check(dup == 0 and sorted(got) == list(range(n)), "every request answered exactly once (%d dup)" % dup)
            statuses = {}
            for r in got.values():
                statuses[r["status"]] = statuses.get(r["status"], 0) + 1
            check(statuses == {"ok": n}, "every request served ok: %r" % statuses)
            faults = metric_lines(s, "sy_policy_faults_total")
            pattern = r'sy_policy_faults_total\{kind="dispatch",policy="%s-dispatch",fault="%s"\} ([0-9]+)' % (
                kind, expected_fault)
            counted = [int(m.group(1)) for m in (re.match(pattern, x) for x in faults) if m]
            # at least one fault of the kind (a host that blocks may still be restarting, with backoff, when the
            # next blocking decision would come: those decisions count as unavailable)
            check(counted and counted[0] >= 1, "host faults counted as %s: %r" % (expected_fault, faults))
            # the host is restarted after a backoff (100 ms doubling to 5 s while it keeps failing), so a check
            # right after the last answer may fall between a kill and the next start: wait for the new host
            hosts = hosts_of(s.proc.pid)
            until = time.monotonic() + 20
            while not (hosts and hosts != first_hosts) and time.monotonic() < until:
                time.sleep(0.1)
                hosts = hosts_of(s.proc.pid)
            check(hosts and hosts != first_hosts, "the policy host was restarted: first %r, now %r" %
                  (first_hosts, hosts))
            rc = s.stop(signal.SIGTERM, timeout=60)
            check(rc == 0, "exit code 0 after SIGTERM, got %r" % rc)
            err = s.proc.stderr.read()
            check("policy host for" in err and "restarting" in err, "the restart is logged: %s" % err[-3000:])
            time.sleep(0.5)
            left = [h for h in hosts if os.path.exists("/proc/%d" % h)]
            check(not left, "no policy host outlives the server: %r" % left)
            print("%s: %d requests ok, faults %s, hosts %r -> %r" % (kind, n, faults, first_hosts, hosts))


def wait_for_new_host(pid, first_hosts, seconds=20):
    """The host is restarted after a backoff (100 ms doubling to 5 s while it keeps failing), so a check right
    after the last fault may fall between a kill and the next start: wait for the new host."""
    hosts = hosts_of(pid)
    until = time.monotonic() + seconds
    while not (hosts and hosts != first_hosts) and time.monotonic() < until:
        time.sleep(0.1)
        hosts = hosts_of(pid)
    return hosts


def scenario_replan(kind):
    import json
    import replan_e2e
    replan_e2e.base.BIN = ingress_e2e.BIN
    policy = "%s-replan" % kind
    faults_of_kind = {"segv": ("crash",), "abort": ("crash",), "block": ("timeout", "unavailable")}[kind]
    half_s = 6.0
    with tempfile.TemporaryDirectory() as d:
        n = replan_e2e.write_inputs(d, half_s, 3, policy,
                                    replan="  replan: {policy: %s, window_s: 1, min_interval_s: 0.5}" % policy,
                                    extra="plugins:\n  - {path: %s, isolate: true, deadline_ms: 200}\n" % lib(kind))
        seen = {}

        def inspect(s):
            seen["first_hosts"] = first_hosts = hosts_of(s.proc.pid)
            seen["hosts"] = wait_for_new_host(s.proc.pid, first_hosts)
            seen["faults"] = metric_lines(s, "sy_policy_faults_total")
            # the re-plan in flight (if any) ends within a planner run: wait until the policy is idle, then
            # compare the re-plans started with the outcomes counted
            until = time.monotonic() + 20
            while True:
                code, body = s.http("GET", "/v2/placement")
                check(code == 200, "GET /v2/placement: %d %s" % (code, body))
                replan = json.loads(body).get("replan", {})
                replans = metric_lines(s, "sy_replans_total{policy=\"%s\"" % policy)
                outcomes = sum(int(x.rsplit(" ", 1)[1]) for x in replans)
                if replan.get("state") == "idle" and outcomes == replan.get("replans") or time.monotonic() > until:
                    break
                time.sleep(0.05)
            seen["replan"], seen["replans"], seen["outcomes"] = replan, replans, outcomes
            seen["up"] = s.proc.poll() is None

        r = replan_e2e.serve_and_replay(d, "with", n, half_s, inspect=inspect)
    check(seen["up"], "the server stays up")
    check(r["statuses"].get("ok", 0) > 0, "requests served: %r" % r["statuses"])
    counted = {}
    for x in seen["faults"]:
        m = re.match(r'sy_policy_faults_total\{kind="replacement",policy="%s",fault="([a-z]+)"\} ([0-9]+)' % policy, x)
        if m:
            counted[m.group(1)] = int(m.group(2))
    check(any(counted.get(f, 0) >= 1 for f in faults_of_kind),
          "re-placement faults counted as %s: %r" % ("/".join(faults_of_kind), seen["faults"]))
    check(seen["hosts"] and seen["hosts"] != seen["first_hosts"],
          "the policy host was restarted: first %r, now %r" % (seen["first_hosts"], seen["hosts"]))
    replan = seen["replan"]
    check(replan.get("policy") == policy and replan.get("replans", 0) >= 1,
          "GET /v2/placement shows the policy and its re-plans: %r" % replan)
    check(replan.get("state") == "idle" and seen["outcomes"] == replan["replans"],
          "every re-plan started (%r) ended in one outcome: %r" % (replan.get("replans"), seen["replans"]))
    check(replan.get("last", {}).get("outcome") in ("applied", "kept", "unchanged", "failed", "busy"),
          "the last re-plan's outcome is shown: %r" % replan)
    log = r["log"]
    check(re.search(r'replacement policy "%s" (crash|timeout|unavailable): .*; the built-in none decided instead: '
                    r'(no re-plan|the placement is kept)' % policy, log),
          "the log says the fallback decided: %s" % log[-3000:])
    check("policy host for" in log and "restarting" in log, "the restart is logged: %s" % log[-3000:])
    time.sleep(0.5)
    left = [h for h in seen["hosts"] if os.path.exists("/proc/%d" % h)]
    check(not left, "no policy host outlives the server: %r" % left)
    print("%s: %d requests %r, faults %r, re-plans %s, last %r, hosts %r -> %r" % (
        policy, n, r["statuses"], counted, "; ".join(seen["replans"]), replan.get("last"), seen["first_hosts"],
        seen["hosts"]))


def run(args):
    p = subprocess.run([ingress_e2e.BIN, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def scenario_check_config():
    with tempfile.TemporaryDirectory() as d:
        rc, out, err = run(["check-config", "-c", config(d, "segv")])
        check(rc == 0, "an isolated plug-in validates: rc %d, %s %s" % (rc, out, err))
        path = os.path.join(d, "unknown.yaml")
        with open(path, "w") as f:
            f.write(HEAD + "plugins:\n  - {path: %s, isolate: true}\npolicies: {dispatch: no-such}\n" % lib("abort"))
        rc, out, err = run(["check-config", "-c", path])
        check(rc == 2 and "abort-dispatch" in err and "no-such" in err,
              "an unknown name is refused with the isolated plug-in's names: rc %d, %s" % (rc, err))
        path = os.path.join(d, "bad_isolate.yaml")
        with open(path, "w") as f:
            f.write(HEAD + "plugins:\n  - {path: %s, isolate: maybe}\npolicies: {dispatch: abort-dispatch}\n"
                    % lib("abort"))
        rc, out, err = run(["check-config", "-c", path])
        check(rc == 2 and re.search(r"bad_isolate.yaml:10:\d+: plugins\[0\]\.isolate", err),
              "a bad isolate value is a located error: rc %d, %s" % (rc, err))


def main():
    global PLUGINS
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--plugins", required=True)
    ap.add_argument("scenario", choices=["segv", "abort", "block", "replan_segv", "replan_abort", "replan_block",
                                         "check_config"])
    a = ap.parse_args()
    ingress_e2e.BIN = a.bin
    PLUGINS = os.path.abspath(a.plugins)
    t0 = time.monotonic()
    if a.scenario == "check_config":
        scenario_check_config()
    elif a.scenario.startswith("replan_"):
        scenario_replan(a.scenario[len("replan_"):])
    else:
        scenario_crash(a.scenario)
    print("e2e isolated plug-in %s: passed in %.1f s" % (a.scenario, time.monotonic() - t0))


if __name__ == "__main__":
    main()
