#!/bin/sh
# Black-box checks of `switchyard profile` and `switchyard trace`, driven like a user would.
# Usage: prof_cli_test.sh <switchyard binary> profile|trace
set -u
sy="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

case "$2" in
profile)
  "$sy" profile --models bert-1.3b,bert-2.6b --hardware V100-16GB -o "$dir/p.json" || fail "profile to json"
  grep -q '"format": "switchyard-profile"' "$dir/p.json" || fail "json has no format tag"
  n=$(grep -c '"model": ' "$dir/p.json")
  test "$n" -eq 38 || fail "expected 38 entries (19 configs x 2 models), found $n"
  "$sy" profile --models bert-1.3b --calibrate "$dir/p.json" -o "$dir/p.msgpack" 2>"$dir/log" || fail "calibrate"
  grep -q 'rms relative error' "$dir/log" || fail "calibration summary missing"
  test -s "$dir/p.msgpack" || fail "msgpack output empty"
  "$sy" profile --models bert-1.3b -o "$dir/p.txt" 2>"$dir/err"; rc=$?
  test $rc -ne 0 || fail "bad extension accepted"
  grep -q 'expected a .json or .msgpack extension' "$dir/err" || fail "no extension message"
  "$sy" profile --models nope -o "$dir/q.json" 2>"$dir/err"; rc=$?
  test $rc -eq 2 || fail "unknown model: exit code $rc"
  grep -q "unknown model preset 'nope'" "$dir/err" || fail "no unknown-model message"
  ;;
trace)
  "$sy" trace synth --models a,b,c --rate 50 --cv 2 --duration 20 --seed 3 -o "$dir/t.csv" >"$dir/out" || fail "synth"
  head -1 "$dir/t.csv" | grep -q '^arrival_s,model,input_tokens$' || fail "no header"
  rows=$(($(wc -l <"$dir/t.csv") - 1))
  test "$rows" -gt 500 || fail "too few requests: $rows"
  "$sy" trace convert -i "$dir/t.csv" --slice-start 5 --slice-end 15 -o "$dir/w.csv" >"$dir/out" || fail "convert"
  awk -F, 'NR > 1 && ($1 < 0 || $1 >= 10) { bad = 1 } END { exit bad }' "$dir/w.csv" || fail "slice out of window"
  printf 'arrival_s,model,input_tokens\n0.5,a,10\n0.7,a,ten\n' >"$dir/bad.csv"
  "$sy" trace convert -i "$dir/bad.csv" -o "$dir/x.csv" 2>"$dir/err"; rc=$?
  test $rc -ne 0 || fail "bad line accepted"
  grep -q "bad.csv:3: input_tokens: expected a positive integer, found 'ten'" "$dir/err" || fail "no located error"
  # Azure LLM, one file per model: file i -> model i, arrivals relative to each file's first request
  printf 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.5,100,1\n2023-11-16 18:15:48.5,9000,7\n' >"$dir/l1.csv"
  printf 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 10:00:00,300,1\n' >"$dir/l2.csv"
  "$sy" trace convert --format azure-llm -i "$dir/l1.csv" -i "$dir/l2.csv" --models m1,m2 --max-seq 2048 \
    -o "$dir/l.csv" >"$dir/out" || fail "azure-llm per model"
  # GeneratedTokens -> output_tokens (issue 10 §4): the native CSV's fifth column, slo_ms empty (the default)
  test "$(sed -n 1p "$dir/l.csv")" = "arrival_s,model,input_tokens,slo_ms,output_tokens" || fail "azure-llm header: $(cat "$dir/l.csv")"
  test "$(sed -n 4p "$dir/l.csv")" = "2.000000000,m1,2048,,7" || fail "azure-llm rows: $(cat "$dir/l.csv")"
  test "$(grep -c ',m2,300,,1$' "$dir/l.csv")" -eq 1 || fail "m2 row missing"
  ;;
