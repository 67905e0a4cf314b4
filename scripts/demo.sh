#!/usr/bin/env bash
# Sets up (packages, build), then replays a demo trace against the embedded default deployment (one node,
# four CPU devices, four small models) served in-process, and prints the summary.
# Outputs land in ${DEMO_OUT:-out/demo}/ (ignored by git): records.csv, summary.json, plots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
out=${DEMO_OUT:-out/demo}
mkdir -p "$out"
./build/apps/switchyard replay --rate 20 --cv 2 --duration 15 --tokens 16 --seed 1 \
  --records "$out/records.csv" --summary "$out/summary.json" --plots "$out/plots" "$@"
echo "summary: $out/summary.json"
cat "$out/summary.json"
