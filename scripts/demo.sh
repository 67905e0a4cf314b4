#!/usr/bin/env bash
# Sets up (packages, build) and runs the main job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
exec ./build/apps/switchyard presets "$@"
