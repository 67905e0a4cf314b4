#!/usr/bin/env bash
# Sets up (packages, build) and runs every test. GPU tests (label gpu) are skipped, visibly, without a device.
# Then the sanitizer stage (issue 9 §5): build-asan (clang, ASan + UBSan, libFuzzer) runs the unit tests, every
# fuzz target on its fixed number of inputs, and the e2e subset below; see tests/sanitize/README.md.
# Environment: BUILD_DIR (default build), ASAN_BUILD_DIR (default build-asan), ASAN=0 skips the sanitizer
# stage, STRESS=1 adds the shutdown stress test (label stress, 50 runs) to the normal run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}" # clones in other folders share ccache hits
bash scripts/setup.sh
jobs=$(nproc)

stage() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

stage "tests, build ${BUILD_DIR:-build}"
labels_out="stress"
[ "${STRESS:-0}" = 1 ] && labels_out="^$"
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 -j "$jobs" -LE "$labels_out")

# The sanitizer stage (issue 9 §5), on by default (ASAN=0 skips it): build-asan (clang, ASan + UBSan, libFuzzer)
# runs the unit tests, every fuzz target and the e2e subset below. Cost on 2 cores: see README "Sanitizers"
# (the build dominates: a few minutes with a warm ccache, longer from a cold one).
[ "${ASAN:-1}" = 1 ] || exit 0

asan=${ASAN_BUILD_DIR:-build-asan}
stage "sanitizer build, $asan"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DSWITCHYARD_ENABLE_CUDA=OFF -DSWITCHYARD_SANITIZE=ON -DSWITCHYARD_FUZZ=ON "${launcher[@]}" >/dev/null
cmake --build "$asan" -j "$jobs"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$root/tests/sanitize/ubsan.supp"
export LSAN_OPTIONS="suppressions=$root/tests/sanitize/lsan.supp"
stage "sanitizer run: unit tests and fuzz targets"
(cd "$asan" && ctest --output-on-failure --timeout 600 -j "$jobs" -L "unit|fuzz" -LE gpu)
# The e2e subset under ASan (24 tests, about 2 min on 2 cores): the ingress (protocol, HTTP, drain with
# requests in flight, the reliability scenarios that exercise shutdown, wrong clients, oversized prefixes,
# client errors, KServe, control tokens), generation (msgpack, burst, disconnect mid-stream, HTTP, OpenAI),
# plug-ins (in-process faults, isolated hosts that abort or block; `segv` stays in the normal run: under ASan
# the host spends its deadline printing ASan's SEGV report, so the fault is counted as a timeout), two
# processes (a node killed, hung, rejoining), a live migration, config errors. The others replay longer traces
# whose slowdown under ASan would cost more CI time than they add coverage.
stage "sanitizer run: e2e subset"
(cd "$asan" && ctest --output-on-failure --timeout 600 -j 1 -R "$(printf '%s|' \
  'e2e ingress (protocol|http|drain)' \
  'e2e ingress reliability (wrong_client|sigterm_at_once|http_drain|oversized_prefix|client_errors|kserve|control_token)' \
  'e2e generate (msgpack|burst|disconnect|http|openai)' \
  'e2e policy plug-ins (serve|faulty)' 'e2e isolated policy plug-ins (abort|block)' \
  'e2e multinode (node_killed|node_hung|rejoin)' 'e2e a plan posted' 'check-config exits 2' | sed 's/|$//')")
stage "done"
