#!/usr/bin/env bash
# The repeatable recipe for the GPU checks: build here (nvcc, no GPU needed), run on a GPU machine that has
# a CUDA driver but none of our Debian libraries.
#
#   scripts/gpu_check.sh prepare   # on the build machine: build build-gpu/ with CUDA, stage the binaries in
#                                  # build-gpu/stage/, put their Debian runtime libraries in .devlibs/lib/
#   scripts/gpu_check.sh run       # on the GPU machine, from the repository root, with build-gpu/stage and
#                                  # .devlibs carried over: every gpu-labelled test, then the forward
#                                  # passes and the engine benchmark
#
# With the device tool of this workplace:  run(command="bash scripts/gpu_check.sh run",
#                                               carry=["build-gpu/stage", ".devlibs"])
# Output goes to stdout and, when $OUT is set, to $OUT/gpu_check.log. Exit status: 0 when every check
# passed, 1 otherwise (a test that skips with 77 on the GPU machine counts as a failure there: the point
# of the run is to have a device).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD_DIR:-build-gpu}
STAGE=$BUILD/stage
LIBS=.devlibs/lib

prepare() {
  set -e
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_ENABLE_CUDA=ON
  cmake --build "$BUILD" -j "${JOBS:-2}" --target switchyard sy_cuda sy_cuda_plugin_test sy_cuda_kernels_test sy_cuda_engine_test sy_cuda_arch_test sy_cuda_paged_test \
    sy_cuda_bench
  rm -rf "$STAGE" && mkdir -p "$STAGE/bin" "$STAGE/lib"
  cp "$BUILD/apps/switchyard" "$BUILD/apps/switchyard-sim" "$BUILD/apps/switchyard-runtime" "$BUILD"/tests/sy_cuda_*_test "$STAGE/bin/"
  cp "$BUILD/gpu/cuda/sy_cuda_bench" "$STAGE/bin/"
  cp "$BUILD/gpu/cuda/libsy_cuda.so" "$STAGE/lib/"

  # Runtime libraries that are neither glibc (the GPU machine has its own) nor CUDA (it has the toolkit).
  mkdir -p "$LIBS" .devlibs/debs .devlibs/root
  mapfile -t needed < <(for f in "$STAGE"/bin/* "$STAGE"/lib/*; do ldd "$f"; done | awk '/=> \// {print $3}' |
    sort -u | grep -v -e '/usr/local/cuda' -e '/libc\.so' -e '/libm\.so' -e '/libdl\.so' -e '/libpthread\.so' \
      -e '/librt\.so' -e '/ld-linux' -e "$ROOT")
  for lib in "${needed[@]}"; do
    real=$(readlink -f "$lib")
    pkg=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1 || true)
    # The Debian package, unpacked (apt-get download + dpkg -x); the installed file if that fails (offline).
    if [ -n "$pkg" ] && (cd .devlibs/debs && apt-get download -qq "$pkg" >/dev/null 2>&1); then
      for deb in .devlibs/debs/"${pkg}"_*.deb; do dpkg -x "$deb" .devlibs/root; done
      src=.devlibs/root$real
      [ -f "$src" ] || src=$real
    else
      src=$real
    fi
    cp -L "$src" "$LIBS/$(basename "$lib")"
  done
  rm -rf .devlibs/debs .devlibs/root
  echo "prepare: staged $(ls "$STAGE/bin" | wc -l) binaries; libraries in $LIBS:"
  ls "$LIBS"
  du -sh "$STAGE" .devlibs
}

run() {
  local log=/dev/null fails=0
  [ -n "${OUT:-}" ] && log=$OUT/gpu_check.log
  exec > >(tee "$log") 2>&1
  export LD_LIBRARY_PATH=$ROOT/$STAGE/lib:$ROOT/$LIBS:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  export SWITCHYARD_CUDA_PLUGIN=$ROOT/$STAGE/lib/libsy_cuda.so
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  for t in "$STAGE"/bin/sy_cuda_*_test; do
    echo "=== $(basename "$t")"
    "$t"
    rc=$?
    echo "=== $(basename "$t"): exit $rc"
    [ $rc -eq 0 ] || fails=$((fails + 1))
  done
  local sy=$STAGE/bin/switchyard tokens
  tokens=$(seq -s, 1 64)
  for model in tiny-gpt tiny-bert gpt-100m; do
    for backend in cpu cuda; do
      echo "=== run-model $model --backend $backend"
      time "$sy" run-model --model "$model" --seed 1 --backend "$backend" --tokens "$tokens" ||
        fails=$((fails + 1))
    done
  done
  echo "=== sy_cuda_bench (per-op timings)"
  "$STAGE/bin/sy_cuda_bench" 20 || fails=$((fails + 1))
  echo "=== bench engine"
  if "$sy" bench engine --help 2>/dev/null | grep -q -- '--backend'; then
    "$sy" bench engine --backend cuda --no-torch || fails=$((fails + 1))
  else
    echo "(bench engine has no --backend option yet: running its cpu numbers only)"
    "$sy" bench engine --model small-gpt --batches 1,4 --no-torch || fails=$((fails + 1))
  fi
  echo "gpu_check: $fails failure(s)"
  [ $fails -eq 0 ]
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
