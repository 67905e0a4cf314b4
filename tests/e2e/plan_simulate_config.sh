#!/bin/sh
# Black-box: `switchyard plan -c cluster.yaml --workload trace.csv` then `switchyard simulate -c ... --plan`,
# with the deployment's models, devices, memory and slo_ms; the written plan is accepted by check-config
# through `placement: {plan: ...}`; bad plans and configs exit with code 2 and a precise message.
# usage: plan_simulate_config.sh path/to/switchyard path/to/configs
set -eu
exe="$1"
configs="$2"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cfg="$configs/alpaserve-8gpu.yaml"
models=$(grep -o 'name: bert-[0-9.]*b-[0-9]' "$cfg" | sed 's/name: //' | paste -sd, -)
"$exe" --log-level warn trace synth --models "$models" --rate 40 --cv 2 --duration 60 --seed 5 -o "$dir/trace.csv" \
    > /dev/null
"$exe" --log-level warn plan -c "$cfg" --hardware V100-16GB --workload "$dir/trace.csv" -o "$dir/plan.yaml" \
    > "$dir/plan.out"
grep -q "^policy mp-search: 8 devices, 8 models" "$dir/plan.out"
grep -q "^devices: 8" "$dir/plan.yaml"
grep -q "^mem_budget_bytes: 13958643712" "$dir/plan.yaml"
# --mode compat: the planner's own simulator (without --mode, -c's runtime mode: swapping, see below)
"$exe" --log-level warn simulate -c "$cfg" --hardware V100-16GB --plan "$dir/plan.yaml" --workload "$dir/trace.csv" --warmup 0 \
    --mode compat --summary "$dir/summary.json" > "$dir/sim.out"
/usr/bin/python3 - "$dir" <<'PY'
import json, re, sys
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
expected = float(re.search(r"expected_attainment: (\S+)", open(f"{d}/plan.yaml").read()).group(1))
assert abs(s["overall"]["attainment"] - expected) < 1e-12, (s["overall"]["attainment"], expected)
assert 0 < expected <= 1, expected
print("config plan ok, attainment", expected)
PY
# The plan is accepted by check-config when a deployment references it.
sed 's|^placement:.*|placement: {plan: plan.yaml}|' "$cfg" > "$dir/with-plan.yaml"
"$exe" check-config -c "$dir/with-plan.yaml" | grep -q "placement plan"

# slo_ms of the config is the SLO (not --slo-scale): 1 ms is met by no request, 100 s by every one.
sed 's/slo_ms: [0-9]*/slo_ms: 1/' "$cfg" > "$dir/tight.yaml"
sed 's/slo_ms: [0-9]*/slo_ms: 100000/' "$cfg" > "$dir/loose.yaml"
for c in tight loose; do
  "$exe" --log-level warn simulate -c "$dir/$c.yaml" --hardware V100-16GB --plan "$dir/plan.yaml" --workload "$dir/trace.csv" \
      --warmup 0 --slo-scale 5 --summary "$dir/$c.json" > /dev/null
done
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
tight = json.load(open(f"{d}/tight.json"))["overall"]
loose = json.load(open(f"{d}/loose.json"))["overall"]
assert tight["attainment"] == 0 and tight["rejected"] > 0, tight
assert loose["attainment"] == 1, loose
PY

# Bad input: exit code 2 and a message naming what is wrong.
expect_fail() { # expect_fail NEEDLE command...
  needle="$1"; shift
  set +e
  "$@" > "$dir/out.txt" 2> "$dir/err.txt"
  rc=$?
  set -e
  if [ "$rc" -ne 2 ]; then echo "expected exit 2, got $rc: $*"; cat "$dir/err.txt"; exit 1; fi
  cat "$dir/err.txt" >&2
  if ! grep -q -- "$needle" "$dir/err.txt"; then echo "expected '$needle' in:"; cat "$dir/err.txt"; exit 1; fi
}
sed 's/bert-2.6b-3/bert-9b-0/g' "$dir/plan.yaml" > "$dir/unknown.yaml"
expect_fail "unknown.yaml: models: expected models of" \
  "$exe" simulate -c "$cfg" --plan "$dir/unknown.yaml" --workload "$dir/trace.csv" --hardware V100-16GB
