#!/usr/bin/env bash
# Installs switchyard's Debian packages (idempotent, no prompts), then configures and builds into build/.
# Usage: scripts/setup.sh [extra cmake args...]   Environment: BUILD_DIR (default build), JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config git
  libcaf-dev libmsgpack-cxx-dev libspdlog-dev libfmt-dev catch2 libyaml-cpp-dev libcli11-dev
  libopenblas-dev coinor-libcbc-dev libcpp-httplib-dev
  python3 python3-torch python3-numpy python3-matplotlib python3-msgpack
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

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