alpaserve)
  # AlpaServe's pickled profiling database -> our JSON -> loaded (validated) by --calibrate
  src=$(dirname "$0")/../..
  /usr/bin/python3 "$src/tests/e2e/alpaserve_profile_fixture.py" "$dir/ap.pkl" || fail "fixture"
  /usr/bin/python3 "$src/scripts/alpaserve_profile_to_json.py" "$dir/ap.pkl" "$dir/ap.json" --pcie-gbps 12.8 \
    >"$dir/out" || fail "converter"
  grep -q '^2 entries' "$dir/out" || fail "expected 2 entries (dp=2 dropped): $(cat "$dir/out")"
  "$sy" profile --models bert-1.3b --calibrate "$dir/ap.json" -o "$dir/fit.json" 2>"$dir/log" || fail "load: $(cat "$dir/log")"
  grep -q 'rms relative error' "$dir/log" || fail "no calibration summary"
  # mms commit a82bdb1's layout (stage_latency dict, scalar weight_mem in GB): float weight bytes split over
  # the config's GPUs, no load_seconds; one entry per type serves four copies of the preset in `plan`.
  /usr/bin/python3 "$src/tests/e2e/alpaserve_profile_fixture.py" "$dir/old.pkl" old || fail "old fixture"
  /usr/bin/python3 "$src/scripts/alpaserve_profile_to_json.py" "$dir/old.pkl" "$dir/old.json" --strip-prefix alpa/ \
    >"$dir/out" || fail "old layout: $(cat "$dir/out")"
  grep -q '^2 entries' "$dir/out" || fail "old layout: expected 2 entries: $(cat "$dir/out")"
  grep -q '1395864371.2' "$dir/old.json" || fail "old layout: expected 2.6 GB / 2 per stage: $(cat "$dir/old.json")"
  grep -q 'load_seconds' "$dir/old.json" && fail "old layout: load_seconds written without --pcie-gbps"
  "$sy" plan --profile "$dir/old.json" --models bert-1.3b:4 --devices 2 --duration 20 -o "$dir/plan.yaml" \
    >"$dir/log" 2>&1 || fail "plan on a per-type profile: $(cat "$dir/log")"
  grep -q 'bert-1.3b-3' "$dir/plan.yaml" || fail "plan does not name the copies: $(cat "$dir/plan.yaml")"
  # What cannot be converted fails with the model and a non-zero exit, never 0 entries and exit 0.
  for bad in old-no-weight empty; do
    /usr/bin/python3 "$src/tests/e2e/alpaserve_profile_fixture.py" "$dir/$bad.pkl" $bad || fail "$bad fixture"
    /usr/bin/python3 "$src/scripts/alpaserve_profile_to_json.py" "$dir/$bad.pkl" "$dir/$bad.json" >"$dir/out" 2>&1 \
      && fail "$bad: converter exited 0: $(cat "$dir/out")"
    test -e "$dir/$bad.json" && fail "$bad: converter wrote an output"
  done
  /usr/bin/python3 "$src/scripts/alpaserve_profile_to_json.py" "$dir/old-no-weight.pkl" "$dir/x.json" 2>"$dir/out"
  grep -q "old-no-weight.pkl: model 'alpa/bert-1.3b': old layout (stage_latency dict): expected weight_mem to be one number for the whole model, found None" "$dir/out" \
    || fail "old layout without weights: $(cat "$dir/out")"
  /usr/bin/python3 "$src/scripts/alpaserve_profile_to_json.py" "$dir/empty.pkl" "$dir/x.json" 2>"$dir/out"
  grep -q "empty.pkl: the database holds no model" "$dir/out" || fail "empty database: $(cat "$dir/out")"
  ;;
measure)
  # --measure on the cpu engine, devices and budget from a small cpu deployment
  cat >"$dir/small.yaml" <<'YAML'
