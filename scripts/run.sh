#!/usr/bin/env bash
# README command 1: install, build, and run the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
echo
echo "== asiarch compile plugins/examples/*.cpp plugins/baselines/*.cpp"
./build/asiarch compile plugins/examples/*.cpp plugins/baselines/*.cpp
echo
echo "== asiarch eval plugins/baselines/delta_net.cpp --preset smoke"
./build/asiarch eval plugins/baselines/delta_net.cpp --preset smoke
echo
echo "Next: ./build/asiarch baselines --preset explore   (about 20 minutes; see docs/baselines.md)"
