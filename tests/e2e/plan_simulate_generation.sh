#!/bin/sh
# Black-box: generation workloads in plan and simulate (issue 10 §4). Plans LLMs under TTFT/TPOT SLOs with the
# generation simulator, simulates the plan, checks the summary's generation block and the records' columns
# against each other and the plan's expectation; an Azure LLM trace through `trace convert`; the precise errors
# (an encoder given generation requests, a profile without the generation fields, a bad GeneratedTokens).
# usage: plan_simulate_generation.sh path/to/switchyard
set -eu
exe="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
common="--hardware A100-40GB --models opt-1.3b:2,opt-6.7b --rate 6 --duration 30 --seed 2 --input-tokens 256
        --output-tokens 64 --ttft-ms 400 --tpot-ms 40"
"$exe" --log-level warn plan $common --devices 4 --mem-budget-gib 40 --policy mp-search -o "$dir/plan.yaml" > "$dir/plan.out"
grep -q "expected (planning trace, generation simulator, untrimmed) generation: " "$dir/plan.out"
grep -q "generation requests: both SLOs" "$dir/plan.out"
"$exe" --log-level warn simulate $common --mem-budget-gib 40 --plan "$dir/plan.yaml" --warmup 0 \
    --summary "$dir/summary.json" --records "$dir/records.csv" > "$dir/sim.out"
grep -q "^generation: " "$dir/sim.out"
/usr/bin/python3 - "$dir" <<'PY'
import csv, json, re, sys
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
rows = list(csv.DictReader(open(f"{d}/records.csv")))
g = s["overall"]["generation"]
assert g["requests"] == len(rows) == s["overall"]["requests"], (g, len(rows))
ok = [r for r in rows if r["status"] == "ok"]
assert ok, "nothing served"
for r in ok:
    assert int(r["new_tokens"]) == 64, r
    a, f, ft = float(r["arrival"]), float(r["finish"]), float(r["first_token"])
    assert a <= ft <= f, r
    assert abs(float(r["tpot"]) - (f - ft) / 63) < 1e-9, r
good = sum(1 for r in ok if float(r["first_token"]) - float(r["arrival"]) <= 0.4 and float(r["tpot"]) <= 0.04)
assert abs(g["attainment"] - good / len(rows)) < 1e-12, (g["attainment"], good, len(rows))
ttft = sorted(float(r["first_token"]) - float(r["arrival"]) for r in ok)
assert abs(g["ttft_p50_s"] - ttft[int(0.5 * len(ttft))]) < 1e-12
plan = open(f"{d}/plan.yaml").read()
expected = float(re.search(r"expected_attainment: (\S+)", plan).group(1))
assert abs(g["attainment"] - expected) < 1e-12, (g["attainment"], expected)
print("ok", len(rows), "generation requests, attainment", expected, "TTFT p50", g["ttft_p50_s"], "TPOT p50", g["tpot_p50_s"])
PY
# An Azure LLM trace (TIMESTAMP,ContextTokens,GeneratedTokens) through `trace convert`: output_tokens column.
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,300,20\n2023-11-16 18:15:47.00,5000,0\n2023-11-16 18:15:48.50,40,7\n' > "$dir/azure.csv"
"$exe" --log-level warn trace convert --format azure-llm -i "$dir/azure.csv" --models opt-1.3b -o "$dir/llm.csv" > /dev/null
head -1 "$dir/llm.csv" | grep -qx "arrival_s,model,input_tokens,slo_ms,output_tokens"
grep -q "^0.000000000,opt-1.3b,300,,20$" "$dir/llm.csv"
grep -q ",opt-1.3b,2048,,1$" "$dir/llm.csv"   # clipped to max_seq, 0 generated tokens -> 1
printf 'models: [opt-1.3b]\nwindows:\n  - start: 0\n    groups:\n      - {op: 1, pp: 1, models: [opt-1.3b]}\n' > "$dir/one.yaml"
"$exe" --log-level warn simulate --hardware A100-40GB --trace "$dir/llm.csv" --plan "$dir/one.yaml" --warmup 0 \
    --records "$dir/llm_records.csv" > "$dir/llm.out"