nodes:
  - {name: local, address: 127.0.0.1:7500, devices: {kind: cpu, count: 2, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 100}
  - {preset: tiny-bert, weights: {seed: 3}, slo_ms: 100}
placement: {policy: mp-round-robin}
YAML
  "$sy" profile --measure -c "$dir/small.yaml" --seq 8 --reps 3 -o "$dir/m.json" 2>"$dir/log" || fail "measure: $(cat "$dir/log")"
  "$sy" profile -c "$dir/small.yaml" --seq 8 --reps 1 --devices 1 --configs 1x1,2x1 -o "$dir/one.msgpack" \
    2>"$dir/log" || fail "measure 1 device: $(cat "$dir/log")"
  grep -q "measuring the engine on" "$dir/log" && grep -q "(measured)" "$dir/log" \
    || fail "profile -c without --hardware should measure the config's devices: $(cat "$dir/log")"
  /usr/bin/python3 - "$dir" <<'PY' || fail "measured db"
import json, sys
d = sys.argv[1]
db = json.load(open(f"{d}/m.json"))
assert db["format"] == "switchyard-profile", db["format"]
got = {(e["model"], e["op"], e["pp"]) for e in db["entries"]}
# 2 devices: every config with op * pp <= 2 that the models' 4 heads and 4 layers allow
want = {(m, op, pp) for m in ("tiny-gpt", "tiny-bert") for op in (1, 2, 4, 8) for pp in (1, 2, 4, 8, 16)
        if op * pp <= 2}
assert got == want, (sorted(got), sorted(want))
for e in db["entries"]:
    pp = e["pp"]
    assert len(e["stage_latency"]) == 5 and len(e["act_bytes"]) == 5, e
    assert all(len(row) == pp and all(x > 0 for x in row) for row in e["stage_latency"]), e
    assert len(e["weight_bytes"]) == pp and all(w > 0 for w in e["weight_bytes"]), e
    assert len(e["load_seconds"]) == pp and all(x > 0 for x in e["load_seconds"]), e
    acts = [sum(r) for r in e["act_bytes"]]
    assert all(a < b for a, b in zip(acts, acts[1:])), acts
    total = [sum(r) for r in e["stage_latency"]]
    assert total[-1] > total[0], total  # 16 sequences take longer than one
print("measured", len(got), "entries")
PY
  /usr/bin/python3 -c "
import msgpack, sys
db = msgpack.unpackb(open(sys.argv[1], 'rb').read(), raw=False)
got = sorted((e['model'], e['op'], e['pp']) for e in db['entries'])
assert got == [('tiny-bert', 1, 1), ('tiny-gpt', 1, 1)], got
" "$dir/one.msgpack" || fail "--devices 1 --configs 1x1,2x1: expected the 1x1 entries only"
  "$sy" profile -c "$dir/small.yaml" --calibrate "$dir/m.json" -o "$dir/cal.json" 2>"$dir/log" || fail "calibrate: $(cat "$dir/log")"
  grep -q 'rms relative error' "$dir/log" || fail "no calibration summary"
  "$sy" --log-level warn plan -c "$dir/small.yaml" --profile "$dir/m.json" --rate 50 --duration 10 -o "$dir/plan.yaml" \
    >"$dir/out" 2>&1 || fail "plan on the measured db: $(cat "$dir/out")"
  "$sy" profile --measure -c "$dir/small.yaml" --backend nope -o "$dir/y.json" 2>"$dir/err"; rc=$?
  test $rc -eq 2 || fail "bad --backend: exit code $rc"
  ;;
runtime)
  # The runtime probe: generations through an in-process runtime of an explicit deployment give the profile's
  # gen_hop_s / gen_request_s; --runtime-only re-probes a db; a bad overhead value is refused by entry and field.
  cat >"$dir/probe.yaml" <<'YAML'
nodes:
  - {name: local, address: 127.0.0.1:7500, devices: {kind: cpu, count: 2, memory: 256MiB}}
models:
  - {preset: tiny-gpt, weights: {seed: 1}, slo_ms: 100}
placement:
  groups:
    - {name: dec, devices: [0, 1], tensor: 1, pipeline: 2, models: [tiny-gpt]}
