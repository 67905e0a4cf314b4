#!/usr/bin/env bash
# Sets up (packages, build) and runs every test. GPU tests (label gpu) are skipped, visibly, without a device.
# With ASAN=1 the sanitizer stage follows (issue 9 §5): build-asan (clang, ASan + UBSan, libFuzzer) runs the unit
# tests, every fuzz target for SWITCHYARD_FUZZ_SECONDS, and the e2e subset below; see tests/sanitize/README.md.
# Environment: BUILD_DIR (default build), ASAN_BUILD_DIR (default build-asan), ASAN=1 adds the sanitizer
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

# Opt-in until its unit tests pass whole: its first complete run (session 16) built and ran everything, and
# UBSan stopped 54 unit tests in CAF 0.17's init_fun_factory (a null shared_ptr<tuple<>> dereferenced when a
# function-based actor is spawned with no extra arguments; the report is located in libstdc++'s
# shared_ptr_base.h, so the CAF-header suppression does not match it). README "Sanitizers".
[ "${ASAN:-0}" = 1 ] || exit 0

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
# The e2e subset under ASan: the ingress (protocol, HTTP, drain with requests in flight), plug-ins (in-process
# faults, isolated hosts that crash), two processes (a node killed), config errors. The others replay
# longer traces whose slowdown under ASan would cost more CI time than they add coverage.
stage "sanitizer run: e2e subset"
(cd "$asan" && ctest --output-on-failure --timeout 600 -j 1 \
  -R "e2e ingress (protocol|http|drain)|e2e policy plug-ins (serve|faulty)|e2e isolated policy plug-ins (segv|block)|e2e multinode node_killed|check-config exits 2")
stage "done"
