#!/usr/bin/env bash
# README command 1: install, build the asiarch program (not the tests and benchmarks), and run
# the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh asiarch
echo
echo "== asiarch compile plugins/examples/*.cpp plugins/baselines/*.cpp"
./build/asiarch compile plugins/examples/*.cpp plugins/baselines/*.cpp
echo
echo "== asiarch run --budget 5 --preset smoke"
./build/asiarch run --budget 5 --preset smoke
echo
echo "Next: ./build/asiarch run --budget 20 --workdir explore-run   (explore: a few minutes per experiment;"
echo "      then the best 2 go to the verify preset, meant for a GPU; add --promote 0 to skip that)"
