#!/usr/bin/env bash
# Sets up (packages, build), then replays a demo trace against the embedded default deployment (one node,
# four CPU devices, four small models) served in-process, and prints the summary. The trace
# (examples/traces/demo.csv, made by scripts/make_replay_traces.py): 12 s, about 16 req/s, Gamma arrivals
# (CV 2), power-law popularity; the encoders get one-pass requests, the decoders generations (prompt 16,
# 4-16 new tokens), so the table shows TTFT, TPOT and tokens/s beside the one-pass models.
# Outputs land in ${DEMO_OUT:-out/demo}/ (ignored by git): records.csv, summary.json, plots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
out=${DEMO_OUT:-out/demo}
mkdir -p "$out"
./build/apps/switchyard replay --trace examples/traces/demo.csv \
  --records "$out/records.csv" --summary "$out/summary.json" --plots "$out/plots" "$@"
echo "summary: $out/summary.json"
cat "$out/summary.json"
