#!/usr/bin/env bash
# Builds asiarch and runs every benchmark under bench/; results go to stdout
# (record them in docs/performance.md). Installs python3-torch for the
# Python reference of the training-throughput benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh asiarch compile_latency chunkwise_vs_recurrent train_throughput loop_overhead api_latency seed_archive \
  discovery_throughput
bash scripts/install-test-deps.sh  # Chromium and playwright-core (dashboard load time), Slurm (scheduling overhead)
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || {
  $SUDO apt-get update -qq; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch; }
./build/bench/compile_latency 3
echo
./build/bench/chunkwise_vs_recurrent 3 2
echo
./build/bench/train_throughput 60 2
echo
./build/bench/loop_overhead 4
echo
./build/bench/api_latency
echo
node bench/dashboard_load.mjs 10000 100 5
echo
python3 bench/slurm_overhead.py 4
echo
# Experiments per hour against the code before a change (another build: scripts/build-at.sh REV).
if [ -n "${ASIARCH_REFERENCE_BINARY:-}" ]; then
  ./build/bench/discovery_throughput "$ASIARCH_REFERENCE_BINARY" 8 1 first
else
  echo "discovery_throughput: skipped; set ASIARCH_REFERENCE_BINARY=\$(bash scripts/build-at.sh REV) to run it"
fi
