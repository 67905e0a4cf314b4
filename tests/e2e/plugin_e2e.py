#!/usr/bin/python3
"""Black-box tests of policy plug-ins: drives the built `switchyard` like a user would.

Usage: plugin_e2e.py --bin PATH/switchyard --plugins DIR SCENARIO   (DIR: the broken test plug-ins)
  check_config  examples/policies/cluster.yaml validates; broken plug-ins fail check-config with exit code 2
                and a message located at the plugins entry (file:line:column)
  serve         `switchyard up -c examples/policies/cluster.yaml` serves with the example plug-in; the
                policies are queried and swapped at run time over HTTP
  faulty        a plug-in policy that throws at every decision: every request is still answered ok, and the
                faults are counted in /metrics
  outside       README's example compiled against the installed headers works with the installed switchyard
Run from the repository root. Loopback only, ports chosen by the server. Exit 0 = pass.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ingress_e2e  # noqa: E402  (Server: `switchyard up --any-ports`, waited for until ready)
from ingress_e2e import Server, check  # noqa: E402

EXAMPLE = "examples/policies/cluster.yaml"
PLUGINS = None
BUILD = None

HEAD = """nodes:
  - {name: local, address: 127.0.0.1:7500, devices: {kind: cpu, count: 2, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 1000}
placement:
  groups:
    - {name: left, devices: [0], models: [tiny-gpt]}
    - {name: right, devices: [1], models: [tiny-gpt]}
"""


def run(args):
    p = subprocess.run([ingress_e2e.BIN, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def bad(d, name, plugins, policies, expect):
    """check-config of HEAD + plugins + policies exits 2 with one line matching `expect` (a regex, after the
    file name) located at the plugins entry or the policy."""
    path = os.path.join(d, name + ".yaml")
    with open(path, "w") as f:
        f.write(HEAD + "plugins: [%s]\npolicies: {dispatch: %s}\n" % (plugins, policies))
    rc, out, err = run(["check-config", "-c", path])
    check(rc == 2, "%s: exit code %d (expected 2), stderr: %s" % (name, rc, err))
    check(re.match("^" + re.escape(path) + expect + "$", err.strip()),
          "%s: message %r does not match %r" % (name, err.strip(), expect))


def scenario_check_config():
    rc, out, err = run(["check-config", "-c", EXAMPLE])
    check(rc == 0 and "ok" in out, "the example validates: rc %d, %s %s" % (rc, out, err))
    check("least-loaded-random" in out and "libsy_least_loaded_random.so" in out, "summary names the plug-in: %s" % out)
    with tempfile.TemporaryDirectory() as d:
        at = r":9:11: plugins\[0\]: "
        with open(os.path.join(d, "not_a_library.so"), "w") as f:
            f.write("text\n")
        bad(d, "missing", "libmissing.so", "earliest-free",
            at + r'expected a policy plug-in \(shared library\), found "libmissing.so": no such file \(looked for .*\)')
        bad(d, "text", "not_a_library.so", "earliest-free",
            at + r"plug-in .*/not_a_library.so: not a shared library \(no ELF header\)")
        lib = lambda v: os.path.join(PLUGINS, "libsy_bad_%s_plugin.so" % v)  # noqa: E731
        bad(d, "no_entry", lib("no_entry"), "earliest-free",
            at + r"plug-in .*: missing entry symbol sy_policy_plugin_abi \(.*\)")
        bad(d, "abi", lib("abi"), "earliest-free",
            at + r"plug-in .*: built for policy plug-in ABI version 999, this switchyard speaks version 2 \(.*\)")
        bad(d, "clash", lib("clash"), "earliest-free",
            at + r'plug-in .*: registers dispatch policy "earliest-free", which clashes with the built-in of that name')
        bad(d, "unknown_name", "libsy_least_loaded_random.so", "least-loaded-randon",
            r':10:22: policies.dispatch: expected a dispatch policy \(one of: earliest-free, shortest-queue, '
            r'least-loaded-random\), found "least-loaded-randon"')
        # `up` refuses the same way before starting anything
        p = subprocess.run([ingress_e2e.BIN, "up", "--any-ports", "-c", os.path.join(d, "abi.yaml")],
                           capture_output=True, text=True, timeout=60)
        check(p.returncode == 2 and "speaks version 1" in p.stderr, "up with a bad plug-in: %d %s" % (p.returncode, p.stderr))
        # a bare name next to a config given by a relative path (dlopen must not search the library path)
        shutil.copy(lib("faulty"), os.path.join(d, "libcopy.so"))
        with open(os.path.join(d, "rel.yaml"), "w") as f:
            f.write(HEAD + "plugins: [libcopy.so]\npolicies: {dispatch: always-throws}\n")
        p = subprocess.run([ingress_e2e.BIN, "check-config", "-c", "rel.yaml"], cwd=d, capture_output=True, text=True)
        check(p.returncode == 0 and "libcopy.so" in p.stdout, "relative plug-in: %s %s" % (p.stdout, p.stderr))
        bad(d, "bad_param", "libsy_least_loaded_random.so", "{name: least-loaded-random, tolerance_ms: -1}",
            r':10:29: policies.dispatch: plug-in policy "least-loaded-random" \(.*\) refused its parameters: '
            r'tolerance_ms: expected a number >= 0, found -1.*')


def infer(s):
    code, body = s.http("POST", "/v2/models/tiny-gpt/infer", '{"tokens": [1, 2, 3]}')
    r = json.loads(body)
    check(code == 200 and r["status"] == "ok", "infer: %d %s" % (code, body[:300]))
    return r["group"]


def scenario_serve():
    with Server("-c", EXAMPLE) as s:
        groups = {infer(s) for _ in range(24)}
        check(groups == {"left", "right"}, "least-loaded-random spreads over both idle replicas: %s" % groups)
        code, body = s.http("GET", "/v2/policies/dispatch")
        p = json.loads(body)
        check(code == 200 and p["name"] == "least-loaded-random" and p["params"] == {"seed": 7, "tolerance_ms": 5}
              and p["origin"].endswith("/libsy_least_loaded_random.so") and "shortest-queue" in p["available"],
              "current dispatch: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/policies/dispatch", '{"name": "shortest-queue"}')
        p = json.loads(body)
        check(code == 200 and p["ok"] and p["name"] == "shortest-queue" and p["origin"] == "built-in",
              "swap: %d %s" % (code, body))
        code, body = s.http("GET", "/v2/policies")
        names = {q["kind"]: q["name"] for q in json.loads(body)["policies"]}
        check(names == {"admission": "slo", "dispatch": "shortest-queue", "batching": "greedy", "eviction": "lru"},
              "every kind: %s" % body)
        # (which group serves now depends on when the groups' reports reach the controller; the effect of a
        # swap on dispatch is checked deterministically in tests/unit/actors/policy_actor_test.cpp)
        for _ in range(4):
            infer(s)
        code, body = s.http("POST", "/v2/policies/admission", '{"name": "max-wait", "max_wait_ms": 500}')
        check(code == 200 and json.loads(body)["name"] == "max-wait", "plug-in admission: %d %s" % (code, body))
        infer(s)
        code, body = s.http("POST", "/v2/policies/dispatch", '{"name": "fastest"}')
        p = json.loads(body)
        check(code == 400 and not p["ok"] and 'found "fastest"' in p["reason"] and p["name"] == "shortest-queue",
              "unknown name refused, old policy kept: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/policies/batching", '{"name": "greedy", "max_batch": 0}')
        check(code == 400 and "max_batch: expected a number >= 1" in json.loads(body)["reason"],
              "bad parameter: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/policies/batching", '{"max_batch": 2}')
        check(code == 400 and "missing key 'name'" in json.loads(body)["reason"], "no name: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/policies/placement", '{"name": "mp-search"}')
        check(code == 404, "unknown kind: %d %s" % (code, body))
        code, body = s.http("POST", "/v2/policies/batching", '{"name": "greedy", "max_batch": 2}')
        check(code == 200 and json.loads(body)["params"] == {"max_batch": 2}, "batching swap: %d %s" % (code, body))
        infer(s)
        # the same through `switchyard policy`
        http = "--http=127.0.0.1:%d" % s.ports["http"]
        rc, out, err = run(["policy", http, "dispatch", "least-loaded-random", "seed=11", "tolerance_ms=2"])
        p = json.loads(out) if rc == 0 else {}
        check(rc == 0 and p.get("name") == "least-loaded-random" and p["params"] == {"seed": 11, "tolerance_ms": 2},
              "switchyard policy swap: %d %s %s" % (rc, out, err))
        rc, out, err = run(["policy", http, "dispatch"])
        check(rc == 0 and json.loads(out)["params"]["seed"] == 11, "switchyard policy show: %d %s %s" % (rc, out, err))
        rc, out, err = run(["policy", http])
        check(rc == 0 and len(json.loads(out)["policies"]) == 4, "switchyard policy list: %d %s" % (rc, out))
        rc, out, err = run(["policy", http, "dispatch", "fastest"])
        check(rc == 1 and 'found \\"fastest\\"' in err, "switchyard policy refused: %d %s %s" % (rc, out, err))
        rc, out, err = run(["policy", http, "batching", "greedy", "max_batch=lots"])
        check(rc == 2 and 'expected key=number, found "max_batch=lots"' in err, "bad argument: %d %s" % (rc, err))
        infer(s)
        check(s.stop() == 0, "exit code 0 after SIGTERM")


def scenario_faulty():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "faulty.yaml")
        with open(path, "w") as f:
            f.write(HEAD + "plugins: [%s]\npolicies: {dispatch: always-throws, batching: takes-too-many}\n"
                    % os.path.join(PLUGINS, "libsy_bad_faulty_plugin.so"))
        with Server("-c", path) as s:
            for _ in range(5):
                infer(s)
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % s.ports["metrics"], timeout=60) as m:
                text = m.read().decode()
            check('sy_policy_faults_total{kind="dispatch",policy="always-throws",fault="threw"} 5' in text,
                  "dispatch faults counted: %s" % [x for x in text.splitlines() if "fault" in x])
            check(re.search(r'sy_policy_faults_total\{kind="batching",policy="takes-too-many",fault="invalid"\} [1-9]',
                            text), "batching faults counted")
            check(s.stop() == 0, "exit code 0 after SIGTERM")
            err = s.proc.stderr.read()
            check('dispatch policy "always-throws" threw' in err, "the first fault is logged: %s" % err[-2000:])


def scenario_outside():
    """The README's example plug-in, compiled outside the tree against the installed headers, validates with
    the installed switchyard; the installed example plug-in is found by its bare name."""
    readme = open("README.md").read()
    section = readme[readme.index("## Writing a policy"):]
    code = re.search(r"```cpp\n(.*?)```", section, re.S).group(1)
    with tempfile.TemporaryDirectory() as d:
        prefix = os.path.join(d, "prefix")
        p = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], capture_output=True, text=True)
        check(p.returncode == 0, "install: %s %s" % (p.stdout, p.stderr))
        with open(os.path.join(d, "my_policy.cpp"), "w") as f:
            f.write(code)
        p = subprocess.run(["c++", "-std=c++17", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-Wall", "-Werror",
                            "-I" + os.path.join(prefix, "include", "switchyard"), "my_policy.cpp", "-o",
                            "libmy_policy.so"], cwd=d, capture_output=True, text=True)
        check(p.returncode == 0, "compile the README example: %s" % p.stderr)
        with open(os.path.join(d, "c.yaml"), "w") as f:
            f.write(HEAD + "plugins: [libmy_policy.so, libsy_least_loaded_random.so]\n"
                    "policies: {dispatch: fewest-queued, admission: {name: max-wait, max_wait_ms: 20}}\n")
        installed = os.path.join(prefix, "bin", "switchyard")
        p = subprocess.run([installed, "check-config", "-c", "c.yaml"], cwd=d, capture_output=True, text=True)
        check(p.returncode == 0 and "dispatch fewest-queued" in p.stdout
              and os.path.join(prefix, "lib", "switchyard", "plugins", "libsy_least_loaded_random.so") in p.stdout,
              "installed check-config: rc %d %s %s" % (p.returncode, p.stdout, p.stderr))


SCENARIOS = {name[len("scenario_"):]: f for name, f in globals().items() if name.startswith("scenario_")}


def main():
    global PLUGINS, BUILD
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--plugins", required=True)
    ap.add_argument("--build", required=True, help="the build tree (scenario outside installs it)")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    ingress_e2e.BIN = os.path.abspath(a.bin)
    PLUGINS = os.path.abspath(a.plugins)
    BUILD = os.path.abspath(a.build)
    SCENARIOS[a.scenario]()
    print("ok")


if __name__ == "__main__":
    main()