sed 's/^devices: 8/devices: 16/' "$dir/plan.yaml" > "$dir/big.yaml"
expect_fail "big.yaml: devices: expected at most 8 devices" \
  "$exe" simulate -c "$cfg" --plan "$dir/big.yaml" --workload "$dir/trace.csv" --hardware V100-16GB
sed 's/^\(placement:\).*/\1 {plan: unknown.yaml}/' "$cfg" > "$dir/with-unknown.yaml"
expect_fail "placement.plan: .*unknown.yaml: models" "$exe" check-config -c "$dir/with-unknown.yaml"
sed 's/slo_ms: 600/slo_ms: fast/' "$cfg" > "$dir/badcfg.yaml"
expect_fail "badcfg.yaml:9:52: models\[0\].slo_ms: expected" \
  "$exe" plan -c "$dir/badcfg.yaml" --hardware V100-16GB --workload "$dir/trace.csv" -o "$dir/p2.yaml"
expect_fail "at most the 8 devices" \
  "$exe" plan -c "$cfg" --devices 16 --hardware V100-16GB --workload "$dir/trace.csv" -o "$dir/p2.yaml"
expect_fail "exclude each other" \
  "$exe" plan -c "$cfg" --models bert-1.3b:2 --hardware V100-16GB -o "$dir/p2.yaml"
# Swapping uses the runtime's eviction policy: the config's (lru here), or --eviction; unknown names exit 2.
"$exe" --log-level warn simulate -c "$cfg" --hardware V100-16GB --plan "$dir/plan.yaml" --workload "$dir/trace.csv" \
    --mode swapping --eviction demand-aware --warmup 0 > /dev/null
expect_fail 'eviction: expected one of lru, demand-aware, swap-cost-aware, found "nope"' \
  "$exe" simulate -c "$cfg" --hardware V100-16GB --plan "$dir/plan.yaml" --workload "$dir/trace.csv" \
    --mode swapping --eviction nope
# A tensor-parallel stage across two nodes cannot run.
sed 's|^placement:.*|placement: {plan: across.yaml}|; /^  groups:/,/^$/d' "$configs/two-node.yaml" > "$dir/two.yaml"
printf 'devices: 4\nmodels: [tiny-gpt]\ngroups:\n  - {op: 2, pp: 1, devices: [1, 2], models: [tiny-gpt]}\n' \
    > "$dir/across.yaml"
expect_fail "across.yaml: windows\[0\].groups\[0\].devices: expected the tensor ranks of stage 0 on one node" \
  "$exe" check-config -c "$dir/two.yaml"
echo ok

# Without --mode, simulate -c models the deployment's runtime: no batching policy -> swapping (logged);
# a cpu deployment refuses the analytic V100 profile unless --force.
"$exe" --log-level info simulate -c "$cfg" --hardware V100-16GB --plan "$dir/plan.yaml" --workload "$dir/trace.csv" \
    --warmup 0 > /dev/null 2> "$dir/mode.txt"
grep -q "simulator mode: swapping (from the deployment: batching none, eviction lru)" "$dir/mode.txt"
sed 's/kind: cuda/kind: cpu/g' "$cfg" > "$dir/cpu.yaml"
grep -q "kind: cpu" "$dir/cpu.yaml"
expect_fail "--hardware V100-16GB: expected a profile for the deployment's cpu devices, found one for V100-16GB (kind cuda)" \
  "$exe" simulate -c "$dir/cpu.yaml" --hardware V100-16GB --plan "$dir/plan.yaml" --workload "$dir/trace.csv"
"$exe" --log-level info simulate -c "$dir/cpu.yaml" --hardware V100-16GB --force --plan "$dir/plan.yaml" \
    --workload "$dir/trace.csv" --warmup 0 > /dev/null 2> "$dir/mode.txt"
echo "config simulate: deployment modes and device kinds ok"

