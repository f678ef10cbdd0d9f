#!/usr/bin/env bash
# README command 2: install, build everything, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j 2
