#!/usr/bin/env bash
# Start-up of the CLI (issue 11 §5): median wall-clock and CPU (user + system) time of
#   simulate      `switchyard simulate` on a one-request trace (analytic V100 profile, a one-device plan)
#   check-config  a runtime command (validates the embedded default), the path every non-simulator command takes
#   --help        the top-level help (lists every command)
# for `switchyard` (the door, apps/dispatch.hpp, which execs switchyard-sim or switchyard-runtime) and for the
# executables beside it run directly: `switchyard-runtime` is what every command cost before the split (one
# binary with CAF, BLAS, TLS), `switchyard-sim` what the door adds. Each run is spawned directly (posix_spawn
# + wait4, no shell), output to /dev/null; the first RUNS/10 runs warm the page cache and are not counted; the binaries of a
# command take turns run by run.
# BEFORE: another `switchyard` executable (e.g. one built from a commit before the split) measured by turns
# with the others, as "before", for a before/after ratio under the same load.
# usage: scripts/bench_startup.sh [BIN_DIR (default build/apps)] [RUNS (default 51)] [BEFORE]
# Prints the machine load (uptime) before and after: the machine is shared, so compare figures of one call.
set -euo pipefail
bin_dir=${1:-build/apps}
runs=${2:-51}
before=${3:-}
[ -x "$bin_dir/switchyard" ] || { echo "bench_startup.sh: no executable $bin_dir/switchyard" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'arrival_s,model,input_tokens\n0.5,bert-1.3b,128\n' > "$work/one.csv"
"$bin_dir/switchyard" --log-level warn plan --hardware V100-16GB --models bert-1.3b --trace "$work/one.csv" \
  --devices 1 -o "$work/plan.yaml" > /dev/null
echo "load before: $(uptime)"
/usr/bin/python3 - "$bin_dir" "$runs" "$work" "$before" <<'PY'
import os, statistics, sys, time
bin_dir, runs, work, before = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sim = ["simulate", "--hardware", "V100-16GB", "--models", "bert-1.3b", "--trace", f"{work}/one.csv",
       "--plan", f"{work}/plan.yaml"]
cases = [("simulate", sim), ("check-config", ["check-config"]), ("--help", ["--help"])]
exes = [("switchyard", f"{bin_dir}/switchyard")]
for other in ("switchyard-sim", "switchyard-runtime"):
    if os.path.exists(f"{bin_dir}/{other}"):
        exes.append((other, f"{bin_dir}/{other}"))
if before:
    exes.append(("before", before))
null = os.open(os.devnull, os.O_WRONLY)

def once(argv):
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, null, 1),
                                                                    (os.POSIX_SPAWN_DUP2, null, 2)])
    _, st, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(st)
    if rc != 0:
        sys.exit(f"bench_startup.sh: {' '.join(argv)} exited {rc}")
    return wall, ru.ru_utime + ru.ru_stime

print(f"{'command':<14} {'binary':<20} {'wall p50 ms':>11} {'cpu p50 ms':>10} {'wall min ms':>11}  runs")
for label, args in cases:
    # The binaries take turns run by run, so that a change of the machine's load hits all of them alike.
    runs_of = [(name, [exe, "--log-level", "warn"] + args if label != "--help" else [exe] + args)
               for name, exe in exes if name != "switchyard-sim" or label == "simulate"]
    for _ in range(max(1, runs // 10)):
        for _, argv in runs_of:
            once(argv)
    samples = {name: [] for name, _ in runs_of}
    for _ in range(runs):
        for name, argv in runs_of:
            samples[name].append(once(argv))
    for name, _ in runs_of:
        s = samples[name]
        wall = statistics.median(x[0] for x in s) * 1e3
        cpu = statistics.median(x[1] for x in s) * 1e3
        print(f"{label:<14} {name:<20} {wall:>11.2f} {cpu:>10.2f} {min(x[0] for x in s) * 1e3:>11.2f}  {runs}")
PY
echo "load after: $(uptime)"
