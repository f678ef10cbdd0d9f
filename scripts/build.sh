#!/usr/bin/env bash
# Installs the Debian packages asiarch needs, then configures and builds it in build/.
# Arguments are CMake targets to build (default: all of them, tests and benchmarks included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > build.configure.log 2>&1 || {
  cat build.configure.log; exit 1; }
grep -E '^-- asiarch:' build.configure.log || true
targets=()
[ $# -gt 0 ] && targets=(--target "$@")
# Torch-heavy units take ~1.5 GiB each to compile; two at a time fits 2 cores / 24 GiB.
cmake --build build -j "${ASIARCH_BUILD_JOBS:-2}" "${targets[@]}"