YAML
  "$sy" profile -c "$dir/probe.yaml" --configs 1x1,1x2 --seq 8 --reps 1 -o "$dir/p.json" 2>"$dir/log" \
    || fail "profile with the runtime probe: $(cat "$dir/log")"
  grep -q "runtime probe tiny-gpt (group dec, pp 2, prompt 32, 16 new tokens, 6 runs)" "$dir/log" \
    || fail "no runtime probe line: $(cat "$dir/log")"
  # one-pass requests of the profile's --seq tokens give request_s; a cpu profile records the host's cores
  grep -q "runtime probe tiny-gpt (group dec, one pass, 8 tokens, 6 runs): latency live .* -> " "$dir/log" \
    && grep -q "runtime probe: one-pass request_s .* (the smallest over 1 models)" "$dir/log" \
    || fail "no one-pass runtime probe line: $(cat "$dir/log")"
  # host_cores from the engine's own forwards on the 2 devices at once (not the synthetic kernel's)
  grep -q "engine capacity: .* batch-1 forwards of tiny-gpt (8 tokens) on 2 devices at once ran at .* devices' worth" \
    "$dir/log" && grep -q "host_cores .*: the engine's capacity" "$dir/log" \
    || fail "no engine capacity line: $(cat "$dir/log")"
  /usr/bin/python3 - "$dir" "$(nproc)" <<'PY' || fail "host_cores / request_s in the measured db"
import json, sys
db = json.load(open(f"{sys.argv[1]}/p.json"))
assert db["device"] == "cpu" and 1 <= db["host_cores"] <= int(sys.argv[2]), (db.get("device"), db.get("host_cores"))
assert all(e.get("request_s", 0) >= 0 for e in db["entries"]), db["entries"]
PY
  "$sy" profile -c "$dir/probe.yaml" --runtime-only "$dir/p.json" --runtime-probe 5 -o "$dir/p2.json" 2>"$dir/log" \
    || fail "--runtime-only: $(cat "$dir/log")"
  grep -q "runtime probe tiny-gpt (group dec, pp 2, prompt 32, 16 new tokens, 3 runs)" "$dir/log" \
    || fail "--runtime-probe 5: $(cat "$dir/log")"
  /usr/bin/python3 - "$dir" <<'PY' || fail "probed db"
import json, sys
d = sys.argv[1]
db = json.load(open(f"{d}/p2.json"))
for e in db["entries"]:
    for k in ("gen_hop_s", "gen_request_s", "request_s"):  # written only when > 0
        assert e.get(k, 0) >= 0, e
    assert "gen_step_s" in e, e
e = db["entries"][0]
e["gen_hop_s"] = -0.001
json.dump(db, open(f"{d}/bad.json", "w"))
e["gen_hop_s"] = "fast"
json.dump(db, open(f"{d}/bad2.json", "w"))
PY
  # --runtime-only DB refused: exit code 1 and the message (a grep pattern)
  refused() {
    "$sy" profile -c "$dir/probe.yaml" --runtime-only "$dir/$1" -o "$dir/x.json" 2>"$dir/err"; rc=$?
    test $rc -eq 1 || fail "$2: exit code $rc"
    grep -q "$3" "$dir/err" || fail "$2 message: $(cat "$dir/err")"
  }
  refused bad.json "negative gen_hop_s" \
    "entry 0 (model 'tiny-gpt'): field 'gen_hop_s': expected a finite non-negative number of seconds, found -0.001"
  refused bad2.json "non-numeric gen_hop_s" "field 'gen_hop_s': expected a number of seconds, found string"
  /usr/bin/python3 - "$dir" <<'PY' || fail "bad request_s / host_cores dbs"
import json, sys
d = sys.argv[1]
db = json.load(open(f"{d}/p2.json"))
db["entries"][0]["request_s"] = -0.5
json.dump(db, open(f"{d}/bad3.json", "w"))
db["entries"][0].pop("request_s")
db["host_cores"] = 0
json.dump(db, open(f"{d}/bad4.json", "w"))
PY
  refused bad3.json "negative request_s" \
    "entry 0 (model 'tiny-gpt'): field 'request_s': expected a finite non-negative number of seconds, found -0.5"
  refused bad4.json "host_cores 0" "field 'host_cores': expected a number of cores in \[1, 65536\], found 0"
  ;;
*) fail "unknown mode $2" ;;
esac
echo ok
