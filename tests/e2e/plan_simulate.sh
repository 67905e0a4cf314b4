#!/bin/sh
# Black-box: plan a small deployment, simulate it, check the outputs' shape and that the simulated attainment
# matches the plan's expectation when planning and simulating on the same trace.
# usage: plan_simulate.sh path/to/switchyard
set -eu
exe="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
common="--hardware V100-16GB --models bert-1.3b:6 --rate 30 --cv 2 --duration 40 --slo-scale 5 --seed 3"
"$exe" --log-level warn plan $common --devices 4 --policy mp-search -o "$dir/plan.yaml" > "$dir/plan.out"
grep -q "expected SLO attainment" "$dir/plan.out"
grep -q "^windows:" "$dir/plan.yaml"
grep -qx "slo_scale: 5" "$dir/plan.yaml"
"$exe" --log-level warn simulate $common --plan "$dir/plan.yaml" --warmup 0 \
    --summary "$dir/summary.json" --records "$dir/records.csv" > "$dir/sim.out"
head -1 "$dir/records.csv" | grep -qx "id,model,arrival,dispatch,start,finish,status,reason,group,batch_size,load_wait,new_tokens,first_token,tpot"
/usr/bin/python3 - "$dir" <<'PY'
import csv, json, re, sys
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
rows = list(csv.DictReader(open(f"{d}/records.csv")))
assert s["trimmed_each_end"] == 0, s["trimmed_each_end"]
assert s["overall"]["requests"] == len(rows)
assert s["untrimmed_requests"] == len(rows) and s["untrimmed_attainment"] == s["overall"]["attainment"], s
assert s["slo_scale"] == 5, s.get("slo_scale")
assert all(m["slo_s"] > 0 for m in s["models"]), s["models"]
assert [r["id"] for r in rows] == [str(i) for i in range(len(rows))]
assert {r["model"] for r in rows} <= {m["name"] for m in s["models"]}
assert all((r["reason"] == "") == (r["status"] == "ok") for r in rows), "a reason for every request not served"
ok = sum(r["status"] == "ok" for r in rows)
assert s["overall"]["ok"] == ok
plan = open(f"{d}/plan.yaml").read()
expected = float(re.search(r"expected_attainment: (\S+)", plan).group(1))
assert abs(s["overall"]["attainment"] - expected) < 1e-12, (s["overall"]["attainment"], expected)
for r in rows:
    assert float(r["finish"]) >= float(r["arrival"])
print("ok", len(rows), "requests, attainment", expected)
PY
# A bad plan is an error naming the file and line.
printf 'models: [a]\ngroups:\n  - {op: 1, pp: x, models: [a]}\n' > "$dir/bad.yaml"
if "$exe" --log-level warn simulate $common --plan "$dir/bad.yaml" 2> "$dir/err.txt"; then exit 1; fi
grep -q "bad.yaml:3" "$dir/err.txt"
