// The compute environment of training and the gates: threads and allocator.
//
// Both are process-wide, so only a program's main sets them, once, at the
// start (or, where the count comes from a preset, as soon as it has read
// the preset): cli/main.cpp and the commands that train in-process, the
// worker's main (worker/worker_job.cpp), the benchmarks and the test main.
// Library code (the trainer, the gates, the lab) never sets them: a call
// deep inside would silently override whatever the program chose, and two
// parts of a program would fight over one setting.
//
// Two exceptions, both ScopedComputeThreads, which give the program's count
// back when they end (exceptions included): the complexity gate times on one
// compute thread, and sharded training runs each shard's ops on one thread so
// the shards do not oversubscribe the cores. Both need one thread for a
// while, and LibTorch has no per-thread count to use instead.
//
// Not covered here: the complexity gate's allocation counter (lab/memory.h)
// wraps LibTorch's CPU allocator once, on first use, and stays.
//
// Seeds: the lab seeds LibTorch's default generator per model, gate and task
// (torch::manual_seed), because plugin initialisation draws from it and an
// experiment must not depend on what ran before it in the process.
#pragma once

namespace asiarch::lab {

// Sets LibTorch's intra-op threads to `n` and keeps BLAS single-threaded.
// LibTorch already parallelises around its GEMM calls; OpenBLAS's own thread
// pool on top of that oversubscribes the cores. On this 2-core machine, a
// 2-layer d=64 model trained at 16k tokens/s with OpenBLAS threaded and 46k
// tokens/s with it single-threaded (docs/performance.md). A BLAS without
// openblas_set_num_threads is left alone.
void set_compute_threads(int n);

// LibTorch's intra-op thread count, as the program set it.
int compute_threads();

// set_compute_threads(n) for its lifetime, then back to the count before,
// also when an exception (a plugin's) leaves the scope.
class ScopedComputeThreads {
 public:
  explicit ScopedComputeThreads(int n) : restore_(compute_threads()) { set_compute_threads(n); }
  ~ScopedComputeThreads() { set_compute_threads(restore_); }
  ScopedComputeThreads(const ScopedComputeThreads&) = delete;
  ScopedComputeThreads& operator=(const ScopedComputeThreads&) = delete;

 private:
  int restore_;
};

// Keeps freed memory in the process's heap. A training step allocates and
// frees buffers of hundreds of KiB to MiB; by default glibc serves each from
// a fresh mmap and unmaps it on free, so every step pays page faults again,
// and two training threads contend for the kernel's lock on the memory map.
// With this the C++ trainer went from 56-69k to 104-110k tokens/s on 2
// threads (docs/performance.md). Memory is still returned past 512 MiB free.
void keep_freed_memory();

// The same glibc settings as environment variables, for a process started to
// compare against (bench/train_throughput's Python reference).
inline constexpr const char* kKeepFreedMemoryEnv =
    "MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=536870912 MALLOC_TOP_PAD_=67108864";

}  // namespace asiarch::lab
