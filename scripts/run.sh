#!/usr/bin/env bash
# README command 1: install, build, and run the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
echo
echo "== asiarch compile plugins/examples/*.cpp"
./build/asiarch compile plugins/examples/*.cpp
