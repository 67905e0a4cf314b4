#!/usr/bin/env bash
# Sets up (packages, build) and runs every test. GPU tests (label gpu) are skipped, visibly, without a device.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j "$(nproc)"
