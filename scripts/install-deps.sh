#!/usr/bin/env bash
# Installs every Debian package asiarch needs to build, test and run (Debian 12 bookworm).
# Safe to re-run: apt skips what is already installed.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  llvm-16-dev libclang-16-dev libclang-cpp16-dev clang-16
  libtorch-dev libopenblas0-pthread
  nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev libcli11-dev
  libcurl4-openssl-dev zlib1g-dev python3 openssl
  bible-kjv bible-kjv-text fortunes
)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