grep -q "^generation: 3 requests" "$dir/llm.out"
/usr/bin/python3 - "$dir/llm_records.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["new_tokens"] for r in rows] == ["20", "1", "7"], rows
PY
# A bad GeneratedTokens names the file and line.
printf 'TIMESTAMP,ContextTokens,GeneratedTokens\n0,5,5\n1,5,-2\n' > "$dir/bad_llm.csv"
if "$exe" --log-level warn trace convert --format azure-llm -i "$dir/bad_llm.csv" --models opt-1.3b -o "$dir/x.csv" 2> "$dir/err.txt"; then exit 1; fi
grep -q "bad_llm.csv:3: GeneratedTokens: expected a non-negative integer, found '-2'" "$dir/err.txt"
# An encoder given generation requests.
printf 'arrival_s,model,input_tokens,slo_ms,output_tokens\n0,bert-1.3b,16,,8\n' > "$dir/enc.csv"
printf 'models: [bert-1.3b]\nwindows:\n  - start: 0\n    groups:\n      - {op: 1, pp: 1, models: [bert-1.3b]}\n' > "$dir/enc.yaml"
if "$exe" --log-level warn simulate --hardware V100-16GB --trace "$dir/enc.csv" --plan "$dir/enc.yaml" 2> "$dir/err.txt"; then exit 1; fi
grep -q "1 generation request(s) (output_tokens > 0) for model 'bert-1.3b', which is an encoder" "$dir/err.txt"
# A profile without the generation fields (written before they existed) still loads, but generation refuses it.
"$exe" --log-level warn profile --hardware A100-40GB --models opt-1.3b --configs 1x1 -o "$dir/p.json"
/usr/bin/python3 - "$dir/p.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
for e in p["entries"]:
    assert "decode_s_per_seq" in e, e.keys()
    for k in ("gen_step_s", "prefill_s_per_token", "decode_s_per_seq", "decode_s_per_ctx", "kv_bytes_per_token"):
        del e[k]
json.dump(p, open(sys.argv[1], "w"))
PY
if "$exe" --log-level warn simulate --profile "$dir/p.json" --trace "$dir/llm.csv" --plan "$dir/one.yaml" 2> "$dir/err.txt"; then exit 1; fi
grep -q "model 'opt-1.3b' (op 1, pp 1) has generation requests, but its profile entry has no generation costs" "$dir/err.txt"
# profile --measure fits the generation costs of decoders on the engine (cpu backend); encoders get none; the
# measured profile drives the generation simulator.
"$exe" --log-level warn profile --measure --backend cpu --models tiny-gpt,tiny-bert --configs 1x1 --reps 1 -o "$dir/m.json"
/usr/bin/python3 - "$dir/m.json" <<'PY'
import json, sys
p = {e["model"]: e for e in json.load(open(sys.argv[1]))["entries"]}
g, b = p["tiny-gpt"], p["tiny-bert"]
assert g["kv_bytes_per_token"] == [4 * 2 * 64 * 4], g["kv_bytes_per_token"]  # 4 layers, K and V, hidden 64, f32
# a one-sequence decode step at context 64 costs something (the fit keeps every coefficient >= 0)
assert g["gen_step_s"][0] + g["decode_s_per_seq"][0] + 64 * g["decode_s_per_ctx"][0] > 0, g
assert min(g["gen_step_s"][0], g["decode_s_per_seq"][0], g["decode_s_per_ctx"][0], g["prefill_s_per_token"][0]) >= 0, g
assert "gen_step_s" not in b, b.keys()
PY
printf 'arrival_s,model,input_tokens,slo_ms,output_tokens\n0,tiny-gpt,16,,8\n0.01,tiny-gpt,30,,4\n' > "$dir/tiny.csv"
printf 'models: [tiny-gpt]\nwindows:\n  - start: 0\n    groups:\n      - {op: 1, pp: 1, models: [tiny-gpt]}\n' > "$dir/tiny.yaml"
"$exe" --log-level warn simulate --profile "$dir/m.json" --trace "$dir/tiny.csv" --plan "$dir/tiny.yaml" --warmup 0 > "$dir/tiny.out"
grep -q "^generation: 2 requests" "$dir/tiny.out"
echo ok
