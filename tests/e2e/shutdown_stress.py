#!/usr/bin/python3
"""Shutdown stress (issue 9 §5): `switchyard up` drains and exits 0 on SIGTERM and SIGINT, every time.

Usage: shutdown_stress.py --bin PATH/switchyard [--runs 50] [--budget-s 900]
Each run starts `up --any-ports` (the embedded default), waits for its ready line, then, by turns:
  drain-term: 300 requests in flight on one msgpack connection, then SIGTERM;
  drain-int:  the same with SIGINT;
  early-term: SIGTERM the moment the ready line appears, nothing in flight.
A run passes when every request sent gets exactly one terminal answer, the process exits by itself within
60 s of the signal, and its exit code is 0. The summary line counts failures by kind (signal that killed it,
hang, lost or duplicate answers, other exit codes). Exit 0 only when every run passed; a run that has not
started when the budget is spent is a failure too (the budget keeps the test bounded).
"""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from client import Client  # noqa: E402

MODELS = ["tiny-gpt", "small-gpt"]  # two of the embedded default's models
VARIANTS = ["drain-term", "drain-int", "early-term"]


class Failure(Exception):
    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail))
        self.kind = kind


def start(binary):
    proc = subprocess.Popen([binary, "up", "--any-ports"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 180
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ready ") or line == "" and proc.poll() is not None:
            break
    if not line.startswith("ready "):
        proc.kill()
        _, err = proc.communicate()
        raise Failure("no-ready", "no ready line: %r; stderr tail: %s" % (line, err[-2000:]))
    ports = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    return proc, ports


def thread_stacks(pid):
    """Every thread's backtrace of a hung process (gdb, where installed), so that a rare hang is diagnosable
    from the test's output alone."""
    try:
        r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 30"],
                           capture_output=True, text=True, timeout=60)
        return r.stdout[-20000:]
    except (OSError, subprocess.TimeoutExpired) as e:
        return "(no backtraces: %s)" % e


def wait_exit(proc):
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stacks = thread_stacks(proc.pid)
        proc.kill()
        _, err = proc.communicate()
        raise Failure("hang", "still running 60 s after the signal; stderr tail: %s\nthreads:\n%s"
                      % (err[-2000:], stacks))
    err = proc.stderr.read()
    if rc < 0:
        raise Failure("killed-by-%s" % signal.Signals(-rc).name, "stderr tail: %s" % err[-2000:])
    if rc != 0:
        raise Failure("exit-%d" % rc, "stderr tail: %s" % err[-2000:])


def one_run(binary, variant):
    proc, ports = start(binary)
    try:
        if variant == "early-term":
            proc.send_signal(signal.SIGTERM)
            wait_exit(proc)
            return
        n = 300
        c = Client("127.0.0.1", ports["msgpack"], timeout=60)
        try:
            for i in range(n):
                c.send(i, MODELS[i % 2], list(range(1, 33)))
            proc.send_signal(signal.SIGTERM if variant == "drain-term" else signal.SIGINT)
            seen = {}
            dup = 0
            try:
                for _ in range(n):
                    r = c.recv()
                    dup += r["id"] in seen
                    seen[r["id"]] = r["status"]
            except Exception as e:  # connection closed or timed out before every answer came
                detail = "%d of %d answered, then %s: %s" % (len(seen), n, type(e).__name__, e)
                try:  # say how the server ended, when it did
                    rc = proc.wait(timeout=10)
                    err = proc.stderr.read()
                    if rc < 0:
                        raise Failure("killed-by-%s" % signal.Signals(-rc).name,
                                      "%s; stderr tail: %s" % (detail, err[-1500:]))
                    detail += "; exit code %d; stderr tail: %s" % (rc, err[-1500:])
                except subprocess.TimeoutExpired:
                    detail += "; still running 10 s later"
                raise Failure("lost", detail)
            if dup:
                raise Failure("duplicate", "%d duplicate answers" % dup)
            if sorted(seen) != list(range(n)):
                raise Failure("lost", "answers for %d of %d ids" % (len(seen), n))
            bad = set(seen.values()) - {"ok", "rejected", "deadline_exceeded"}
            if bad:
                raise Failure("status", "non-terminal or unexpected statuses %r" % bad)
        finally:
            c.close()
        wait_exit(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--budget-s", type=float, default=900)
    a = ap.parse_args()
    t0 = time.monotonic()
    failures = {}
    for i in range(a.runs):
        variant = VARIANTS[i % len(VARIANTS)]
        if time.monotonic() - t0 > a.budget_s:
            failures.setdefault("budget", []).append(i)
            print("run %d (%s): not started, budget of %.0f s spent" % (i, variant, a.budget_s), flush=True)
            continue
        r0 = time.monotonic()
        try:
            one_run(a.bin, variant)
            print("run %d (%s): ok in %.1f s" % (i, variant, time.monotonic() - r0), flush=True)
        except Failure as f:
            failures.setdefault(f.kind, []).append(i)
            print("run %d (%s): FAILED %s" % (i, variant, f), flush=True)
    failed = sum(len(v) for v in failures.values())
    kinds = ", ".join("%s: %d (runs %s)" % (k, len(v), v) for k, v in sorted(failures.items())) or "none"
    print("shutdown stress: %d runs, %d failed (%s) in %.0f s" % (a.runs, failed, kinds, time.monotonic() - t0))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
