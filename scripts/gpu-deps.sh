#!/usr/bin/env bash
# Makes third_party/gpu-deps.tar.xz on a Debian 12 machine: every library the build needs beyond
# a CUDA + PyTorch image (LLVM/Clang 16, SQLiteCpp, spdlog, fmt, CLI11, GTest, cpp-httplib,
# nlohmann-json, curl), unpacked from their Debian packages into one folder, for a GPU machine
# that has no package registry: scripts/gpu-check.sh takes it as ASIARCH_DEPS. About 49 MB.
# LLVM's and Clang's static libraries are kept as empty files: asiarch links their shared
# libraries, and their CMake files only check that the static ones exist.
# Made by: bash scripts/gpu-deps.sh (90 s here, most of it xz).
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(llvm-16-dev libllvm16 clang-16 libclang-16-dev libclang-cpp16 libclang-cpp16-dev libclang-common-16-dev
      libz3-4 libedit2 libffi8
      nlohmann-json3-dev libsqlitecpp-dev libsqlite3-dev libcli11-dev libgtest-dev
      libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libcpp-httplib-dev libcpp-httplib0.11
      libcurl4-openssl-dev libcurl4)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "${pkgs[@]}" > /dev/null)
mkdir -p "$work/gpu-deps"
for d in "$work"/*.deb; do dpkg -x "$d" "$work/gpu-deps"; done
find "$work/gpu-deps/usr/lib/llvm-16/lib" -name '*.a' -exec truncate -s 0 {} +
# Their CMake files also check that every tool and library they export exists (most are in
# packages asiarch does not need): those are made as empty files.
(cd "$work/gpu-deps/usr/lib/llvm-16" &&
  grep -ho '"${_IMPORT_PREFIX}/[^"]*"' lib/cmake/llvm/LLVMExports-*.cmake lib/cmake/clang/ClangTargets-*.cmake |
  sed 's|^"${_IMPORT_PREFIX}/||; s|"$||' | sort -u |
  while read -r f; do [ -e "$f" ] || { mkdir -p "$(dirname "$f")"; : > "$f"; }; done)
rm -rf "$work/gpu-deps/usr/share/doc" "$work/gpu-deps/usr/share/man" "$work/gpu-deps/usr/share/lintian"
mkdir -p third_party
tar -cJf third_party/gpu-deps.tar.xz -C "$work" gpu-deps
ls -la third_party/gpu-deps.tar.xz
