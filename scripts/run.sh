#!/usr/bin/env bash
# README command 1: install, build the asiarch program (not the tests and benchmarks), and run
# the main job on the embedded defaults: a first run whose ranking is larger than its noise.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh asiarch
echo
echo "== asiarch compile plugins/examples/*.cpp plugins/baselines/*.cpp"
./build/asiarch compile plugins/examples/*.cpp plugins/baselines/*.cpp
echo
# The first preset: explore's model on noisy recall, selective copying and byte LM, where the
# baselines separate at 300 steps (DeltaNet far above linear attention). Three seeds per design
# give each metric a 95% interval and each design a verdict against DeltaNet paired by seed; the
# best design is then checked on the held-out tasks (other task settings, another corpus). About
# 10 minutes on 2 cores; Gated DeltaNet beside them (--baselines ...,gated_delta_net) adds 3.
# Early stopping is off here: with two evolved designs the point is to see them ranked with their
# intervals, and the offline Researcher's first designs are often clearly behind DeltaNet by a
# quarter of the steps, where a longer run (the default: on) would stop them and save the compute.
args=(run --workdir first-run --preset first --budget 2 --seeds 3 --held-out 1
      --baselines linear_attention,delta_net --early-stop off)
echo "== asiarch ${args[*]}"
./build/asiarch "${args[@]}"
echo
echo "Next: ./build/asiarch compare ID_A ID_B --workdir first-run    (paired by seed, with intervals)"
echo "      ./build/asiarch run --budget 20 --workdir explore-run      (explore: a few minutes per experiment;"
echo "      then the best 25% go up the ladder to verify, meant for a GPU; add --promote 0 to skip that)"
