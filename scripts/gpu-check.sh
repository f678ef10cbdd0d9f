#!/usr/bin/env bash
# The GPU check (issue 27). On a machine with an NVIDIA GPU, its driver, the CUDA toolkit and a
# PyTorch wheel: builds asiarch against the wheel's LibTorch, runs the CUDA tests, the device
# throughput bench and one short discovery run on GPU 0, and prints one table. Meant to finish in
# under 10 minutes on one GPU, build included.
#
# What the build needs besides LibTorch (LLVM/Clang 16, SQLiteCpp, spdlog, ...) is found where it
# is installed, or given by path: ASIARCH_DEPS=DIR, a folder with Debian packages unpacked into it
# (`dpkg -x PKG.deb DIR`), or a .tar.xz of one, as scripts/gpu-deps.sh makes it on a Debian 12
# machine (third_party/gpu-deps.tar.xz, which then travels with the working tree).
# Output: the table on stdout, every log under $ASIARCH_GPU_OUT (default gpu-check/).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${ASIARCH_GPU_OUT:-gpu-check}")
mkdir -p "$out"
t0=$(date +%s)
say() { echo "$@" | tee -a "$out/table.txt"; }
: > "$out/table.txt"

command -v nvidia-smi > /dev/null || { echo "gpu-check: no nvidia-smi: this machine has no NVIDIA driver" >&2; exit 2; }
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_info=$(python3 -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')

prefix="$torch_prefix"
extra=()
if [ -n "${ASIARCH_DEPS:-}" ]; then
  deps=$(realpath "$ASIARCH_DEPS")
  if [ -f "$deps" ]; then  # a tarball: unpacked next to the logs
    tar -xJf "$deps" -C "$out"
    deps="$out/gpu-deps"
  fi
  prefix="$prefix;$deps/usr;$deps/usr/lib/x86_64-linux-gnu/cmake"
  extra+=(-DLLVM_DIR="$deps/usr/lib/llvm-16/lib/cmake/llvm" -DClang_DIR="$deps/usr/lib/llvm-16/lib/cmake/clang"
          -DCMAKE_INCLUDE_PATH="$deps/usr/include" -DCMAKE_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu")
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu:$deps/usr/lib/llvm-16/lib:${LD_LIBRARY_PATH:-}"
  export PKG_CONFIG_PATH="$deps/usr/lib/x86_64-linux-gnu/pkgconfig:$deps/usr/share/pkgconfig:${PKG_CONFIG_PATH:-}"
fi
build=build-gpu
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}" \
  > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build "$build" --target asiarch device_test sandbox_test device_throughput > "$out/build.log" 2>&1 ||
  { tail -40 "$out/build.log"; exit 1; }
t_build=$(($(date +%s) - t0))

"./$build/asiarch" --version > "$out/version.txt" 2>&1 || true
tests_rc=0
"./$build/tests/device_test" > "$out/device_test.txt" 2>&1 || tests_rc=$?
"./$build/tests/sandbox_test" --gtest_filter='Sandbox.AGpu*:Sandbox.OnlyAGpu*:Sandbox.EveryLayer*' \
  > "$out/sandbox_test.txt" 2>&1 || tests_rc=$?
"./$build/bench/device_throughput" explore in_context_recall 40 > "$out/throughput.txt" 2>&1 || true

t_run=$(date +%s)
run_rc=0
rm -rf "$out/run"
"./$build/asiarch" run --workdir "$out/run" --gpus 0 --preset explore --budget 2 > "$out/run.log" 2>&1 || run_rc=$?
t_run=$(($(date +%s) - t_run))
gpus_used=$(python3 - "$out/run/archive.db" <<'PY' 2>/dev/null || echo "(no archive)"
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT experiment_id, data FROM events WHERE kind = 'experiment_started'").fetchall()
print(", ".join("#%s on GPU %s" % (e, json.loads(d).get("gpu", "none")) for e, d in rows) or "(none started)")
PY
)

say "== asiarch GPU check, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') =="
say "GPU, driver, memory: $gpu"
say "PyTorch wheel (its LibTorch): $torch_info"
say "$(sed 's/^/  /' "$out/version.txt")"
say "build (asiarch, tests, bench): ${t_build} s"
# gtest's own summary lines, per binary, and each skipped test's reason.
summary() {
  echo "$(basename "$1" .txt): $(grep -E '^\[  (PASSED|FAILED|SKIPPED) *\] [0-9]+ tests?[.,]' "$1" | sed -E 's/^\[ *([A-Z]+) *\] ([0-9]+).*/\2 \1/' | tr 'A-Z\n' 'a-z,' | sed 's/,$//; s/,/, /g')"
  grep -A1 -E ': Skipped$' "$1" | grep -vE ': Skipped$|^--' | sed 's/^/    skipped: /' | sort -u
}
say "CUDA tests (exit $tests_rc):"
say "$(summary "$out/device_test.txt" | sed 's/^/  /')"
say "$(summary "$out/sandbox_test.txt" | sed 's/^/  /')"
say "training throughput, same preset and run:"
say "$(sed 's/^/  /' "$out/throughput.txt")"
say "example CUDA kernel against LibTorch: not measured (no example kernel plugin yet, issue 27 item 4)"
say "asiarch run --gpus 0 --preset explore --budget 2: exit $run_rc, ${t_run} s; $gpus_used"
say "total: $(($(date +%s) - t0)) s"
